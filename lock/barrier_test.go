//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func init() {
	// barrier G MODE: G rounds of the barrier at offPrim, checking that
	// nobody leaves a round before everyone arrived; the arrivals are
	// counted at offAux (uint64) and the rounds tripped by this process at
	// offAux+8. Then MODE=wait: wait once more and record the outcome in
	// slot offAux+16+4*I; MODE=victim: raise the flag and sleep until killed.
	children["barrier"] = func(mem []byte, args []string) error {
		b, err := Place[Barrier](mem, offPrim)
		if err != nil {
			return err
		}
		rounds, mode := atoi(args[0]), args[1]
		arrivals, trips := memU64(mem, offAux), memU64(mem, offAux+8)
		parties := uint64(b.Parties())
		for g := range uint64(rounds) {
			arrivals.Add(1)
			idx, err := b.Wait()
			if err != nil {
				return fmt.Errorf("round %d: %w", g, err)
			}
			if a := arrivals.Load(); a < parties*(g+1) {
				return fmt.Errorf("round %d: left with only %d arrivals", g, a)
			}
			if idx == int(parties)-1 {
				trips.Add(1)
			}
		}
		switch mode {
		case "victim":
			memU32(mem, offFlag).Store(1)
			time.Sleep(60 * time.Second)
			return errors.New("was not killed")
		case "wait":
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := b.WaitContext(ctx)
			res := uint32(resOther)
			if errors.Is(err, ErrBrokenBarrier) && !errors.Is(err, context.DeadlineExceeded) {
				res = resBroken
			}
			memU32(mem, offAux+16+4*atoi(args[2])).Store(res)
		}
		return nil
	}
}

const resBroken = 10

func TestBarrierProcesses(t *testing.T) {
	const parties = 3
	rounds := 1000
	s := newShared(t)
	b, err := Place[Barrier](s.mem, offPrim)
	require.NoError(t, err)
	require.NoError(t, b.Init(parties))
	survivors := []*child{
		startChild(t, s, "barrier", rounds, "wait", 0),
		startChild(t, s, "barrier", rounds, "wait", 1),
	}
	victim := startChild(t, s, "barrier", rounds, "victim")
	testproc.WaitFor(t, "the rounds", func() bool { return s.u32(offFlag).Load() == 1 })
	require.Equal(t, uint64(parties*rounds), s.u64(offAux).Load())

	// The survivors wait for a round the victim will never join.
	testproc.WaitFor(t, "survivors to wait", func() bool { return b.Waiting() == 2 })
	for _, c := range survivors {
		s.waitChildAsleep(t, c, offPrim)
	}
	start := time.Now()
	require.NoError(t, victim.Kill())
	for _, c := range survivors {
		c.WaitOK(t)
	}
	t.Logf("survivors saw the barrier broken %v after the kill", time.Since(start))
	require.Equal(t, uint64(rounds), s.u64(offAux+8).Load(), "one trip per round")
	require.Equal(t, uint32(resBroken), s.u32(offAux+16).Load())
	require.Equal(t, uint32(resBroken), s.u32(offAux+20).Load())
	require.True(t, b.Broken())
	_, err = b.Wait()
	require.ErrorIs(t, err, ErrBrokenBarrier)

	// Reset makes it usable again.
	b.Reset()
	require.False(t, b.Broken())
	runRounds(t, b, parties, 10)
}

// runRounds runs rounds of b with parties goroutines and checks the arrival
// indices of each round are a permutation of 0..parties-1.
func runRounds(t *testing.T, b *Barrier, parties, rounds int) {
	t.Helper()
	idx := make([][]int, rounds)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, parties)
	for range parties {
		wg.Go(func() {
			for r := range rounds {
				i, err := b.WaitContext(deadline(t, 20*time.Second))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				idx[r] = append(idx[r], i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	want := make([]int, parties)
	for i := range want {
		want[i] = i
	}
	for r := range idx {
		slices.Sort(idx[r])
		require.Equal(t, want, idx[r], "round %d", r)
	}
}

func TestBarrierGoroutines(t *testing.T) {
	var b Barrier
	require.NoError(t, b.Init(4))
	runRounds(t, &b, 4, 200)
	var one Barrier
	require.NoError(t, one.Init(1))
	i, err := one.Wait()
	require.NoError(t, err)
	require.Equal(t, 0, i)
}

func TestBarrierTimeoutBreaks(t *testing.T) {
	var b Barrier
	require.NoError(t, b.Init(2))
	_, err := b.WaitContext(deadline(t, 30*time.Millisecond))
	require.ErrorIs(t, err, ErrBrokenBarrier)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, b.Broken())
	_, err = b.Wait()
	require.ErrorIs(t, err, ErrBrokenBarrier, "stays broken")
	b.Reset()
	runRounds(t, &b, 2, 5)
}

func TestBarrierCancelBreaksOthers(t *testing.T) {
	var b Barrier
	require.NoError(t, b.Init(3))
	other := make(chan error, 1)
	go func() {
		_, err := b.WaitContext(deadline(t, 20*time.Second))
		other <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	check := cancelWhenAsleep(t, 2, b.key(), cancel) // both parties asleep
	_, err := b.WaitContext(ctx)
	check()
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, ErrBrokenBarrier)
	err = <-other
	require.ErrorIs(t, err, ErrBrokenBarrier)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

func TestBarrierAbortAndReset(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(b *Barrier)
	}{{"abort", (*Barrier).Abort}, {"reset", (*Barrier).Reset}} {
		t.Run(tc.name, func(t *testing.T) {
			var b Barrier
			require.NoError(t, b.Init(2))
			got := make(chan error, 1)
			go func() {
				_, err := b.WaitContext(deadline(t, 20*time.Second))
				got <- err
			}()
			testproc.WaitFor(t, "waiter", func() bool { return b.Waiting() == 1 })
			waitAsleep(t, 1, b.key())
			tc.do(&b)
			require.ErrorIs(t, <-got, ErrBrokenBarrier)
			b.Reset()
			runRounds(t, &b, 2, 3)
		})
	}
}

func TestBarrierMisuse(t *testing.T) {
	var b Barrier
	_, err := b.Wait()
	require.ErrorIs(t, err, ErrInvalid, "zero value is not initialized")
	require.ErrorIs(t, b.Init(0), ErrInvalid)
	require.ErrorIs(t, b.Init(-3), ErrInvalid)

	require.NoError(t, b.Init(2))
	require.NoError(t, b.Join())
	require.NoError(t, b.Join())
	n := 0
	for i := range b.slots {
		if b.slots[i].Load() == self {
			n++
		}
	}
	require.Equal(t, 1, n, "joining twice registers once")
	b.Leave()
	for i := range b.slots { // fill with other (live-looking) processes
		b.slots[i].Store(ownerWord(proc.ID{PID: i + 1, Start: 1}))
	}
	require.ErrorIs(t, b.Join(), ErrInvalid)
}

func TestBarrierDeadPartyBreaks(t *testing.T) {
	// A registered process that is gone (here a forged identity) breaks
	// the barrier for a waiter within a check interval.
	var b Barrier
	require.NoError(t, b.Init(2))
	b.slots[BarrierSlots-1].Store(ownerWord(proc.ID{PID: 1<<22 + 5, Start: 1}))
	_, err := b.WaitContext(deadline(t, 20*time.Second))
	require.ErrorIs(t, err, ErrBrokenBarrier)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "died")
}

func TestBarrierSize(t *testing.T) {
	require.Equal(t, uintptr(BarrierSize), unsafe.Sizeof(Barrier{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(Barrier{}))
}
