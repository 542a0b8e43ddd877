//go:build chaos

package queue_test

// Randomized fault scenarios for queues and pipes (issue 12), run by
// internal/chaos (go test -tags chaos -run Chaos -v ./queue): SIGKILL and
// SIGSTOP of producers, consumers, pipe peers and JoinableQueue workers at
// random moments. A wrong result is anything duplicated, corrupted, out of
// order, or lost beyond what queue/doc.go allows; a crash is a process we
// did not kill that failed, or an operation that returned an error it must
// not; a hang is a wait that passed its bound (trialBound, peerBound).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// trialBound bounds each trial; peerBound bounds how long a reader may take
// to report its writers gone (100 ms sleep slices, on a loaded machine).
const (
	trialBound = 30 * time.Second
	peerBound  = 5 * time.Second
)

func init() {
	chaosRoles["chaos-consumer"] = chaosConsumer
	chaosRoles["chaos-jwork"] = chaosJWork
}

// chaosConsumer gets stream messages until the queue is closed or its
// writers are gone, checking each and its order per producer, and counts
// them in COUNTS. A bad message is a wrong result: it says so and exits 2.
func chaosConsumer(ctx context.Context) error {
	_, end, wrong := consumeStream(ctx)
	switch {
	case wrong != nil:
		fmt.Println("wrong:", wrong)
		os.Exit(2)
	case errors.Is(end, queue.ErrClosed):
		fmt.Println("end closed")
	case errors.Is(end, queue.ErrPeerGone):
		fmt.Println("end gone")
	default:
		return end
	}
	return nil
}

