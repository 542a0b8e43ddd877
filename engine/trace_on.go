//go:build shmpartrace

package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	_ "unsafe" // go:linkname
)

// A build with the shmpartrace tag records, per job generation, the
// monotonic time at the phases of a job (see the trace* constants) in the
// coordinator and in each worker process, and writes them to
// $SHMPAR_TRACE_DIR/NAME-PID.txt when the team closes: the per-phase cost of
// an empty For (post, seen, claimed, done, seen done) comes from these files.
// The clock is CLOCK_MONOTONIC, common to all processes of the machine.

//go:linkname nanotime runtime.nanotime
func nanotime() int64

var traceBuf [1 << 16][traceN]int64

func traceStamp(gen uint32, phase int) { traceBuf[gen&(1<<16-1)][phase] = nanotime() }

func traceAt(gen uint32, phase int, t int64) { traceBuf[gen&(1<<16-1)][phase] = t }

func traceNow() int64 { return nanotime() }

// traceChunkRec is one chunk a participant ran: job, participant, chunk index,
// start and end.
type traceChunkRec struct {
	gen           uint32
	worker        int32
	chunk, t0, t1 int64
}

var (
	chunkBuf [1 << 18]traceChunkRec
	chunkN   int
)

func traceChunk(gen uint32, worker int, chunk, t0 int64) {
	if chunkN < len(chunkBuf) {
		chunkBuf[chunkN] = traceChunkRec{gen, int32(worker), chunk, t0, nanotime()}
		chunkN++
	}
}

func traceDump(name string) {
	dir := os.Getenv("SHMPAR_TRACE_DIR")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.txt", name, os.Getpid())))
	if err != nil {
		return
	}
	w := bufio.NewWriter(f)
	for g, row := range traceBuf {
		if row == [traceN]int64{} {
			continue
		}
		fmt.Fprint(w, g)
		for _, v := range row {
			fmt.Fprint(w, " ", v)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	f.Close()
	if chunkN == 0 {
		return
	}
	f, err = os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.chunks", name, os.Getpid())))
	if err != nil {
		return
	}
	w = bufio.NewWriter(f)
	for _, c := range chunkBuf[:chunkN] {
		fmt.Fprintln(w, c.gen, c.worker, c.chunk, c.t0, c.t1)
	}
	w.Flush()
	f.Close()
}
