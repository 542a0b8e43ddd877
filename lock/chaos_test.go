//go:build chaos && linux

package lock

// Chaos scenarios (issue 12), run by internal/chaos: processes that use a
// primitive are SIGKILLed and SIGSTOPped at random, and each trial checks
// what the package documentation promises afterwards. Run with
//
//	go test -tags chaos -run Chaos ./lock
//
// A hang is a process or a call that did not finish within trialBound, a
// wrong result a broken invariant, a leak a worker left running (or what
// the runner finds), a crash a process that failed on its own. Each line
// also tallies what the trials exercised: kills, holder deaths,
// ErrOwnerDead reports, bounded locks of a stopped holder.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/testproc"
)

// Offsets of the chaos scenarios in the shared file (see main_test.go).
const (
	offA       = offCounter       // protected pair: a, then b
	offB       = offCounter + 8   //
	offOps     = offAux           // atomic uint64: operations done
	offWrong   = offAux + 8       // atomic uint32: invariant violations seen by children
	offInUse   = offAux + 16      // atomic uint64: semaphore units in use
	offReports = 2048             // report slots: atomic uint64 reporter<<32 | dead owner, 0 if free
	maxReports = 1000             //
	trialBound = 20 * time.Second // how long any wait of a trial may take
)

// chaosReport records in the shared file the pid named by an ErrOwnerDead
// and the reporting process, in one compare-and-swap that claims a free
// slot: a reporter killed at any instant has either recorded its whole
// report or none of it. (An earlier version claimed a slot with one atomic
// add and wrote the pid after parsing the error, microseconds later; a kill
// in between left a claimed slot reading process 0, which the check took for
// an ErrOwnerDead naming process 0.)
func chaosReport(mem []byte, err error) {
	v := uint64(os.Getpid())<<32 | uint64(uint32(int32(deadPID(err))))
	for i := range maxReports {
		if memU64(mem, offReports+8*i).CompareAndSwap(0, v) {
			return
		}
	}
}

// deadPID reads the pid from an ErrOwnerDead error, "... (process N)" or
// "... (process N, which ...)"; -1 if the error names none.
func deadPID(err error) int {
	s := err.Error()
	i := strings.LastIndex(s, "(process ")
	if i < 0 {
		return -1
	}
	var pid int
	if _, err := fmt.Sscanf(s[i:], "(process %d", &pid); err != nil || pid <= 0 {
		return -1
	}
	return pid
}

// report is one ErrOwnerDead a process got: who got it, whom it named.
type report struct{ by, dead int }

func (s *shared) reports() []report {
	var rs []report
	for i := range maxReports {
		v := s.u64(offReports + 8*i).Load()
		if v == 0 {
			break
		}
		rs = append(rs, report{by: int(v >> 32), dead: int(int32(uint32(v)))})
	}
	return rs
}

// busy spins for a random short while inside a critical section, so that
// kills land between the two halves of an update.
func busy(rng *rand.Rand) {
	for range rng.IntN(400) {
		pause(1)
	}
}

