//go:build chaos && linux

package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
)

// The engine's chaos scenarios (issue 12): worker processes SIGKILLed and
// SIGSTOPped at random moments of For and Reduce, under every schedule,
// with kernels that are idempotent and kernels that are not; coordinators
// killed at random moments; workers killed while the team starts. Each
// trial starts its own team, waits for For with no context deadline (the
// runner's time bound is the watchdog), checks every element, and checks
// that the team heals. See package internal/chaos for the knobs.

// chaosN is the length of a chaos job, and chaosWork the busy work per
// element: a job takes some tens of milliseconds, so that most faults, at a
// random moment of the first 40 ms, land while it runs (the summary line
// counts them: mid-job).
const (
	chaosN       = 20000
	chaosWork    = 4000
	chaosDelay   = 40 * time.Millisecond
	chaosTimeout = 90 * time.Second
	chaosStall   = 300 * time.Millisecond
)

type chaosArgs struct {
	A    *array.Array[int64]
	Work int
}

// burn does n steps of work the compiler cannot drop.
func burn(n int) int64 {
	x := int64(1)
	for i := range n {
		x = x*31 + int64(i)
	}
	return x
}

var (
	chaosIncK = engine.Register("chaos-inc", func(c *engine.Ctx, a chaosArgs, lo, hi int) error {
		d := a.A.Data()
		for i := lo; i < hi; i++ {
			if burn(a.Work) == 42 {
				d[i] = -1
			}
			d[i]++
		}
		return nil
	})
	chaosSetK = engine.Register("chaos-set", func(c *engine.Ctx, a chaosArgs, lo, hi int) error {
		d := a.A.Data()
		for i := lo; i < hi; i++ {
			if burn(a.Work) == 42 {
				d[i] = -1
			}
			d[i] = 1
		}
		return nil
	}, engine.Idempotent())
	chaosSum = func(c *engine.Ctx, a chaosArgs, lo, hi int) (int64, error) {
		var s int64
		for i := lo; i < hi; i++ {
			if burn(a.Work) == 42 {
				s--
			}
			s += int64(i)
		}
		return s, nil
	}
	chaosSumIdemK = engine.RegisterReduce("chaos-sum-idem", chaosSum, engine.Idempotent())
	chaosSumK     = engine.RegisterReduce("chaos-sum", chaosSum)
)

func init() {
	roles["chaos-coord"] = runChaosCoordinator
}

type chaosShape struct {
	workers int
	primary bool
	crowded bool // ShareNode says the node's teams outnumber its CPUs: the workers prefault
}

// Team shapes with at least one worker process; the crowded ones share
// their node (ShareNode) with as many teams as it has CPUs, whatever the
// machine, so that their workers map attached arrays whole.
var chaosShapes = []chaosShape{{1, false, false}, {2, false, false}, {3, false, false}, {2, true, false}, {3, true, false}, {3, false, true}, {2, true, true}}

// opts returns the options that start a team of shape sh, then more.
func (sh chaosShape) opts(more ...engine.TeamOption) []engine.TeamOption {
	o := []engine.TeamOption{engine.Workers(sh.workers), engine.Primary(sh.primary)}
	if sh.crowded {
		o = append(o, engine.ShareNode(engine.UsableCPUs(), engine.UsableCPUs()))
	}
	return append(o, more...)
}

func (sh chaosShape) String() string {
	return fmt.Sprintf("%d workers (primary %v, crowded %v)", sh.workers, sh.primary, sh.crowded)
}

// chaosTeam starts a team of shape sh with the trials' stall limit and
// makes the trial's array of chaosN elements, reporting a failure as a
// wrong result (what names the trial). When ok, the caller defers cleanup,
// which closes both and reports a failed Close of the team.
func chaosTeam(tr *chaos.T, sh chaosShape, what string) (team *engine.Team, a *array.Array[int64], cleanup func(), ok bool) {
	team, err := engine.Start(sh.opts(engine.StallLimit(chaosStall))...)
	if err != nil {
		tr.Wrong("%s: Start: %v", what, err)
		return nil, nil, nil, false
	}
	a, err = array.CreateAnon[int64](chaosN)
	if err != nil {
		tr.Wrong("%s: array: %v", what, err)
		if err := team.Close(); err != nil {
			tr.Wrong("%s: Close: %v", what, err)
		}
		return nil, nil, nil, false
	}
	return team, a, func() {
		a.Close()
		if err := team.Close(); err != nil {
			tr.Wrong("%s: Close: %v", what, err)
		}
	}, true
}

