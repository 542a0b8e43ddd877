//go:build !shmpartrace

package trace

// Stamp, At, Now, Chunk and Dump record the phases of jobs in a build with
// the shmpartrace tag (on.go); here they do nothing.
func Stamp(gen uint32, phase int)                   {}
func At(gen uint32, phase int, t int64)             {}
func Now() int64                                    { return 0 }
func Chunk(gen uint32, worker int, chunk, t0 int64) {}
func Dump(name string)                              {}
