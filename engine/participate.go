package engine

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/shmpar/shmpar/engine/internal/trace"
)

// listEntry is one chunk of an explicit chunk list (a job that re-runs the
// chunks a dead worker left unfinished): its bounds and the index of its
// partial result.
type listEntry struct {
	lo, hi, idx int64
}

// Claims. A job is over when its chunks are done, not when every worker has
// looked at it: a worker that wakes late (descheduled, asleep on the futex)
// finds nothing left and goes back to waiting, so no job waits for a slow
// worker. Every claim is therefore tagged with the job's generation:
//
//   - The claim word packs the generation (high claimGenBits bits) and the
//     next chunk index (low bits). A chunk is claimed by a CAS that bumps
//     the index, which fails for a worker still looking at an older job.
//     The coordinator resets the word before it rewrites the descriptor, so
//     a successful claim also proves that the descriptor fields read before
//     it belonged to the claimed job. Setting the index to claimClosed ends
//     claiming (a failure, a cancellation, a dead worker).
//   - Static blocks are claimed in a word per block holding the generation
//     that took it; participant i takes block i first, then (worker
//     processes only) steals the blocks of participants that have not
//     shown up. A block claim counts only if the claim word still shows the
//     job open afterwards. The coordinator (Primary) and goroutines run
//     their own block only: the coordinator is always first, and would
//     otherwise take the blocks of workers that are a microsecond late,
//     running kernels in the coordinator's process that were meant for
//     worker processes. Workers do not take the coordinator's block: it
//     claims it right after posting the job, and looking costs a worker a
//     cache miss on the coordinator's slot per job.
const (
	claimIdxBits = 40
	claimIdxMask = 1<<claimIdxBits - 1
	claimClosed  = claimIdxMask
	claimGenMask = 1<<(64-claimIdxBits) - 1
	maxChunks    = claimClosed - 1
)

func packClaim(gen uint32, idx int64) uint64 {
	return uint64(gen)&claimGenMask<<claimIdxBits | uint64(idx)&claimIdxMask
}

func claimGen(w uint64) uint32 { return uint32(w >> claimIdxBits) }
func claimIdx(w uint64) int64  { return int64(w & claimIdxMask) }

// sameGen compares a generation with the truncated one in a claim word.
func sameGen(w uint64, gen uint32) bool { return claimGen(w) == gen&claimGenMask }

// chunkRec is where a participant records the chunk it is about to run or
// is running, so that the coordinator knows what a dead worker left behind,
// and whether it is inside a job. Goroutine participants do not record.
type chunkRec interface {
	enter(gen uint32)
	claim(gen uint32, c int64) // tentative: c may still be taken by another participant
	idle()                     // no chunk
	leave()
}

// runner is what every participant of one job shares: the goroutines of the
// goroutine backend, the coordinator as primary participant, and (each
// with its own copy over the same shared memory) the worker processes.
type runner struct {
	gen    uint32
	keep   int32 // static: blocks below keep are never stolen (the coordinator's)
	p      plan
	claimW *atomic.Uint64
	done   *atomic.Uint64
	stop   *atomic.Uint32
	block  func(q int) *atomic.Uint32 // static block claim words
	steal  bool                       // static: take unclaimed blocks of others

	// resolve is called once a first chunk is claimed: it supplies the
	// kernel, its arguments and the partials (a worker decodes its
	// arguments only when it has work). It returns false after recording
	// a failure.
	resolve  func(r *runner) bool
	resolved bool
	k        *kernel
	args     any
	guided   []int       // guidedStarts for a guided plan
	list     []listEntry // for a list plan
	partials []uint64    // reduce: partial result of chunk i at [i]

	// fail records the first failure and sets the stop word.
	fail func(worker int, lo, hi int, err error, stack string)
}

// participate runs chunks for participant c.worker until none are left,
// the job stops, or it turns out to be over already.
func (r *runner) participate(c *Ctx, rec chunkRec) {
	if rec != nil {
		rec.enter(r.gen)
		defer rec.leave()
	}
	p := &r.p
	if p.sched == schedStatic {
		n := 1
		if r.steal {
			n = p.parts
		}
		for i := range n {
			q := (c.worker + i) % p.parts // own block first, then steal
			if q >= p.k || q < int(r.keep) || r.stop.Load() != stopNone {
				continue
			}
			b := r.block(q)
			old := b.Load()
			if int32(r.gen-old) <= 0 {
				continue // taken in this job (or by a newer one: we are stale)
			}
			if rec != nil {
				rec.claim(r.gen, int64(q))
			}
			if !b.CompareAndSwap(old, r.gen) {
				continue
			}
			if w := r.claimW.Load(); !sameGen(w, r.gen) || claimIdx(w) == claimClosed {
				break // the job is over (or closed): this claim does not count
			}
			if !r.run(c, int64(q)) {
				break
			}
			if rec != nil {
				rec.idle()
			}
		}
		if rec != nil {
			rec.idle()
		}
		return
	}
	k := int64(p.k)
	for r.stop.Load() == stopNone {
		w := r.claimW.Load()
		ci := claimIdx(w)
		if !sameGen(w, r.gen) || ci >= k {
			break
		}
		if rec != nil {
			rec.claim(r.gen, ci)
		}
		if !r.claimW.CompareAndSwap(w, w+1) {
			continue
		}
		if !r.run(c, ci) {
			break
		}
		if rec != nil {
			rec.idle()
		}
	}
	if rec != nil {
		rec.idle()
	}
}

// run runs claimed chunk ci and reports whether to go on.
func (r *runner) run(c *Ctx, ci int64) bool {
	if !r.resolved {
		r.resolved = true
		if r.resolve != nil && !r.resolve(r) {
			return false
		}
	}
	var lo, hi, idx int
	switch r.p.sched {
	case schedList:
		e := r.list[ci]
		lo, hi, idx = int(e.lo), int(e.hi), int(e.idx)
	default:
		lo, hi = r.p.chunk(int(ci), r.guided)
		idx = int(ci)
	}
	t0 := trace.Now()
	if !r.runChunk(c, idx, lo, hi) {
		return false
	}
	trace.Chunk(r.gen, c.worker, ci, t0)
	r.done.Add(1)
	return true
}

// runChunk runs the kernel over [lo, hi), stores its partial at idx, and
// reports whether it succeeded (a failure has been recorded otherwise).
func (r *runner) runChunk(c *Ctx, idx, lo, hi int) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			r.fail(c.worker, lo, hi, &PanicError{Value: fmt.Sprint(e)}, string(debug.Stack()))
			ok = false
		}
	}()
	bits, err := r.k.call(c, r.args, lo, hi)
	if err != nil {
		r.fail(c.worker, lo, hi, err, "")
		return false
	}
	if r.partials != nil {
		r.partials[idx] = bits
	}
	return true
}