// chaosSchedule draws a schedule.
func chaosSchedule(tr *chaos.T) (string, engine.Option) {
	switch tr.Rand.IntN(4) {
	case 0:
		return "static", engine.Static()
	case 1:
		c := 1 + tr.Rand.IntN(2000)
		return fmt.Sprintf("dynamic(%d)", c), engine.Dynamic(c)
	case 2:
		c := 1 + tr.Rand.IntN(200)
		return fmt.Sprintf("guided(%d)", c), engine.Guided(c)
	}
	g := 64 << tr.Rand.IntN(6)
	return fmt.Sprintf("deterministic(%d)", g), engine.Deterministic(g)
}

// faulter injects faults into a team's worker processes while a job
// runs; over is set when the job has returned.
type faulter struct {
	tr   *chaos.T
	team *engine.Team
	sig  syscall.Signal
	over *atomic.Bool
}

// strike sends f.sig to a random worker process after a random delay, n
// times, and reports the pids it hit. It counts the faults, and those that
// landed before the job returned ("mid-job").
func (f faulter) strike(n int) []int {
	var hit []int
	for range n {
		time.Sleep(f.tr.Duration(chaosDelay))
		var pids []int
		for _, p := range f.team.PIDs() {
			if p != 0 && p != os.Getpid() {
				pids = append(pids, p)
			}
		}
		if len(pids) == 0 {
			continue
		}
		p := pids[f.tr.Rand.IntN(len(pids))]
		mid := !f.over.Load()
		if syscall.Kill(p, f.sig) == nil {
			hit = append(hit, p)
			f.tr.Count("faults", 1)
			if mid {
				f.tr.Count("mid-job", 1)
			}
		}
	}
	return hit
}

// awaitExited waits until child process pid has exited (can be waited
// for, or has been): the next job must then run on a full team. A worker
// killed after a job ended is still dying when the next one starts.
func awaitExited(pid int) {
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
}

// checkLost checks a For's error and data after faults: the error is nil
// or names, as WorkerErrors wrapping ErrWorkerDied, the chunks lost with
// dead workers; every element outside them is exactly 1, and those inside
// are 0 or 1. strict says no chunk may be lost (an idempotent kernel and a
// single fault).
func checkLost(tr *chaos.T, what string, err error, d []int64, strict bool) {
	wes := engine.WorkerErrors(err)
	if err != nil && len(wes) == 0 {
		tr.Wrong("%s: an error that names no chunk: %v", what, err)
		return
	}
	if strict && err != nil {
		tr.Wrong("%s: a chunk of an idempotent kernel was lost to a single fault: %v", what, err)
	}
	named := make([]bool, len(d))
	for _, we := range wes {
		if !errors.Is(we, engine.ErrWorkerDied) {
			tr.Wrong("%s: a failure that is not a worker's death: %v", what, we)
		}
		if we.Lo < 0 || we.Hi > len(d) || we.Lo >= we.Hi {
			tr.Wrong("%s: a lost chunk [%d, %d) outside [0, %d)", what, we.Lo, we.Hi, len(d))
			continue
		}
		for i := we.Lo; i < we.Hi; i++ {
			named[i] = true
		}
	}
	for i, v := range d {
		if named[i] && v != 0 && v != 1 || !named[i] && v != 1 {
			tr.Wrong("%s: element %d = %d (in a named chunk: %v); error: %v", what, i, v, named[i], err)
			return
		}
	}
}

// checkHealed runs a job with no faults: it must succeed on a full team.
func checkHealed(tr *chaos.T, team *engine.Team, a *array.Array[int64], opt engine.Option) {
	d := a.Data()[:chaosN]
	clear(d)
	if err := chaosIncK.For(context.Background(), team, chaosN, chaosArgs{A: a}, opt); err != nil {
		tr.Wrong("the job after the faults failed: %v", err)
		return
	}
	for i, v := range d {
		if v != 1 {
			tr.Wrong("the job after the faults: element %d = %d", i, v)
			return
		}
	}
	pids := team.PIDs()
	for _, p := range pids {
		if p == 0 {
			tr.Wrong("the job after the faults ran on a short team: %v", pids)
			return
		}
	}
}

// faultFor is a trial of a For under faults of signal sig.
func faultFor(tr *chaos.T, sig syscall.Signal) {
	sh := chaosShapes[tr.Rand.IntN(len(chaosShapes))]
	sname, opt := chaosSchedule(tr)
	idem := tr.Rand.IntN(2) == 0
	faults := 1 + tr.Rand.IntN(2)
	what := fmt.Sprintf("%v, %s, idempotent %v, %d × %v", sh, sname, idem, faults, sig)
	team, a, cleanup, ok := chaosTeam(tr, sh, what)
	if !ok {
		return
	}
	defer cleanup()
	k := chaosIncK
	if idem {
		k = chaosSetK
	}
	done := make(chan error, 1)
	var over atomic.Bool
	go func() {
		err := k.For(context.Background(), team, chaosN, chaosArgs{A: a, Work: chaosWork}, opt)
		over.Store(true)
		done <- err
	}()
	hit := faulter{tr, team, sig, &over}.strike(faults)
	err := <-done
	tr.Count("lost-chunks", len(engine.WorkerErrors(err)))
	checkLost(tr, fmt.Sprintf("%s, hit %v", what, hit), err, a.Data()[:chaosN], idem && len(hit) <= 1)
	if sig == syscall.SIGKILL {
		for _, p := range hit {
			awaitExited(p)
		}
	}
	checkHealed(tr, team, a, opt)
}