// chaosJWork takes tasks (numbers) from a joinable queue, counts each in
// COUNTS, then marks it done, until the queue is closed.
func chaosJWork(ctx context.Context) error {
	dir := env("DIR")
	j, err := queue.OpenJoinable(env("NAME"), shm.Dir(dir))
	if err != nil {
		return err
	}
	defer j.Close()
	seg, counts, err := openCounts(env("COUNTS"), dir)
	if err != nil {
		return err
	}
	defer seg.Close()
	for {
		msg, err := j.Get(ctx)
		if errors.Is(err, queue.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(string(msg))
		if err != nil || i < 0 || i >= len(counts) {
			fmt.Println("wrong: task", string(msg))
			os.Exit(2)
		}
		atomic.AddUint32(&counts[i], 1)
		if err := j.TaskDone(); err != nil {
			return err
		}
	}
}

// chaosTrials is the number of trials of each scenario in a default run.
const chaosTrials = 40

// scenario runs trial under internal/chaos. Each trial gets a directory of
// its own for its queue and counters, removed after it.
func scenario(t *testing.T, name string, trial func(tr *chaos.T, dir string)) {
	chaos.Run(t, chaos.Scenario{
		Name: name, Trials: chaosTrials, Timeout: 4 * trialBound,
		Trial: func(tr *chaos.T) {
			dir, err := os.MkdirTemp("", "queue-chaos-")
			if err != nil {
				tr.Crash("trial directory: %v", err)
				return
			}
			defer os.RemoveAll(dir)
			trial(tr, dir)
		},
	})
}

// chaosCounts creates the shared counters of a trial, closed by the
// returned function.
func chaosCounts(dir string, n int) ([]uint32, func(), error) {
	seg, err := shm.Create("counts", shm.Meta{DType: shm.Uint32, Shape: []int{n}, Kind: shm.KindRaw}, shm.Dir(dir))
	if err != nil {
		return nil, nil, err
	}
	c, err := shm.View[uint32](seg)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return c, func() { seg.Close() }, nil
}

// waitExit waits for a child to exit within d and reports whether it did.
func waitExit(c *testproc.Child, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !c.Exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// reap kills and waits for children, counting one still running after
// trialBound as a leak.
func reap(tr *chaos.T, cs ...*testproc.Child) {
	for _, c := range cs {
		if !c.Exited() {
			_ = c.Kill()
			if !waitExit(c, trialBound) {
				tr.Leak("child %d still running %v after SIGKILL", c.PID(), trialBound)
			}
		}
		_, _ = c.Wait()
	}
}

// exitedBadly says whether a child we did not kill failed: 2 is a wrong
// result it found, anything else a crash.
func exitedBadly(tr *chaos.T, c *testproc.Child) {
	switch code := c.ExitCode(); code {
	case 0:
	case 2:
		tr.Wrong("a child found a wrong result: %s", c.Output())
	default:
		tr.Crash("a child failed (exit %d): %s", code, c.Output())
	}
}

// checkStream checks the delivery counts of a stream trial: no message
// delivered twice; each killed producer's messages a prefix (what it put
// before it died); every other producer's messages all there except at
// most lossPerConsumer for each killed consumer.
func checkStream(tr *chaos.T, counts []uint32, producers, n int, killedProducer []bool, killedConsumers int) {
	missing := 0
	for p := range producers {
		seen := true
		for s := range n {
			c := counts[p*n+s]
			switch {
			case c > 1:
				tr.Wrong("producer %d's message %d delivered %d times", p, s, c)
				return
			case c == 0 && killedProducer[p]:
				// A killed producer's stream stops; what follows a gap must
				// be a consumer's loss, counted below.
				if seen {
					seen = false
					for r := s + 1; r < n; r++ {
						if counts[p*n+r] != 0 {
							missing++
							seen = true
							break
						}
					}
				}
			case c == 0:
				missing++
			}
		}
	}
	if missing > killedConsumers {
		tr.Wrong("%d messages lost with %d consumers killed (at most one each)", missing, killedConsumers)
	}
}

// TestChaosStreams: producers and consumers (1x1 and 3x3), one producer
// and/or one consumer SIGKILLed or SIGSTOPped (then continued) at a random
// moment; a replacement consumer drains. Afterwards: exactly once except the
// documented losses, in order, and a reader whose only writer was killed
// learns it (ErrPeerGone) within peerBound.
func TestChaosStreams(t *testing.T) {
	for _, shape := range []struct {
		name                string
		producers, consumer int
		bias                bool
	}{{"1x1", 1, 1, false}, {"3x3", 3, 3, false}, {"3x3-bias", 3, 3, true}} {
		for _, fault := range []string{"kill", "stop"} {
			name := "queue/" + fault + "-" + shape.name
			scenario(t, name, func(tr *chaos.T, dir string) {
				streamTrial(tr, dir, shape.producers, shape.consumer, fault, shape.bias)
			})
		}
	}
}

// streamTrial runs one trial; with bias, every process biases its side's
// lock to itself after each acquisition, so that faults land on biased
// holders and revokers all the time.
func streamTrial(tr *chaos.T, dir string, producers, consumers int, fault string, bias bool) {
	const n = 3000
	rng := tr.Rand
	q, err := queue.Create("q", 1<<uint(9+rng.IntN(6)), shm.Dir(dir))
	if err != nil {
		tr.Crash("create: %v", err)
		return
	}
	// This process's handle counts as a writer (it never gets): consumers
	// wait for it to close the queue, as for a coordinator.
	defer q.Close()
	counts, closeCounts, err := chaosCounts(dir, producers*n+consumers+1)
	if err != nil {
		tr.Crash("counts: %v", err)
		return
	}
	defer closeCounts()
	var extra []string
	if bias {
		extra = []string{"BIAS=1"}
	}
	var cs, ps []*testproc.Child
	for i := range consumers {
		cs = append(cs, testproc.Start("chaos-consumer", envs(append(streamEnv(dir, i, producers, n), extra...))...))
	}
	for i := range producers {
		ps = append(ps, testproc.Start("producer", envs(append(streamEnv(dir, i, producers, n), append(extra, "PACE=1")...))...))
	}
	defer func() { reap(tr, append(cs, ps...)...) }()

	// The fault, at a random moment once messages flow (a producer killed
	// before it opened the queue was never a writer: consumers would rightly
	// wait for one).
	progress := func() int {
		sum := 0
		for i := range consumers + 1 {
			sum += int(atomic.LoadUint32(&counts[producers*n+i]))
		}
		return sum
	}
	at, deadline := 1+rng.IntN(n/2), time.Now().Add(trialBound)
	for progress() < at {
		if time.Now().After(deadline) {
			tr.Hang("only %d messages went through within %v", progress(), trialBound)
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	killedProducer := make([]bool, producers)
	killedConsumers := 0
	victims := map[*testproc.Child]bool{}
	switch fault {
	case "kill":
		if rng.IntN(2) == 0 || producers > 1 {
			i := rng.IntN(producers)
			_ = ps[i].Kill()
			killedProducer[i] = true
			victims[ps[i]] = true
		}
		if rng.IntN(2) == 0 || producers > 1 || !killedProducer[0] {
			i := rng.IntN(consumers)
			_ = cs[i].Kill()
			killedConsumers++
			victims[cs[i]] = true
			// A replacement drains what the dead one left.
			cs = append(cs, testproc.Start("chaos-consumer", envs(append(streamEnv(dir, consumers, producers, n), extra...))...))
		}
	case "stop":
		all := append(append([]*testproc.Child{}, cs...), ps...)
		c := all[rng.IntN(len(all))]
		_ = syscall.Kill(c.PID(), syscall.SIGSTOP)
		time.Sleep(time.Duration(10+rng.IntN(200)) * time.Millisecond)
		_ = syscall.Kill(c.PID(), syscall.SIGCONT)
	}

	// The producers that live finish; then the stream is closed. If the
	// only producer was killed, this process lets go of its handle instead:
	// the consumers must find their writers gone.
	onlyWriterKilled := producers == 1 && killedProducer[0]
	if onlyWriterKilled {
		_ = q.Close()
	}
	for _, p := range ps {
		if victims[p] {
			continue
		}
		if !waitExit(p, trialBound) {
			tr.Hang("producer did not finish within %v", trialBound)
			return
		}
		exitedBadly(tr, p)
	}
	if !onlyWriterKilled {
		if err := q.CloseWrite(); err != nil {
			tr.Crash("close: %v", err)
			return
		}
	}
	bound := trialBound
	if onlyWriterKilled {
		bound = peerBound // the consumers must see the writer gone
	}
	start := time.Now()
	for _, c := range cs {
		if victims[c] {
			continue
		}
		if !waitExit(c, bound-time.Since(start)) {
			tr.Hang("consumer did not end within %v (writer killed: %v)", bound, onlyWriterKilled)
			return
		}
		exitedBadly(tr, c)
		want := "end closed"
		if onlyWriterKilled {
			want = "end gone"
		}
		if !strings.Contains(c.Stdout(), want) {
			tr.Wrong("consumer ended without %q: %s", want, c.Output())
		}
	}
	checkStream(tr, counts[:producers*n], producers, n, killedProducer, killedConsumers)
	q2, err := queue.Open("q", shm.Dir(dir))
	if err != nil {
		tr.Wrong("reopen: %v", err)
		return
	}
	defer q2.Close()
	if l := q2.Len(); l != 0 {
		tr.Wrong("%d messages left in the queue", l)
	}
}

func envs(kv []string) []string {
	out := make([]string, len(kv))
	for i, s := range kv {
		out[i] = "SHMPAR_TEST_" + s
	}
	return out
}

// TestChaosPipe: an echo process is SIGKILLed at a random moment while this
// process sends and receives; every echo received is whole and in order,
// and Recv reports the peer gone within peerBound.
func TestChaosPipe(t *testing.T) {
	scenario(t, "queue/pipe-kill-echo", func(tr *chaos.T, _ string) {
		rng := tr.Rand
		a, b, err := queue.NewPipeAnon(1 << uint(8+rng.IntN(6)))
		if err != nil {
			tr.Crash("pipe: %v", err)
			return
		}
		defer a.Close()
		g, err := gobBytes(struct{ C *queue.Conn }{b})
		if err != nil {
			tr.Crash("encode: %v", err)
			return
		}
		p := testproc.Start("echo", "SHMPAR_TEST_GOB="+base64.StdEncoding.EncodeToString(g))
		defer reap(tr, p)
		_ = b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), trialBound)
		defer cancel()
		// The kill comes once the echo process has attached its end (it
		// echoed a message): before that, this process still holds that
		// end (it handed it over by gob), so by queue/doc.go the peer is
		// not gone and Recv rightly waits.
		killAt := rng.IntN(300)
		sent, got, killed := 0, 0, false
		var buf []byte
		for {
			if !killed && sent >= killAt && got >= 1 {
				_ = p.Kill()
				killed = true
			}
			if sent < 1000 {
				if err := a.TrySend(crcMsg(sent, 8+sent%200)); err == nil {
					sent++
				} else if !errors.Is(err, queue.ErrFull) {
					if !errors.Is(err, queue.ErrPeerGone) {
						tr.Crash("send: %v", err)
					}
				}
			}
			rctx, rcancel := context.WithTimeout(ctx, peerBound)
			msg, err := a.RecvAppend(rctx, buf[:0])
			rcancel()
			if errors.Is(err, queue.ErrPeerGone) {
				break
			}
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					tr.Hang("recv after %d of %d (kill at %d): %v", got, sent, killAt, err)
				} else {
					tr.Crash("recv after %d of %d (kill at %d): %v", got, sent, killAt, err)
				}
				return
			}
			buf = msg
			if checkCRCMsg(msg) != nil || int(uint32(msg[4])|uint32(msg[5])<<8|uint32(msg[6])<<16|uint32(msg[7])<<24) != got {
				tr.Wrong("echo %d wrong or out of order", got)
				return
			}
			got++
		}
		if got > sent {
			tr.Wrong("%d echoes of %d messages sent", got, sent)
		}
	})
}

