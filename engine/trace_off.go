//go:build !shmpartrace

package engine

// traceStamp, traceAt, traceNow and traceDump record the phases of jobs in
// a build with the shmpartrace tag (trace_on.go); here they do nothing.
func traceStamp(gen uint32, phase int)                   {}
func traceAt(gen uint32, phase int, t int64)             {}
func traceNow() int64                                    { return 0 }
func traceChunk(gen uint32, worker int, chunk, t0 int64) {}
func traceDump(name string)                              {}