// faultReduce is a trial of a Reduce under SIGKILLs.
func faultReduce(tr *chaos.T) {
	sh := chaosShapes[tr.Rand.IntN(len(chaosShapes))]
	sname, opt := chaosSchedule(tr)
	idem := tr.Rand.IntN(2) == 0
	faults := 1 + tr.Rand.IntN(2)
	what := fmt.Sprintf("%v, %s, idempotent %v, %d kills", sh, sname, idem, faults)
	team, err := engine.Start(sh.opts()...)
	if err != nil {
		tr.Wrong("%s: Start: %v", what, err)
		return
	}
	defer func() {
		if err := team.Close(); err != nil {
			tr.Wrong("%s: Close: %v", what, err)
		}
	}()
	k := chaosSumK
	if idem {
		k = chaosSumIdemK
	}
	type res struct {
		v   int64
		err error
	}
	done := make(chan res, 1)
	var over atomic.Bool
	go func() {
		v, err := k.Reduce(context.Background(), team, chaosN, chaosArgs{Work: chaosWork}, engine.Sum[int64](), opt)
		over.Store(true)
		done <- res{v, err}
	}()
	hit := faulter{tr, team, syscall.SIGKILL, &over}.strike(faults)
	r := <-done
	tr.Count("lost-chunks", len(engine.WorkerErrors(r.err)))
	for _, p := range hit {
		awaitExited(p)
	}
	want := int64(chaosN) * (chaosN - 1) / 2
	switch {
	case r.err == nil && r.v != want:
		tr.Wrong("%s, hit %v: sum %d, want %d", what, hit, r.v, want)
	case r.err != nil:
		if idem && len(hit) <= 1 {
			tr.Wrong("%s, hit %v: an idempotent reduction failed on a single kill: %v", what, hit, r.err)
		}
		wes := engine.WorkerErrors(r.err)
		if len(wes) == 0 {
			tr.Wrong("%s, hit %v: an error that names no chunk: %v", what, hit, r.err)
		}
		for _, we := range wes {
			if !errors.Is(we, engine.ErrWorkerDied) || we.Lo >= we.Hi {
				tr.Wrong("%s, hit %v: not a lost chunk: %v", what, hit, we)
			}
		}
	}
	v, err := k.Reduce(context.Background(), team, chaosN, chaosArgs{}, engine.Sum[int64](), opt)
	if err != nil || v != want {
		tr.Wrong("%s: the reduction after the kills: %d, %v", what, v, err)
	}
}

func TestChaosEngine(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "engine/kill-worker-for", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) { faultFor(tr, syscall.SIGKILL) },
	})
	chaos.Run(t, chaos.Scenario{
		Name: "engine/stop-worker-for", Trials: 24, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) { faultFor(tr, syscall.SIGSTOP) },
	})
	chaos.Run(t, chaos.Scenario{
		Name: "engine/stop-worker-between-jobs", Trials: 12, Timeout: chaosTimeout,
		Trial: stopBetweenJobs,
	})
	chaos.Run(t, chaos.Scenario{
		Name: "engine/kill-worker-reduce", Trials: 32, Timeout: chaosTimeout,
		Trial: faultReduce,
	})
	chaos.Run(t, chaos.Scenario{
		Name: "engine/kill-worker-during-start", Trials: 32, Timeout: chaosTimeout,
		Trial: killDuringStart,
	})
	chaos.Run(t, chaos.Scenario{
		Name: "engine/kill-coordinator", Trials: 24, Timeout: chaosTimeout,
		Trial: killCoordinator,
	})
}

