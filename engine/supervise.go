package engine

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/life"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/internal/futex"
)

// Supervision of a team's worker processes: starting them (and replacing
// the dead ones before a job), waiting for their hello, and noticing when
// one exits.

// wproc is one worker process.
type wproc struct {
	idx   int
	cmd   *exec.Cmd
	pid   int
	done  chan struct{} // closed when the process has exited and been reaped
	state *os.ProcessState
	tail  *reexec.Tail
}

func (w *wproc) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// describe says how the process ended, and the signal if one killed it.
func (w *wproc) describe() (string, syscall.Signal) {
	if w.state == nil {
		return "is running", 0
	}
	if ws, ok := w.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal()), ws.Signal()
	}
	return fmt.Sprintf("exited with status %d", w.state.ExitCode()), 0
}

// maxStartAttempts is how many processes heal starts for one slot, in a
// row, when those it started were killed by a signal before they reported
// ready (the OOM killer, an operator, a chaos test): a worker that cannot
// start for a reason of its own (no engine.Main, a bad environment) exits
// with a status instead, and is not started again.
const maxStartAttempts = 3

// heal starts a worker process for every slot that has none or whose
// process died, and waits for their hello. A death counts as soon as the
// kernel has set the worker's life word, which it does before the process
// can be waited for: the job that follows a death runs on a full team even
// when the goroutine that waits for the dead process has not run yet.
func (t *procTeam) heal() error {
	var fresh []*wproc
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		if w != nil && !w.exited() && t.c.life[i].Load()&life.Died == 0 {
			continue
		}
		if w != nil && !w.exited() {
			// Dead but not yet reaped: its supervisor reaps it; the kill
			// is for the impossible case of a live process whose life word
			// was overwritten.
			_ = w.cmd.Process.Kill()
		}
		w, err := t.spawn(i)
		if err != nil {
			killAll(fresh)
			return err
		}
		fresh = append(fresh, w)
	}
	for attempt := 1; len(fresh) > 0; attempt++ {
		killed, err := t.waitHello(fresh)
		if err != nil {
			return err
		}
		if len(killed) > 0 && attempt == maxStartAttempts {
			killAll(fresh)
			return t.helloError(killed[0])
		}
		fresh = fresh[:0]
		for _, k := range killed {
			w, err := t.spawn(k.idx)
			if err != nil {
				killAll(fresh)
				return err
			}
			fresh = append(fresh, w)
		}
	}
	return nil
}

func killAll(ws []*wproc) {
	for _, w := range ws {
		_ = w.cmd.Process.Kill()
	}
}

func (t *procTeam) spawn(i int) (*wproc, error) {
	s := &t.c.slots[i]
	s.hello.Store(0)
	s.pid.Store(0)
	s.chunk.Store(noChunk)
	s.chunkGen.Store(0)
	s.inJob.Store(0)
	t.c.life[i].Store(0)
	t.stalled[i] = stallKill{}
	env := workerEnv{idx: i, ctl: 3, life: 4, ppid: t.pid, spin: max(t.cfg.Spin, 0), cpu: -1, polls: t.polls, prefault: t.cfg.crowded}
	if len(t.cpus) > 0 {
		env.cpu = t.cpus[i%len(t.cpus)]
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{reexec.Argv0(fmt.Sprintf("worker %d", i))}
	cmd.Env = workerEnviron(env, t.cfg)
	cmd.ExtraFiles = []*os.File{t.seg.File(), t.lifeR}
	cmd.Stdout = t.cfg.Stdout
	tail := &reexec.Tail{W: t.cfg.Stderr}
	cmd.Stderr = tail
	cmd.SysProcAttr = reexec.SysProcAttr()
	if err := reexec.Start(cmd); err != nil {
		return nil, fmt.Errorf("engine: %w: worker %d: %w", ErrStart, i, err)
	}
	w := &wproc{idx: i, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), tail: tail}
	t.procMu.Lock()
	t.procs[i] = w
	t.procMu.Unlock()
	go t.supervise(w)
	return w, nil
}

// workerEnviron is the coordinator's environment with GOMAXPROCS and the
// worker marker set, then cfg.Env.
func workerEnviron(e workerEnv, cfg teamConfig) []string {
	return reexec.Environ([]string{fmt.Sprintf("GOMAXPROCS=%d", cfg.GOMAXPROCS), envWorker + "=" + formatWorkerEnv(e)}, cfg.Env)
}

// supervise waits for a worker process to exit and wakes the coordinator,
// which may be waiting for it to finish a job.
func (t *procTeam) supervise(w *wproc) {
	_ = w.cmd.Wait()
	w.state = w.cmd.ProcessState
	close(w.done)
	t.deaths.Add(1)
	t.memMu.RLock()
	if !t.unmapped {
		wakeCoordinator(t.h, true)
	}
	t.memMu.RUnlock()
}

// waitHello waits until each worker of ws has reported ready or exited,
// and returns those that were killed by a signal before they reported
// ready, to be started again. A worker that exits with a status, or does
// not report ready within HelloTimeout, is an error; then every worker of
// ws is killed.
func (t *procTeam) waitHello(ws []*wproc) (killed []*wproc, err error) {
	deadline := time.Now().Add(t.cfg.HelloTimeout)
	for {
		v := t.h.notify.Load()
		var pending []*wproc
		killed = killed[:0]
		for _, w := range ws {
			s := &t.c.slots[w.idx]
			if s.hello.Load() == helloReady && s.pid.Load() == int64(w.pid) {
				continue
			}
			if w.exited() {
				if _, sig := w.describe(); sig != 0 {
					killed = append(killed, w)
					continue
				}
				killAll(ws)
				return nil, t.helloError(w)
			}
			pending = append(pending, w)
		}
		if len(pending) == 0 {
			return killed, nil
		}
		if time.Now().After(deadline) {
			killAll(ws)
			w := pending[0]
			return nil, fmt.Errorf("engine: %w: worker %d (pid %d) did not report ready within %v (does main call engine.Main() first?)%s",
				ErrStart, w.idx, w.pid, t.cfg.HelloTimeout, reexec.Note("worker", w.tail.String()))
		}
		_ = futex.Wait((*uint32)(unsafe.Pointer(&t.h.notify)), v, 10*time.Millisecond)
	}
}

func (t *procTeam) helloError(w *wproc) error {
	how, sig := w.describe()
	out := w.tail.String()
	if sig == 0 && (w.state.ExitCode() == reexec.ExitNoMain || w.state.ExitCode() == 0) {
		return fmt.Errorf("engine: worker %d (pid %d) %s before reporting ready: %w (a worker re-executes this program, which must hand over to the engine at once)%s",
			w.idx, w.pid, how, ErrNoMain, reexec.Note("worker", out))
	}
	return fmt.Errorf("engine: %w: worker %d (pid %d) %s before reporting ready (does main call engine.Main() first?)%s",
		ErrStart, w.idx, w.pid, how, reexec.Note("worker", out))
}