func init() {
	// chaosmutex SEED: lock, check a == b (repairing after ErrOwnerDead),
	// a++, busy, b++, unlock, until the stop flag.
	children["chaosmutex"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(atoi(args[0])), uint64(os.Getpid())))
		return chaosWorker(mem, func(ctx context.Context) error {
			err := m.LockContext(ctx)
			if err := chaosEnter(mem, err); err != nil {
				return err
			}
			if errors.Is(err, ErrOwnerDead) {
				if err := m.Consistent(); err != nil {
					return err
				}
			}
			chaosUpdate(mem, rng)
			return m.Unlock()
		})
	}
	// chaosrlock SEED: as chaosmutex through an RLock, re-entered to a
	// random depth of 1 to 4 around the update.
	children["chaosrlock"] = func(mem []byte, args []string) error {
		r, err := Place[RLock](mem, offPrim)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(atoi(args[0])), uint64(os.Getpid())))
		return chaosWorker(mem, func(ctx context.Context) error {
			tok, err := r.LockContext(ctx, 0)
			if err := chaosEnter(mem, err); err != nil {
				return err
			}
			if errors.Is(err, ErrOwnerDead) {
				if d := r.Depth(tok); d != 1 {
					memU32(mem, offWrong).Add(1) // a takeover starts at depth 1
				}
				if err := r.Consistent(tok); err != nil {
					return err
				}
			}
			depth := 1 + rng.IntN(4)
			for range depth - 1 {
				if t, err := r.Lock(tok); err != nil || t != tok {
					return fmt.Errorf("re-enter: token %d, %v", t, err)
				}
			}
			chaosUpdate(mem, rng)
			for range depth {
				if err := r.Unlock(tok); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// chaosrw SEED ROLE: ROLE w updates the pair under the write lock, ROLE
	// r checks it under a read lock.
	children["chaosrw"] = func(mem []byte, args []string) error {
		rw, err := Place[RWMutex](mem, offPrim)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(atoi(args[0])), uint64(os.Getpid())))
		writer := args[1] == "w"
		return chaosWorker(mem, func(ctx context.Context) error {
			var err error
			if writer {
				err = rw.LockContext(ctx)
			} else {
				err = rw.RLockContext(ctx)
			}
			if err := chaosEnter(mem, err); err != nil {
				return err
			}
			if errors.Is(err, ErrOwnerDead) { // held for writing, either way
				if err := rw.Consistent(); err != nil {
					return err
				}
				chaosUpdate(mem, rng)
				return rw.Unlock()
			}
			if writer {
				chaosUpdate(mem, rng)
				return rw.Unlock()
			}
			busy(rng)
			return rw.RUnlock()
		})
	}
	// chaossem SEED: acquire a unit (giving up after a short deadline),
	// count it in use, check the count against the bound, release.
	children["chaossem"] = func(mem []byte, args []string) error {
		sem, err := Place[Semaphore](mem, offPrim)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(atoi(args[0])), uint64(os.Getpid())))
		inUse := memU64(mem, offInUse)
		return chaosWorker(mem, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if err := sem.AcquireContext(ctx); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return nil // every unit is held, or lost with a dead holder
				}
				return err
			}
			if n := inUse.Add(1); n > uint64(sem.Bound()) {
				memU32(mem, offWrong).Add(1)
			}
			busy(rng)
			inUse.Add(^uint64(0))
			return sem.Release()
		})
	}
	// chaosbarrier: wait at the barrier round after round until it breaks
	// (a party died), then exit 0; an error other than a broken barrier
	// fails.
	children["chaosbarrier"] = func(mem []byte, args []string) error {
		b, err := Place[Barrier](mem, offPrim)
		if err != nil {
			return err
		}
		if err := b.Join(); err != nil {
			return err
		}
		memU32(mem, offFlag).Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), trialBound)
		defer cancel()
		for {
			if _, err := b.WaitContext(ctx); err != nil {
				if errors.Is(err, ErrBrokenBarrier) && !errors.Is(err, context.DeadlineExceeded) {
					memU64(mem, offOps).Add(1) // saw it broken
					return nil
				}
				return err
			}
		}
	}
	// chaosevent SETTER: a waiter (SETTER 0) waits for the event with a
	// deadline and records how the wait ended; the setter (SETTER 1) sets it
	// after a random delay, unless it is killed first.
	children["chaosevent"] = func(mem []byte, args []string) error {
		e, err := Place[Event](mem, offPrim)
		if err != nil {
			return err
		}
		memU32(mem, offFlag).Add(1)
		if args[0] == "1" {
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			e.Set()
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		switch err := e.WaitContext(ctx); {
		case err == nil:
			if !e.IsSet() {
				memU32(mem, offWrong).Add(1)
			}
			memU64(mem, offOps).Add(1)
		case errors.Is(err, context.DeadlineExceeded):
		default:
			return err
		}
		return nil
	}
}

