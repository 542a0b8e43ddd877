package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/progress"
)

// The coordinator side of direct calls.

// directState is a process pool's state for direct calls. mu is held for
// the whole of a direct call: one at a time, and Close waits for it.
type directState struct {
	mu     sync.Mutex
	area   *directArea
	round  uint64
	left   uint64       // tasks sent on to the session path (for tests)
	active atomic.Int32 // direct calls on the workers (for the stall watch)
	name   string       // the function name in the area's call line
	closed bool         // under mu

	// stop ends the For of a running direct call when the pool closes.
	stop   context.Context
	cancel context.CancelFunc
}

// directFor returns the process pool that runs a call of f with options o
// directly, locked for it, or nil: the call then runs through the session
// path. A direct call needs flat input and result types, no Timeout (a
// task over it kills its worker, which only the session path survives
// task by task), no MaxTasksPerWorker, worker processes only (with
// engine.Primary the coordinator would run tasks), and a pool with
// nothing else to do: a session with no calls left is ended for it.
func (p *Pool) directFor(f *poolFunc, o callConfig) *procPool {
	q, ok := p.exec.(*procPool)
	if !ok || !f.direct || o.timeout > 0 || q.first != 0 || q.maxTasks > 0 {
		return nil
	}
	if q.sessLive.Load() && !q.yield() {
		return nil
	}
	if !q.dir.mu.TryLock() {
		return nil
	}
	if q.dir.closed {
		q.dir.mu.Unlock()
		return nil
	}
	return q
}

// directSpan is a run of tasks a direct call left to the session path.
type directSpan struct{ lo, hi, tries int }

// directMap runs a Map directly on q, which directFor locked for it.
func directMap[In, Out any](ctx context.Context, q *procPool, f *poolFunc, inputs []In, o callConfig, pr *progress.Run) ([]Out, error) {
	defer q.dir.mu.Unlock()
	n := len(inputs)
	outs := make([]Out, n)
	inSize, outSize := int(f.in.Size()), int(f.out.Size())
	fctx, release := q.dir.forCtx(ctx)
	defer release()
	var errs []*TaskError
	var left []directSpan
	for base := 0; base < n; {
		a, err := q.dir.areaFor(n-base, inSize, outSize, q.parts)
		if err != nil {
			// No room for an area: the session path runs them.
			left = append(left, directSpan{base, n, 0})
			break
		}
		m := min(n-base, directWindow(len(a.data), inSize, outSize))
		so, io, oo, _ := directPlan(m, inSize, outSize)
		copy(a.data[io:io+m*inSize], rawBytes(inputs[base:base+m]))
		clear(a.data[so : so+2*m])
		round := q.dir.post(a, f.name, m, inSize, outSize, so, io, oo, pr != nil)
		if pr != nil {
			pr.StepStarted(func() int { return a.live(round, so, m) })
		}
		chunk := o.chunk
		if chunk <= 0 {
			chunk = ceilDiv(m, 4*max(q.p.nw, 1))
		}
		q.dir.active.Add(1)
		q.stall.poke()
		ferr := directK.For(fctx, q.team, m, directArgs{Area: a, State: q.st}, engine.Dynamic(chunk))
		q.dir.active.Add(-1)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if q.dir.stop.Err() != nil {
			return nil, fmt.Errorf("pool: %w", ErrClosed)
		}
		if e := q.directInitErr(a, round); e != nil {
			return nil, fmt.Errorf("pool: %w", e)
		}
		copy(rawBytes(outs[base:base+m]), a.data[oo:oo+m*outSize])
		var done int
		errs, left, done = q.harvest(a, f, round, base, m, so, outs, errs, left, ferr)
		pr.StepOver(done)
		base += m
	}
	if len(left) > 0 {
		for _, s := range left {
			q.dir.left += uint64(s.hi - s.lo)
		}
		var err error
		if errs, err = q.directRest(ctx, f, o, inputs, outs, errs, left, pr); err != nil {
			return nil, err
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *TaskError) int { return a.Index - b.Index })
		return outs, TaskErrors(errs)
	}
	return outs, nil
}

// directInitErr returns the failure of the pool's initializer in a worker
// process of round, which breaks the pool, or nil.
func (q *procPool) directInitErr(a *directArea, round uint64) *InitError {
	for i := range a.slots {
		s := &a.slots[i]
		if s.round.Load() != round || s.flags.Load()&dfInitFailed == 0 {
			continue
		}
		if e := q.st.initErr(i, int(s.pid.Load())); e != nil {
			q.broken.CompareAndSwap(nil, e)
			return q.broken.Load()
		}
	}
	return nil
}

// forCtx returns the context of a direct call's For: ctx, also ended when
// the pool closes.
func (d *directState) forCtx(ctx context.Context) (context.Context, func()) {
	if ctx.Done() == nil {
		return d.stop, func() {}
	}
	fctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.stop, cancel)
	return fctx, func() {
		stop()
		cancel()
	}
}

// areaFor returns an area for a call of n more tasks: the current one if it
// is large enough (or as large as areas get), else a new one.
func (d *directState) areaFor(n, inSize, outSize, nslots int) (*directArea, error) {
	want := directDataSize(n, inSize, outSize)
	if a := d.area; a != nil && (len(a.data) >= want || len(a.data) >= directMaxData) && directWindow(len(a.data), inSize, outSize) > 0 {
		return a, nil
	}
	a, err := newDirectArea(nslots, want)
	if err != nil {
		return nil, err
	}
	if d.area != nil {
		d.area.seg.Close()
	}
	d.area, d.name = a, ""
	return a, nil
}

