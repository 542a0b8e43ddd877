//go:build chaos && linux

package pool_test

// Chaos scenarios of package pool (issue 12), run by internal/chaos:
// worker processes SIGKILLed and SIGSTOPped at random moments of random
// calls. Each trial runs in a child process (its own coordinator, team and
// pool), which bounds its call by callBound and checks what came out: a
// result the package's documentation does not allow (a finished task's
// result lost, a task failed for another reason than the fault, more
// failed tasks than faults) is wrong; a worker process alive after Close
// is a leak. See package internal/chaos for the knobs:
//
//	go test -tags chaos -run TestChaos -v ./engine/pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/pool"
	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
)

func init() { chaosRole = runChaosRole }

// callBound bounds one call of a trial.
const callBound = 20 * time.Second

// chaosIn is a task's input: the value and how long the task sleeps.
type chaosIn struct {
	X, Us int
}

// chaosGob is the same with a string: the gob path.
type chaosGob struct {
	X, Us int
	Tag   string
}

func chaosWork(ctx context.Context, x, us int) (int, error) {
	if us > 0 {
		select {
		case <-time.After(time.Duration(us) * time.Microsecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return 7*x + 1, nil
}

var (
	chaosFlatF     = pool.Register("chaos-flat", func(ctx context.Context, a chaosIn) (int, error) { return chaosWork(ctx, a.X, a.Us) })
	chaosFlatIdemF = pool.Register("chaos-flat-idem", func(ctx context.Context, a chaosIn) (int, error) { return chaosWork(ctx, a.X, a.Us) }, pool.Idempotent())
	chaosGobF      = pool.Register("chaos-gob", func(ctx context.Context, a chaosGob) (string, error) {
		v, err := chaosWork(ctx, a.X, a.Us)
		return a.Tag + strconv.Itoa(v), err
	})
	chaosGobIdemF = pool.Register("chaos-gob-idem", func(ctx context.Context, a chaosGob) (string, error) {
		v, err := chaosWork(ctx, a.X, a.Us)
		return a.Tag + strconv.Itoa(v), err
	}, pool.Idempotent())
)

// chaosScenario runs the trials of one fault, each in a child process
// (its own coordinator, team and pool) that prints its verdict as its last
// line: "ok", or "hang: …", "wrong: …", "leak: …" (see chaos.T.Verdict).
// A child that dies is a crash; one that does not end within 45 s is a
// hang (it is killed, and the runner kills what it left).
func chaosScenario(t *testing.T, name, fault string, trials int) {
	calls := []string{"map-flat", "map-gob", "imap-unordered", "submit"}
	chaos.Run(t, chaos.Scenario{
		Name: "pool/" + name, Trials: trials, Timeout: time.Minute,
		Trial: func(tr *chaos.T) {
			env := []string{
				"CHAOS_FAULT=" + fault,
				"CHAOS_CALL=" + calls[tr.Rand.IntN(len(calls))],
				"CHAOS_CHUNK=" + strconv.Itoa([]int{0, 1, 3, 17}[tr.Rand.IntN(4)]),
				"CHAOS_IDEM=" + strconv.FormatBool(tr.Rand.IntN(2) == 0),
				"CHAOS_FAULTS=" + strconv.Itoa(1+tr.Rand.IntN(2)),
				"CHAOS_DELAY_US=" + strconv.Itoa(tr.Rand.IntN(30_000)),
				"CHAOS_SEED=" + strconv.FormatUint(tr.Rand.Uint64(), 10),
			}
			what := strings.Join(env, " ")
			if out, ok := tr.Finished(testproc.Start("chaos-trial", env...), 45*time.Second, what); ok {
				tr.Verdict(out, what)
				var faults, failed int
				if _, err := fmt.Sscanf(lastLine(out), "ok faults=%d failed-tasks=%d", &faults, &failed); err == nil {
					tr.Count("faults", faults)
					tr.Count("failed-tasks", failed)
				}
			}
		},
	})
}

// The scenarios: each trial picks a call (a direct Map of flat tasks, a
// session Map of gob tasks, an ImapUnordered, Submits), a chunk size,
// whether the function is Idempotent, and when to strike which worker.

func TestChaosKill(t *testing.T)        { chaosScenario(t, "kill-worker", "kill", 40) }
func TestChaosStop(t *testing.T)        { chaosScenario(t, "stop-worker", "stop", 40) }
func TestChaosStopTimeout(t *testing.T) { chaosScenario(t, "stop-worker-timeout", "stop-timeout", 40) }

// lastLine returns the last line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func envInt(k string) int {
	v, _ := strconv.Atoi(os.Getenv(k))
	return v
}

// runChaosRole is the child: it runs one trial and prints its verdict.
func runChaosRole(role string) error {
	if role != "chaos-trial" {
		return fmt.Errorf("no child role %q in these tests", role)
	}
	fmt.Println(chaosTrial())
	return nil
}

func chaosTrial() string {
	fault, call := os.Getenv("CHAOS_FAULT"), os.Getenv("CHAOS_CALL")
	chunk, faults, delay := envInt("CHAOS_CHUNK"), envInt("CHAOS_FAULTS"), envInt("CHAOS_DELAY_US")
	idem := os.Getenv("CHAOS_IDEM") == "true"
	seed, _ := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))

	popts := []pool.Option{pool.Workers(2), pool.StallLimit(200 * time.Millisecond)}
	var copts []pool.CallOption
	if chunk > 0 {
		copts = append(copts, pool.ChunkSize(chunk))
	}
	if fault == "stop-timeout" {
		popts[1] = pool.StallLimit(-1)
		copts = append(copts, pool.Timeout(200*time.Millisecond))
	}
	p, err := pool.New(popts...)
	if err != nil {
		return "wrong: New: " + err.Error()
	}
	team := p.Team()
	const n = 300
	us := make([]int, n)
	for i := range us {
		us[i] = rng.IntN(800)
	}

	// Strike: kill or stop a random worker, faults times, after the delay.
	struck := make(chan []int, 1)
	go func() {
		var pids []int
		time.Sleep(time.Duration(delay) * time.Microsecond)
		for range faults {
			ps := team.PIDs()
			pid := ps[rng.IntN(len(ps))]
			if pid == 0 {
				continue
			}
			sig := syscall.SIGKILL
			if fault != "kill" {
				sig = syscall.SIGSTOP
			}
			if syscall.Kill(pid, sig) == nil {
				pids = append(pids, pid)
			}
			time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		}
		struck <- pids
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 4*callBound)
	defer cancel()
	type outcome struct {
		vals []string
		errs map[int]error
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		o := outcome{vals: make([]string, n), errs: map[int]error{}}
		flat := make([]chaosIn, n)
		gobs := make([]chaosGob, n)
		for i := range flat {
			flat[i] = chaosIn{X: i, Us: us[i]}
			gobs[i] = chaosGob{X: i, Us: us[i], Tag: "t"}
		}
		fF, gF := chaosFlatF, chaosGobF
		if idem {
			fF, gF = chaosFlatIdemF, chaosGobIdemF
		}
		collect := func(err error) {
			var te pool.TaskErrors
			if errors.As(err, &te) {
				for _, e := range te {
					o.errs[e.Index] = e
				}
			} else {
				o.err = err
			}
		}
		switch call {
		case "map-flat":
			out, err := fF.Map(ctx, p, flat, copts...)
			for i, v := range out {
				o.vals[i] = "t" + strconv.Itoa(v)
			}
			collect(err)
		case "map-gob":
			out, err := gF.Map(ctx, p, gobs, copts...)
			copy(o.vals, out)
			collect(err)
		case "imap-unordered":
			for r, err := range gF.ImapUnordered(ctx, p, sliceSeq(gobs), copts...) {
				if r.Index < 0 {
					o.err = err
					break
				}
				if err != nil {
					o.errs[r.Index] = err
				}
				o.vals[r.Index] = r.Value
			}
		case "submit":
			futs := make([]*pool.Future[string], n)
			for i := range futs {
				futs[i] = gF.Submit(ctx, p, gobs[i], copts...)
			}
			for i, f := range futs {
				v, err := f.Wait(ctx)
				if err != nil {
					var te *pool.TaskError
					if errors.As(err, &te) {
						o.errs[i] = err
					} else {
						o.err = err
					}
				}
				o.vals[i] = v
			}
		}
		done <- o
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(callBound):
		return fmt.Sprintf("hang: %s did not return within %v", call, callBound)
	}
	pids := <-struck
	if o.err != nil {
		return fmt.Sprintf("wrong: %s: call failed: %v", call, o.err)
	}
	// Every fault may fail the task it struck, no more; a task that did
	// not fail has its result.
	if len(o.errs) > len(pids) {
		return fmt.Sprintf("wrong: %s: %d tasks failed after %d faults: %v", call, len(o.errs), len(pids), firstErrs(o.errs))
	}
	for i, err := range o.errs {
		switch {
		case idem && fault != "stop-timeout":
			return fmt.Sprintf("wrong: %s: task %d of an Idempotent function failed: %v", call, i, err)
		case fault == "stop-timeout" && !errors.Is(err, pool.ErrTaskTimeout) && !errors.Is(err, engine.ErrWorkerDied):
			return fmt.Sprintf("wrong: %s: task %d: %v", call, i, err)
		case fault != "stop-timeout" && !errors.Is(err, engine.ErrWorkerDied):
			return fmt.Sprintf("wrong: %s: task %d: %v", call, i, err)
		}
	}
	for i, v := range o.vals {
		if _, failed := o.errs[i]; failed {
			continue
		}
		if want := "t" + strconv.Itoa(7*i+1); v != want {
			return fmt.Sprintf("wrong: %s: task %d = %q, want %q", call, i, v, want)
		}
	}
	// The pool goes on, and Close leaves no worker behind. With the stall
	// watch off, a worker stopped while it held nothing may still be
	// stopped: only a Timeout bounds a call's wait on it.
	var after []pool.CallOption
	if fault == "stop-timeout" {
		after = append(after, pool.Timeout(200*time.Millisecond))
	}
	if _, err := chaosFlatIdemF.Map(context.Background(), p, []chaosIn{{X: 1}, {X: 2}}, after...); err != nil {
		return "wrong: the pool does not go on: " + err.Error()
	}
	all := append(team.PIDs(), pids...)
	if err := p.Close(); err != nil {
		return "wrong: Close: " + err.Error()
	}
	for _, pid := range all {
		deadline := time.Now().Add(10 * time.Second)
		for {
			alive, _ := proc.Alive(proc.ID{PID: pid})
			if !alive {
				break
			}
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				return fmt.Sprintf("leak: worker process %d alive after Close", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// What the trial exercised, for the scenario's tallies.
	return fmt.Sprintf("ok faults=%d failed-tasks=%d", len(pids), len(o.errs))
}

func firstErrs(m map[int]error) string {
	var b strings.Builder
	for i, err := range m {
		if b.Len() > 400 {
			break
		}
		fmt.Fprintf(&b, "[%d] %v; ", i, err)
	}
	return b.String()
}