// stopBetweenJobs SIGSTOPs a worker process between two jobs: the next job
// (with no deadline) completes, on the other workers or, on a team of one,
// after the stall watch replaced the stopped worker; nothing is lost.
func stopBetweenJobs(tr *chaos.T) {
	sh := chaosShapes[tr.Rand.IntN(len(chaosShapes))]
	sname, opt := chaosSchedule(tr)
	what := fmt.Sprintf("%v, %s", sh, sname)
	team, a, cleanup, ok := chaosTeam(tr, sh, what)
	if !ok {
		return
	}
	defer cleanup()
	if err := chaosSetK.For(context.Background(), team, chaosN, chaosArgs{A: a}, opt); err != nil {
		tr.Wrong("%s: the first job: %v", what, err)
		return
	}
	var over atomic.Bool
	over.Store(true)
	hit := faulter{tr, team, syscall.SIGSTOP, &over}.strike(1)
	for _, p := range hit {
		for st, err := proc.State(p); err == nil && st != 'T'; st, err = proc.State(p) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	checkHealed(tr, team, a, opt)
}

// killDuringStart kills a worker process at a random moment of Start: the
// team must start (a worker killed before it is ready is started again)
// and run a job.
func killDuringStart(tr *chaos.T) {
	workers := 1 + tr.Rand.IntN(3)
	delay := tr.Duration(10 * time.Millisecond)
	killed := make(chan int, 1)
	var started atomic.Bool
	go func() {
		deadline := time.Now().Add(delay)
		var pids []int
		for time.Now().Before(deadline) || len(pids) == 0 {
			pids = tr.Procs()
			if time.Now().After(deadline.Add(5 * time.Second)) {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		if len(pids) == 0 {
			killed <- 0
			return
		}
		p := pids[tr.Rand.IntN(len(pids))]
		during := !started.Load()
		if syscall.Kill(p, syscall.SIGKILL) == nil {
			tr.Count("faults", 1)
			if during {
				tr.Count("during-start", 1)
			}
		}
		killed <- p
	}()
	team, err := engine.Start(engine.Workers(workers))
	started.Store(true)
	victim := <-killed
	if err != nil {
		tr.Wrong("%d workers, killed %d after %v: Start: %v", workers, victim, delay, err)
		return
	}
	defer func() {
		if err := team.Close(); err != nil {
			tr.Wrong("Close: %v", err)
		}
	}()
	a, err := array.CreateAnon[int64](chaosN)
	if err != nil {
		tr.Wrong("array: %v", err)
		return
	}
	defer a.Close()
	if victim != 0 {
		awaitExited(victim)
	}
	checkHealed(tr, team, a, engine.Dynamic(100))
}

// runChaosCoordinator is a coordinator that runs jobs on a named array
// until it is killed: it reports its workers' pids first.
func runChaosCoordinator() error {
	workers, _ := strconv.Atoi(os.Getenv("CHAOS_WORKERS"))
	team, err := engine.Start(engine.Workers(workers), engine.Primary(os.Getenv("CHAOS_PRIMARY") != ""))
	if err != nil {
		return err
	}
	a, err := array.Create[int64]("chaos-coord", chaosN)
	if err != nil {
		return err
	}
	var lines []string
	for _, p := range team.PIDs() {
		lines = append(lines, strconv.Itoa(p))
	}
	if err := teamtest.Report(lines...); err != nil {
		return err
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		if err := chaosIncK.For(context.Background(), team, chaosN, chaosArgs{A: a, Work: chaosWork}, engine.Dynamic(500)); err != nil {
			return err
		}
	}
	return errors.New("not killed within a minute")
}

// killCoordinator SIGKILLs a coordinator process at a random moment from
// its start: while it starts its team (counted as before-ready), or runs
// jobs. Its workers must exit (the runner checks that no process of the
// trial outlives it) and leave no file behind but the array the
// coordinator made.
func killCoordinator(tr *chaos.T) {
	workers := 1 + tr.Rand.IntN(3)
	report := filepath.Join(os.TempDir(), "chaos-report-"+tr.Marker)
	env := []string{"CHAOS_WORKERS=" + strconv.Itoa(workers), teamtest.EnvReport + "=" + report}
	if tr.Rand.IntN(2) == 0 {
		env = append(env, "CHAOS_PRIMARY=1")
	}
	defer os.Remove(report)
	delay := tr.Duration(60 * time.Millisecond)
	child := testproc.Start("chaos-coord", env...)
	if child.PID() == 0 {
		_, err := child.Wait()
		tr.Crash("the coordinator did not start: %v", err)
		return
	}
	time.Sleep(delay)
	_, serr := os.Stat(report)
	_ = syscall.Kill(child.PID(), syscall.SIGKILL)
	tr.Count("faults", 1)
	if serr != nil {
		tr.Count("before-ready", 1)
	}
	out, err := child.Wait()
	if err == nil || !strings.Contains(err.Error(), "signal: killed") {
		tr.Crash("%d workers, killed after %v: the coordinator ended with %v before it was killed:\n%s", workers, delay, err, out)
	}
	_ = os.Remove(filepath.Join(tr.Dir, "chaos-coord"))
}