// post writes the call line of a new round and returns the round.
func (d *directState) post(a *directArea, name string, n, inSize, outSize, so, io, oo int, progress bool) uint64 {
	cl := a.call
	var flags uint32
	if progress {
		flags |= cfProgress
	}
	cl.flags.Store(flags)
	cl.n.Store(uint32(n))
	cl.inSize.Store(uint32(inSize))
	cl.outSize.Store(uint32(outSize))
	cl.stateOff.Store(uint64(so))
	cl.inOff.Store(uint64(io))
	cl.outOff.Store(uint64(oo))
	if d.name != name {
		copy(cl.name[:], name)
		cl.nameLen.Store(uint32(len(name)))
		d.name = name
	}
	d.round++
	cl.round.Store(d.round)
	return d.round
}

// harvest reads what the workers did with a window of m tasks starting at
// call index base: the errors they journaled, and — unless every task
// finished — the tasks left idle or running on a worker that died, which go
// to left (or fail, for a function that is not Idempotent).
func (q *procPool) harvest(a *directArea, f *poolFunc, round uint64, base, m, so int, outs any, errs []*TaskError, left []directSpan, ferr error) ([]*TaskError, []directSpan, int) {
	st := a.states(so, m)
	var done uint64
	for i := range a.slots {
		s := &a.slots[i]
		if s.round.Load() != round {
			continue
		}
		done += s.done.Load()
		nerr := s.nerr.Load()
		if nerr == 0 {
			continue
		}
		jb := min(int(s.jbytes.Load()), directJournal)
		wes, err := parseWireErrs(a.journal(i)[:jb], int(nerr))
		if err != nil {
			continue // cannot happen (the same binary wrote it); the tasks' states still say failed
		}
		pid := int(s.pid.Load())
		for _, e := range wes {
			j := int(e.idx)
			if j >= m || st[j] != directTag(i)|dsFailed {
				continue
			}
			errs = append(errs, &TaskError{Func: f.name, Index: base + j, Worker: i, Failure: engine.Failure{PID: pid, Stack: e.stack, Err: wireTaskErr(e)}})
		}
	}
	if done == uint64(m) {
		return errs, left, m
	}
	// Not every task finished: find which, in one pass over the states.
	dead := workerErrors(ferr)
	zeroOut := f.ops.zeroOut
	run := -1
	flush := func(j int) {
		if run >= 0 {
			left = append(left, directSpan{base + run, base + j, 0})
			run = -1
		}
	}
	for j, s := range st {
		switch s & dsKind {
		case dsDone, dsFailed:
			flush(j)
			continue
		case dsIdle:
			if run < 0 {
				run = j
			}
			zeroOut(outs, base+j)
			continue
		}
		// Running when the job ended: its worker process died.
		flush(j)
		zeroOut(outs, base+j)
		i := directOwner(s)
		if f.idempotent {
			left = append(left, directSpan{base + j, base + j + 1, 1})
			continue
		}
		errs = append(errs, q.diedRunning(f, base+j, i, a, dead))
	}
	flush(len(st))
	return errs, left, int(done)
}

// diedRunning is the error of a task whose worker process (participant i)
// died while running it.
func (q *procPool) diedRunning(f *poolFunc, index, i int, a *directArea, dead map[int]*engine.WorkerError) *TaskError {
	var pid int
	if i >= 0 && i < len(a.slots) {
		pid = int(a.slots[i].pid.Load())
	}
	how, sig, out := q.sup.ExitInfo(i, pid)
	if we := dead[i]; we != nil && (we.PID == pid || pid == 0) {
		pid, sig, out = we.PID, we.Signal, we.Output
		if sig != 0 {
			how = fmt.Sprintf("was killed by signal %d (%v)", int(sig), sig)
		} else {
			how = "died"
		}
	}
	if s, ok := q.stall.stalled(pid); ok {
		how = s
	}
	return &TaskError{Func: f.name, Index: index, Worker: i, Failure: engine.Failure{
		PID: pid, Signal: sig, Output: out,
		Err: fmt.Errorf("%w: its worker process (pid %d) %s while running it", engine.ErrWorkerDied, pid, how),
	}}
}

// workerErrors returns the *engine.WorkerErrors in err's tree by
// participant.
func workerErrors(err error) map[int]*engine.WorkerError {
	if err == nil {
		return nil
	}
	out := map[int]*engine.WorkerError{}
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			if we, ok := e.(*engine.WorkerError); ok {
				if _, seen := out[we.Worker]; !seen {
					out[we.Worker] = we
				}
			}
			if m, ok := e.(interface{ Unwrap() []error }); ok {
				for _, x := range m.Unwrap() {
					walk(x)
				}
				return
			}
			e = errors.Unwrap(e)
		}
	}
	walk(err)
	return out
}

// directRest runs the tasks a direct call left through the session path,
// as one call, and adds their errors to errs.
func (q *procPool) directRest(ctx context.Context, f *poolFunc, o callConfig, inputs, outs any, errs []*TaskError, left []directSpan, pr *progress.Run) ([]*TaskError, error) {
	c := q.p.newCall(ctx, f, o)
	c.prog = pr
	st := &store{ins: inputs, outs: outs}
	chunk := o.chunk
	total := 0
	for _, s := range left {
		total += s.hi - s.lo
	}
	if chunk <= 0 {
		chunk = q.p.autoChunk(f, total)
	}
	var bs []*batch
	for _, s := range left {
		for lo := s.lo; lo < s.hi; lo += chunk {
			b := &batch{c: c, st: st, lo: lo, hi: min(lo+chunk, s.hi), tries: s.tries}
			b.origin = b
			bs = append(bs, b)
		}
	}
	c.left, c.sealed = total, true
	if err := q.submit(c, bs); err != nil {
		return nil, err
	}
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return append(errs, c.errs...), nil
}
