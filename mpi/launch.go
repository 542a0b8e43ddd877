package mpi

import (
	"fmt"
	"os"
	"strconv"
)

// Placement is where a launcher put this process, as its environment says.
// Unknown fields are -1.
type Placement struct {
	Launcher  string // "Open MPI", "MPICH", "Slurm" or "PMIx"
	Rank      int    // rank in the job, in [0, Size)
	Size      int    // number of ranks in the job (-1 if the launcher does not say)
	LocalRank int    // rank among the ranks on this node
	LocalSize int    // number of ranks on this node
}

// launchers lists the variables of each launcher, most specific first:
// Open MPI's mpirun (which also sets PMIx's), MPICH's Hydra (PMI), Slurm's
// srun, and a bare PMIx launcher.
var launchers = []struct {
	name                         string
	rank, size, localRank, lsize string
}{
	{"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
	{"MPICH", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
	{"Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
	{"PMIx", "PMIX_RANK", "", "", ""},
}

// Launched returns the rank and size a launcher gave this process, read
// from its environment without initialising MPI: for placement decisions
// (the size of a rank's team, which rank writes a file) before or without
// Init. It knows Open MPI's mpirun (OMPI_COMM_WORLD_*), MPICH's Hydra
// (PMI_RANK, PMI_SIZE), Slurm's srun (SLURM_PROCID, SLURM_NTASKS) and PMIx
// (PMIX_RANK). It returns ErrNotLaunched when none of them started the
// process, and an error wrapping ErrLauncherEnv when their variables are
// malformed.
func Launched() (Placement, error) {
	return launched(os.LookupEnv)
}

func launched(lookup func(string) (string, bool)) (Placement, error) {
	for _, l := range launchers {
		if _, ok := lookup(l.rank); !ok {
			continue
		}
		p := Placement{Launcher: l.name}
		var err error
		get := func(name string) int {
			v, ok := lookup(name)
			if name == "" || !ok || err != nil {
				return -1
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 {
				err = fmt.Errorf("mpi: %w: %s=%q is not a non-negative integer", ErrLauncherEnv, name, v)
			}
			return n
		}
		p.Rank, p.Size = get(l.rank), get(l.size)
		p.LocalRank, p.LocalSize = get(l.localRank), get(l.lsize)
		switch {
		case err != nil:
			return Placement{}, err
		case p.Size == 0 || p.Size > 0 && p.Rank >= p.Size:
			return Placement{}, fmt.Errorf("mpi: %w: %s rank %d is not in [0, %d)", ErrLauncherEnv, l.name, p.Rank, p.Size)
		case p.LocalSize == 0 || p.LocalSize > 0 && p.LocalRank >= p.LocalSize:
			return Placement{}, fmt.Errorf("mpi: %w: %s local rank %d is not in [0, %d)", ErrLauncherEnv, l.name, p.LocalRank, p.LocalSize)
		}
		return p, nil
	}
	return Placement{}, fmt.Errorf("mpi: %w", ErrNotLaunched)
}
