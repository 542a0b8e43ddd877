//go:build shmpartrace

package trace

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	_ "unsafe" // go:linkname
)

// A build with the shmpartrace tag records, per job generation, the
// monotonic time at the phases of a job (see the phase constants) in the
// coordinator and in each worker process, and writes them to
// $SHMPAR_TRACE_DIR/NAME-PID.txt when the team closes: the per-phase cost of
// an empty For (post, seen, claimed, done, seen done) comes from these files.
// The clock is CLOCK_MONOTONIC, common to all processes of the machine.

//go:linkname nanotime runtime.nanotime
func nanotime() int64

var traceBuf [1 << 16][N]int64

// Stamp records the time now as phase of job gen.
func Stamp(gen uint32, phase int) { traceBuf[gen&(1<<16-1)][phase] = nanotime() }

// At records t as the time of phase of job gen.
func At(gen uint32, phase int, t int64) { traceBuf[gen&(1<<16-1)][phase] = t }

// Now returns the monotonic clock, in nanoseconds.
func Now() int64 { return nanotime() }

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

// Chunk records that participant worker ran chunk of job gen from t0 to
// now.
func Chunk(gen uint32, worker int, chunk, t0 int64) {
	if chunkN < len(chunkBuf) {
		chunkBuf[chunkN] = traceChunkRec{gen, int32(worker), chunk, t0, nanotime()}
		chunkN++
	}
}

// Dump writes what this process recorded to $SHMPAR_TRACE_DIR: the phases
// to NAME-PID.txt (a line per job: its generation modulo 2^16, then the
// time of each phase, 0 where none was recorded), the chunks, if any, to
// NAME-PID.chunks (a line per chunk: generation, participant, chunk, start,
// end). It does nothing when the variable is unset, and gives up silently
// on a file it cannot create.
func Dump(name string) {
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
		if row == [N]int64{} {
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

// Reset forgets what this process recorded, for a test that records a run
// of jobs of its own.
func Reset() {
	traceBuf = [1 << 16][N]int64{}
	chunkN = 0
}