// chaosWorker runs op until the stop flag (offGo) is raised, counting
// operations; op gets a context bounded by trialBound.
func chaosWorker(mem []byte, op func(ctx context.Context) error) error {
	memU32(mem, offFlag).Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), trialBound)
	defer cancel()
	stop := memU32(mem, offGo)
	for stop.Load() == 0 {
		if err := op(ctx); err != nil {
			return err
		}
		memU64(mem, offOps).Add(1)
	}
	return nil
}

// chaosEnter handles what a lock call returned: ErrOwnerDead is reported
// (the caller holds the lock and repairs), nil means the pair must be
// consistent, anything else is an error.
func chaosEnter(mem []byte, err error) error {
	switch {
	case err == nil:
		if *(*uint64)(unsafePointer(mem, offA)) != *(*uint64)(unsafePointer(mem, offB)) {
			memU32(mem, offWrong).Add(1)
		}
		return nil
	case errors.Is(err, ErrOwnerDead):
		chaosReport(mem, err)
		// The documented repair: finish the half-done update.
		*(*uint64)(unsafePointer(mem, offB)) = *(*uint64)(unsafePointer(mem, offA))
		return nil
	}
	return err
}

// chaosUpdate is the protected update: a++, a random pause, b++.
func chaosUpdate(mem []byte, rng *rand.Rand) {
	*(*uint64)(unsafePointer(mem, offA))++
	busy(rng)
	*(*uint64)(unsafePointer(mem, offB))++
}

// chaosRun is one trial of a worker scenario: workers started from roles,
// random kills (and stops, if stops) during dur, then the stop flag, a bounded
// wait for the survivors, and the scenario's final check.
type chaosRun struct {
	t      *testing.T
	tr     *chaos.T
	s      *shared
	rng    *rand.Rand
	roles  [][]any // role and arguments of each worker slot
	kids   []*child
	killed map[int]bool  // pids killed
	word   func() uint64 // the primitive's owner word (a Mutex's), or nil
	stops  bool

	// What the lock word showed at each kill (see kill): the processes that
	// died holding the lock, in order, and which of those deaths were
	// swallowed, that is taken over by a process that was itself killed
	// before it could report them.
	deaths    []int
	swallowed map[int]bool
}

func (r *chaosRun) start(i int) {
	args := r.roles[i]
	r.kids[i] = startChild(r.t, r.s, args[0].(string), args[1:]...)
}

func (r *chaosRun) run(dur time.Duration) {
	r.kids = make([]*child, len(r.roles))
	for i := range r.roles {
		r.start(i)
	}
	testproc.WaitFor(r.t, "workers ready", func() bool { return int(r.s.u32(offFlag).Load()) >= len(r.roles) })
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(500+r.rng.IntN(8000)) * time.Microsecond)
		i := r.rng.IntN(len(r.kids))
		k := r.kids[i]
		if r.stops && r.rng.IntN(3) == 0 {
			r.stopAndCont(k)
			continue
		}
		r.kill(k)
		r.start(i)
	}
	r.s.u32(offGo).Store(1)
	for _, k := range r.kids {
		r.wait(k)
	}
}

// kill kills worker k and records whether it died holding the lock. The
// word must be read at the instant of the death: read after the kill, it
// may already name a process that took the lock over from k, and k's death
// (or k's own takeover) would go unseen, as it did in an earlier version of
// this check (trial 109 of the first 200-trial run). So k is stopped first,
// all its threads: a stopped process is alive, so nobody takes its lock
// over, and it changes nothing, so the word read then is the word it dies
// with.
//
// A victim that holds the lock inconsistent had taken it over from the
// previous holder to die, the last death recorded (nobody held the lock in
// between), and reports that death before it calls Consistent; if its
// report is not in the shared file yet, the death is swallowed: nobody will
// report it by pid. The lock's next taker reports the victim instead, and
// its error says the victim had taken the lock over from a dead owner.
func (r *chaosRun) kill(k *child) {
	pid := k.PID()
	r.killed[pid] = true
	r.tr.Count("kills", 1)
	if r.word != nil {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			r.t.Fatal(err)
		}
		testproc.WaitFor(r.t, "every thread of the worker to stop", func() bool { return groupStopped(pid) })
		if w := r.word(); ownerPID(w) == pid {
			r.tr.Count("holder-deaths", 1)
			if uint32(w)&flagInconsistent != 0 {
				r.takerDies(pid)
			}
			r.deaths = append(r.deaths, pid)
		}
	}
	_ = k.Kill()
	_, _ = k.Wait()
}