// TestChaosJoin: two worker processes take tasks from a joinable queue;
// one is SIGKILLed at a random moment. Join must end within its bound:
// with nil if no task was lost, or with ErrPeerGone; then the survivors'
// counts must match (no task done twice), and making up for the lost
// tasks lets Join return nil.
func TestChaosJoin(t *testing.T) {
	scenario(t, "queue/joinable-kill-worker", func(tr *chaos.T, dir string) {
		const n = 400
		rng := tr.Rand
		j, err := queue.CreateJoinable("q", 1<<uint(9+rng.IntN(5)), shm.Dir(dir))
		if err != nil {
			tr.Crash("create: %v", err)
			return
		}
		defer j.Close()
		counts, closeCounts, err := chaosCounts(dir, n)
		if err != nil {
			tr.Crash("counts: %v", err)
			return
		}
		defer closeCounts()
		var ws []*testproc.Child
		for range 2 {
			ws = append(ws, testproc.Start("chaos-jwork", "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=q", "SHMPAR_TEST_COUNTS=counts"))
		}
		defer func() { reap(tr, ws...) }()
		ctx, cancel := context.WithTimeout(context.Background(), trialBound)
		defer cancel()
		killAt := rng.IntN(n)
		for i := range n {
			if i == killAt {
				_ = ws[0].Kill()
			}
			if err := j.Put(ctx, []byte(strconv.Itoa(i))); err != nil {
				tr.Crash("put %d: %v", i, err)
				return
			}
		}
		err = j.JoinContext(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			tr.Hang("join: %v", err)
			return
		}
		if err != nil && !errors.Is(err, queue.ErrPeerGone) {
			tr.Crash("join: %v", err)
			return
		}
		// The survivor drains the queue and ends; then what is unfinished
		// was lost with the dead worker, which holds one task at most.
		if cerr := j.CloseWrite(); cerr != nil {
			tr.Crash("close: %v", cerr)
			return
		}
		if !waitExit(ws[1], trialBound) {
			tr.Hang("the surviving worker did not end within %v", trialBound)
			return
		}
		exitedBadly(tr, ws[1])
		lost := j.Unfinished()
		zero := 0
		for i, c := range counts[:n] {
			switch {
			case c > 1:
				tr.Wrong("task %d done %d times", i, c)
				return
			case c == 0:
				zero++
			}
		}
		switch {
		case err == nil && (lost != 0 || zero != 0):
			tr.Wrong("Join returned nil with %d unfinished, %d never done", lost, zero)
		case err != nil && (lost < 1 || lost > 1 || zero > lost):
			tr.Wrong("Join reported a loss (%v) with %d unfinished, %d never done", err, lost, zero)
		case err != nil:
			// Making up for the lost task lets Join return.
			_ = j.TaskDone()
			if err := j.JoinContext(ctx); err != nil {
				tr.Wrong("join after making up for %d: %v", lost, err)
			}
		}
	})
}
