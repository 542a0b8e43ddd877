/*
 * allreduce.c: the C baseline of shmpar's MPI binding. It times the same
 * calls, with the same method, as mpi/internal/allreducebench: MPI_Allreduce
 * in place (MPI_SUM over doubles) of 8 B and 1 MiB, MPI_SUM over the 73
 * int64 words of an exact accumulator (584 B; the Go side also encodes and
 * decodes the accumulator, mpi.Comm.AllreduceExact), and an MPI_Sendrecv
 * ring of 32 KiB (a halo row of 4096 doubles). Each case runs a warm-up, then
 * REPS timed runs of ITERS calls; a rank's figure is the median of its runs'
 * time per call, and the job's figure is the largest over ranks. Rank 0
 * prints "name value unit" lines.
 *
 * Build and run (see run.sh, which also builds and runs the Go side):
 *   mpicc -O2 -o allreduce allreduce.c
 *   mpirun -np 2 ./allreduce
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define REPS 11

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* run times ITERS calls of one case REPS times and returns the median
 * seconds per call, the largest over ranks. */
static double run(int kind, int count, int iters) {
	double *buf = calloc(count, sizeof *buf), *recv = calloc(count, sizeof *recv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	double t[REPS];
	for (int rep = -1; rep < REPS; rep++) { /* rep -1 is the warm-up */
		int n = rep < 0 ? iters / 10 + 1 : iters;
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = MPI_Wtime();
		for (int i = 0; i < n; i++) {
			if (kind == 0) {
				MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
			} else if (kind == 2) {
				MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
			} else {
				MPI_Sendrecv(buf, count, MPI_DOUBLE, next, 1, recv, count, MPI_DOUBLE, prev, 1,
				             MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			}
		}
		if (rep >= 0) t[rep] = (MPI_Wtime() - t0) / n;
	}
	qsort(t, REPS, sizeof t[0], cmp);
	double med = t[REPS / 2];
	MPI_Allreduce(MPI_IN_PLACE, &med, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
	free(buf);
	free(recv);
	return med;
}

int main(int argc, char **argv) {
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	double a8 = run(0, 1, 20000);
	double a1m = run(0, 1 << 17, 200);
	double halo = run(1, 4096, 2000);
	double exact = run(2, 73, 20000);
	if (rank == 0) {
		printf("allreduce/8B/np=%d/c %.3f us\n", size, a8 * 1e6);
		printf("allreduce/1MiB/np=%d/c %.1f us\n", size, a1m * 1e6);
		printf("sendrecv/32KiB/np=%d/c %.2f us\n", size, halo * 1e6);
		printf("allreduce_exact/584B/np=%d/c %.3f us\n", size, exact * 1e6);
	}
	MPI_Finalize();
	return 0;
}