// takerDies records that pid, about to be killed, holds the lock
// inconsistent after a takeover of the last recorded death.
func (r *chaosRun) takerDies(pid int) {
	if len(r.deaths) == 0 {
		r.tr.Wrong("process %d holds the lock inconsistent, but no holder died before", pid)
		return
	}
	prev := r.deaths[len(r.deaths)-1]
	for _, rep := range r.s.reports() {
		if rep.by == pid && rep.dead == prev {
			return // reported; killed before Consistent
		}
	}
	r.swallowed[prev] = true
	r.tr.Count("swallowed", 1)
}

// groupStopped reports whether every thread of process pid is stopped (or
// the process is gone or a zombie).
func groupStopped(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/stat")
		if err != nil {
			continue // the thread exited
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return false
		}
		switch b[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			return false
		}
	}
	return true
}

// stopAndCont stops a worker for a random while. If it holds the Mutex
// meanwhile, a bounded Lock here must time out: a stopped owner is alive.
func (r *chaosRun) stopAndCont(k *child) {
	if err := syscall.Kill(k.PID(), syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
	defer syscall.Kill(k.PID(), syscall.SIGCONT)
	var state string
	testproc.WaitFor(r.t, "the worker to stop", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k.PID()))
		f := strings.Fields(string(b))
		state = ""
		if len(f) > 2 {
			state = f[2]
		}
		return state == "T" || state == "t" || state == "Z" || state == ""
	})
	if r.word == nil || state != "T" || ownerPID(r.word()) != k.PID() {
		time.Sleep(time.Duration(r.rng.IntN(20)) * time.Millisecond)
		return
	}
	m, err := Place[Mutex](r.s.mem, offMutex)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(60+r.rng.IntN(60))*time.Millisecond)
	defer cancel()
	r.tr.Count("stopped-holder-waits", 1)
	err = m.LockContext(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		r.tr.Wrong("lock held by stopped process %d returned %v, want a deadline error", k.PID(), err)
		if err == nil || errors.Is(err, ErrOwnerDead) {
			_ = m.Consistent()
			_ = m.Unlock()
		}
	}
}

// wait waits, bounded, for a worker told to stop.
func (r *chaosRun) wait(k *child) {
	done := make(chan error, 1)
	go func() { _, err := k.Wait(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			r.tr.Crash("worker %d: %v\n%s", k.PID(), err, k.Output())
		}
	case <-time.After(trialBound):
		r.tr.Hang("worker %d did not stop within %v", k.PID(), trialBound)
		_ = k.Kill()
		<-done
	}
}

// checkReports checks the dead owners reported by ErrOwnerDead against the
// deaths kill saw: every process that died holding the lock was reported
// exactly once, by pid, unless the process that took the lock over from it
// was killed before it could report (swallowed), and then not at all; and
// no report names a process that did not die holding the lock. Every death
// has a taker (the final lock takes the last one over), and the taker gets
// the error in the same step, so the two cases are the only ones.
func (r *chaosRun) checkReports() {
	reports := r.s.reports()
	r.tr.Count("owner-dead-reports", len(reports))
	died := map[int]bool{}
	for _, pid := range r.deaths {
		died[pid] = true
	}
	seen := map[int]bool{}
	for _, rep := range reports {
		if !died[rep.dead] || seen[rep.dead] || r.swallowed[rep.dead] {
			r.tr.Wrong("process %d got ErrOwnerDead naming process %d: died holding the lock %v, reported before %v, its taker killed before reporting %v",
				rep.by, rep.dead, died[rep.dead], seen[rep.dead], r.swallowed[rep.dead])
		}
		seen[rep.dead] = true
	}
	for _, pid := range r.deaths {
		if !seen[pid] && !r.swallowed[pid] {
			r.tr.Wrong("process %d died holding the lock and nobody got ErrOwnerDead for it (deaths %v, reports %v, swallowed %v)",
				pid, r.deaths, reports, r.swallowed)
		}
	}
}

