#!/usr/bin/env bash
# run.sh: Allreduce and Sendrecv latency from Go (shmpar's mpi package) and
# from C (allreduce.c), the same calls timed the same way, under mpirun.
# Prints "name value unit" lines, then the Go/C ratio of each figure.
#
#   bench/baseline/mpi/run.sh [np]          (default np = 2)
#
# Needs mpicc and mpirun (apt-get install libopenmpi-dev openmpi-bin). On a
# shared machine, run it under flock with the other benchmarks:
#   flock /work/.bench.lock bench/baseline/mpi/run.sh
# Extra mpirun flags can be passed in MPIRUN_FLAGS, e.g. "--mca btl tcp,self";
# ROUNDS (default 3) is how many times each program runs; each figure is the
# best of its rounds.
set -euo pipefail
cd "$(dirname "$0")/../../.."
np=${1:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mpicc -O2 -o "$tmp/allreduce-c" bench/baseline/mpi/allreduce.c
go build -tags mpi -o "$tmp/allreduce-go" ./mpi/internal/allreducebench

# Containers run as root; Open MPI refuses that unless told it is meant.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(-np "$np" ${MPIRUN_FLAGS:-})
if [ "$np" -gt "$(nproc)" ]; then flags+=(--oversubscribe); fi

# Alternate the two programs so that drift in the machine's load hits both.
for round in $(seq "${ROUNDS:-3}"); do
	timeout 300 mpirun "${flags[@]}" "$tmp/allreduce-c" >>"$tmp/c.txt"
	timeout 300 mpirun "${flags[@]}" "$tmp/allreduce-go" >>"$tmp/go.txt"
done
# Keep each figure's best round (the least disturbed one).
best() { sort -k1,1 -k2,2g "$1" | awk '$1 != last { print; last = $1 }'; }
best "$tmp/c.txt" >"$tmp/c.best"
best "$tmp/go.txt" >"$tmp/go.best"
cat "$tmp/c.best" "$tmp/go.best"
join <(sed 's|/c | |' "$tmp/c.best" | sort) <(sed 's|/go | |' "$tmp/go.best" | sort) |
	awk '{ printf "%s/go_over_c %.2f x\n", $1, $4 / $2 }'
