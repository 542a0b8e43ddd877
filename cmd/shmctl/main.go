package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: shmctl COMMAND [ARGS]

commands:
  create NAME -dtype T -shape D1,D2,... [-fill X] [-dir D] [-persistent] [-mode 0600]
                         create a zeroed (or filled) array segment
  ls [-dir D]            list shmpar segments: name, dtype, shape, bytes, creator, path
  inspect NAME [-dir D] [-head N] [-allow-foreign]
                         print the header, then count/min/max/mean/sum and the first elements
  rm NAME... [-dir D] [-allow-foreign]
                         remove segments
  sweep [-dir D] [-dry-run] [-allow-foreign]
                         remove non-persistent segments whose creator process is gone

inspect, rm and sweep refuse (sweep: leave alone) segments of other users and
segments writable by group or others, unless given -allow-foreign.

dtypes: int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64 complex64 complex128
The directory defaults to $SHMPAR_DIR, else /dev/shm.
`

// run executes one shmctl command and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	var err error
	switch args[0] {
	case "create":
		err = cmdCreate(args[1:], stdout)
	case "ls", "list":
		err = cmdList(args[1:], stdout)
	case "inspect":
		err = cmdInspect(args[1:], stdout)
	case "rm":
		err = cmdRemove(args[1:], stdout)
	case "sweep":
		err = cmdSweep(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("unknown command %q (want create, ls, inspect, rm or sweep)", args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "shmctl:", printable(err.Error()))
		return 1
	}
	return 0
}