// finalPair locks with lock (reporting an ErrOwnerDead like a worker, and
// repairing), checks the pair and the children's verdicts, and unlocks.
func (r *chaosRun) finalPair(lock func(context.Context) error, consistent, unlock func() error) {
	ctx, cancel := context.WithTimeout(context.Background(), trialBound)
	defer cancel()
	err := lock(ctx)
	switch {
	case errors.Is(err, ErrOwnerDead):
		chaosReport(r.s.mem, err)
		*r.s.plain(offB) = *r.s.plain(offA)
		if err := consistent(); err != nil {
			r.tr.Wrong("consistent: %v", err)
		}
	case errors.Is(err, context.DeadlineExceeded):
		r.tr.Hang("the final lock did not return within %v", trialBound)
		return
	case err != nil:
		r.tr.Wrong("the final lock: %v", err)
		return
	}
	if a, b := *r.s.plain(offA), *r.s.plain(offB); a != b {
		r.tr.Wrong("pair inconsistent after recovery: a=%d b=%d", a, b)
	}
	if err := unlock(); err != nil {
		r.tr.Wrong("unlock: %v", err)
	}
}

// finish checks what every worker scenario checks at its end (the runner
// checks descriptors, processes and files itself).
func (r *chaosRun) finish() {
	if n := r.s.u32(offWrong).Load(); n != 0 {
		r.tr.Wrong("children saw %d broken invariants", n)
	}
	if r.s.u64(offOps).Load() == 0 {
		r.tr.Wrong("no operation completed")
	}
	for _, k := range r.kids {
		if !k.Exited() {
			r.tr.Leak("worker %d still running after the trial", k.PID())
		}
	}
}

// chaosScenario runs the trials of one scenario with internal/chaos. A
// trial's setup failing (t.Fatal) fails the test.
func chaosScenario(t *testing.T, name string, trial func(t *testing.T, tr *chaos.T)) {
	chaos.Run(t, chaos.Scenario{
		Name: "lock/" + name, Trials: 20, Timeout: 2 * time.Minute,
		Trial: func(tr *chaos.T) { trial(t, tr) },
	})
}

func newChaosRun(t *testing.T, tr *chaos.T, roles ...[]any) *chaosRun {
	return &chaosRun{t: t, tr: tr, s: newShared(t), rng: tr.Rand, roles: roles,
		killed: map[int]bool{}, swallowed: map[int]bool{}}
}

func TestChaos(t *testing.T) {

	chaosScenario(t, "mutex/kill-and-stop", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		seed := rng.IntN(1 << 30)
		r := newChaosRun(t, tr, []any{"chaosmutex", seed}, []any{"chaosmutex", seed + 1}, []any{"chaosmutex", seed + 2})
		m, err := Place[Mutex](r.s.mem, offMutex)
		if err != nil {
			t.Fatal(err)
		}
		r.word, r.stops = m.w.Load, true
		r.run(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		r.finalPair(m.LockContext, m.Consistent, m.Unlock)
		r.checkReports()
		r.finish()
	})

	chaosScenario(t, "rlock/kill-reentered", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		seed := rng.IntN(1 << 30)
		r := newChaosRun(t, tr, []any{"chaosrlock", seed}, []any{"chaosrlock", seed + 1}, []any{"chaosrlock", seed + 2})
		rl, err := Place[RLock](r.s.mem, offPrim)
		if err != nil {
			t.Fatal(err)
		}
		r.word = rl.m.w.Load
		r.run(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		var tok Token
		r.finalPair(func(ctx context.Context) (err error) { tok, err = rl.LockContext(ctx, 0); return err },
			func() error { return rl.Consistent(tok) }, func() error { return rl.Unlock(tok) })
		r.checkReports()
		r.finish()
	})

	chaosScenario(t, "rwmutex/kill-writers-and-readers", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		seed := rng.IntN(1 << 30)
		r := newChaosRun(t, tr, []any{"chaosrw", seed, "w"}, []any{"chaosrw", seed + 1, "w"},
			[]any{"chaosrw", seed + 2, "r"}, []any{"chaosrw", seed + 3, "r"})
		rw, err := Place[RWMutex](r.s.mem, offPrim)
		if err != nil {
			t.Fatal(err)
		}
		r.word = rw.w.w.Load
		r.run(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		r.finalPair(rw.LockContext, rw.Consistent, rw.Unlock)
		r.checkReports()
		r.finish()
	})

	chaosScenario(t, "semaphore/kill-holders", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		seed := rng.IntN(1 << 30)
		r := newChaosRun(t, tr, []any{"chaossem", seed}, []any{"chaossem", seed + 1}, []any{"chaossem", seed + 2},
			[]any{"chaossem", seed + 3})
		sem, err := Place[Semaphore](r.s.mem, offPrim)
		if err != nil {
			t.Fatal(err)
		}
		const bound = 2
		if err := sem.Init(bound, bound); err != nil {
			t.Fatal(err)
		}
		r.stops = true
		r.run(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		// Units held by killed workers are lost (documented); nothing else
		// is: the free units and those still counted in use never exceed
		// the bound, and at most one unit is lost per kill.
		free, inUse := sem.Value(), int(r.s.u64(offInUse).Load())
		if free+inUse > bound || bound-(free+inUse) > len(r.killed) {
			tr.Wrong("free %d + in use %d, bound %d, %d kills", free, inUse, bound, len(r.killed))
		}
		r.finish()
	})

	chaosScenario(t, "barrier/kill-party", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		s := newShared(t)
		const parties = 3
		b, err := Place[Barrier](s.mem, offPrim)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Init(parties); err != nil {
			t.Fatal(err)
		}
		r := &chaosRun{t: t, tr: tr, s: s, rng: rng}
		kids := make([]*child, parties)
		for i := range kids {
			kids[i] = startChild(t, s, "chaosbarrier")
		}
		testproc.WaitFor(t, "parties ready", func() bool { return s.u32(offFlag).Load() == parties })
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		victim := kids[rng.IntN(parties)]
		tr.Count("kills", 1)
		_ = victim.Kill()
		_, _ = victim.Wait()
		for _, k := range kids {
			if k != victim {
				r.wait(k)
			}
		}
		if got := s.u64(offOps).Load(); got != parties-1 {
			tr.Wrong("%d of %d surviving parties saw the barrier broken", got, parties-1)
		}
		r.kids = kids
		s.u64(offOps).Store(1) // finish's "no operation" check does not apply
		r.finish()
	})

	chaosScenario(t, "event/kill-setter", func(t *testing.T, tr *chaos.T) {
		rng := tr.Rand
		s := newShared(t)
		e, err := Place[Event](s.mem, offPrim)
		if err != nil {
			t.Fatal(err)
		}
		r := &chaosRun{t: t, tr: tr, s: s, rng: rng}
		const waiters = 2
		kids := []*child{startChild(t, s, "chaosevent", 1)}
		for range waiters {
			kids = append(kids, startChild(t, s, "chaosevent", 0))
		}
		testproc.WaitFor(t, "processes ready", func() bool { return s.u32(offFlag).Load() == waiters+1 })
		if rng.IntN(2) == 0 {
			tr.Count("kills", 1)
			_ = kids[0].Kill() // perhaps before it could Set
			_, _ = kids[0].Wait()
		} else {
			r.wait(kids[0])
		}
		for _, k := range kids[1:] {
			r.wait(k)
		}
		// Waiters return: all with nil if the event was set (the setter set
		// it within 30 ms, well before their 300 ms), all at their deadline
		// if it never was.
		want := uint64(0)
		if e.IsSet() {
			want = waiters
		}
		if got := s.u64(offOps).Load(); got != want {
			tr.Wrong("%d waiters saw the event set, want %d (set: %v)", got, want, e.IsSet())
		}
		r.kids = kids
		s.u64(offOps).Store(1)
		r.finish()
	})
}
