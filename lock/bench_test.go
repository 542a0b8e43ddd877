//go:build linux

package lock

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/testproc"
)

func init() {
	// benchloop: lock+increment+unlock on the shared mutex until the stop
	// flag (offGo == 2) is raised; add the ops done to offAux (uint64).
	children["benchloop"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		ctr := (*uint64)(unsafePointer(mem, offCounter))
		stop := memU32(mem, offGo)
		memU32(mem, offFlag).Store(1)
		if err := testproc.Poll("start", func() bool { return stop.Load() != 0 }); err != nil {
			return err
		}
		n := uint64(0)
		for stop.Load() == 1 {
			for range 64 {
				if err := m.Lock(); err != nil {
					return err
				}
				*ctr++
				if err := m.Unlock(); err != nil {
					return err
				}
			}
			n += 64
		}
		memU64(mem, offAux).Store(n)
		return nil
	}
}

func BenchmarkMutexUncontended(b *testing.B) {
	// Both measure the lock alone: an empty critical section, on purpose
	// (anything inside would be measured too, and costs the two differently).
	b.Run("lock.Mutex", func(b *testing.B) {
		var m Mutex
		for b.Loop() {
			_ = m.Lock()
			_ = m.Unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var m sync.Mutex
		for b.Loop() {
			m.Lock()
			//lint:ignore SA2001 the benchmark measures the lock alone
			m.Unlock()
		}
	})
}

// BenchmarkMutexContended2 measures two contenders doing lock, increment,
// unlock in a loop, and reports the total rate of both as ops/s.
func BenchmarkMutexContended2(b *testing.B) {
	b.Run("processes=2/lock.Mutex", func(b *testing.B) {
		s := newShared(b)
		m, err := Place[Mutex](s.mem, offMutex)
		if err != nil {
			b.Fatal(err)
		}
		ctr := s.plain(offCounter)
		k := startChild(b, s, "benchloop")
		testproc.WaitFor(b, "child", func() bool { return s.u32(offFlag).Load() == 1 })
		s.u32(offGo).Store(1)
		testproc.WaitFor(b, "the child to get going", func() bool {
			_ = m.Lock()
			defer m.Unlock()
			return *ctr != 0
		})
		b.ResetTimer()
		start := time.Now()
		_ = m.Lock()
		base := *ctr
		_ = m.Unlock()
		for i := 0; i < b.N; i++ {
			_ = m.Lock()
			*ctr++
			_ = m.Unlock()
		}
		el := time.Since(start)
		b.StopTimer()
		_ = m.Lock()
		childOps := *ctr - base - uint64(b.N)
		_ = m.Unlock()
		s.u32(offGo).Store(2)
		k.WaitOK(b)
		total := float64(uint64(b.N)+childOps) / el.Seconds()
		b.ReportMetric(total, "ops/s")
		b.ReportMetric(float64(childOps)/float64(uint64(b.N)+childOps)*100, "child%")
	})
	b.Run("goroutines=2/lock.Mutex", func(b *testing.B) {
		var m Mutex
		var ctr uint64
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				for range 64 {
					_ = m.Lock()
					ctr++
					_ = m.Unlock()
				}
			}
		}()
		testproc.WaitFor(b, "the other goroutine to get going", func() bool {
			_ = m.Lock()
			defer m.Unlock()
			return ctr != 0
		})
		b.ResetTimer()
		start := time.Now()
		_ = m.Lock()
		base := ctr
		_ = m.Unlock()
		for i := 0; i < b.N; i++ {
			_ = m.Lock()
			ctr++
			_ = m.Unlock()
		}
		el := time.Since(start)
		b.StopTimer()
		stop.Store(true)
		<-done
		otherOps := ctr - base - uint64(b.N)
		b.ReportMetric(float64(uint64(b.N)+otherOps)/el.Seconds(), "ops/s")
		b.ReportMetric(float64(otherOps)/float64(uint64(b.N)+otherOps)*100, "child%")
	})
	b.Run("goroutines=2/sync.Mutex", func(b *testing.B) {
		var m sync.Mutex
		var ctr uint64
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				for range 64 {
					m.Lock()
					ctr++
					m.Unlock()
				}
			}
		}()
		testproc.WaitFor(b, "the other goroutine to get going", func() bool {
			m.Lock()
			defer m.Unlock()
			return ctr != 0
		})
		b.ResetTimer()
		start := time.Now()
		m.Lock()
		base := ctr
		m.Unlock()
		for i := 0; i < b.N; i++ {
			m.Lock()
			ctr++
			m.Unlock()
		}
		el := time.Since(start)
		b.StopTimer()
		stop.Store(true)
		<-done
		otherOps := ctr - base - uint64(b.N)
		b.ReportMetric(float64(uint64(b.N)+otherOps)/el.Seconds(), "ops/s")
		b.ReportMetric(float64(otherOps)/float64(uint64(b.N)+otherOps)*100, "child%")
	})
}

func init() {
	// barrierloop SPIN: wait for the start flag, then Wait on the barrier
	// at offPrim as many times as offAux says. SPIN=0 disables spinning.
	children["barrierloop"] = func(mem []byte, args []string) error {
		b, err := Place[Barrier](mem, offPrim)
		if err != nil {
			return err
		}
		if args[0] == "0" {
			spinLimit = 0
		}
		memU32(mem, offFlag).Store(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for range memU64(mem, offAux).Load() {
			if _, err := b.Wait(); err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkBarrierRoundTrip measures one round of a 2-party barrier: between
// two processes (with and without the spin phase, which shows what a futex
// sleep and wake-up costs), between two goroutines, and, as a reference, a
// two-goroutine rendezvous over channels.
func BenchmarkBarrierRoundTrip(b *testing.B) {
	for _, spinning := range []bool{true, false} {
		name := "processes=2/lock.Barrier"
		if !spinning {
			name += "/nospin"
		}
		b.Run(name, func(b *testing.B) {
			s := newShared(b)
			bar, err := Place[Barrier](s.mem, offPrim)
			if err != nil {
				b.Fatal(err)
			}
			if err := bar.Init(2); err != nil {
				b.Fatal(err)
			}
			s.u64(offAux).Store(uint64(b.N))
			k := startChild(b, s, "barrierloop", map[bool]int{true: 1, false: 0}[spinning])
			testproc.WaitFor(b, "child", func() bool { return s.u32(offFlag).Load() == 1 })
			defer func(old time.Duration) { spinLimit = old }(spinLimit)
			if !spinning {
				spinLimit = 0
			}
			s.u32(offGo).Store(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := bar.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			k.WaitOK(b)
		})
	}
	b.Run("goroutines=2/lock.Barrier", func(b *testing.B) {
		var bar Barrier
		_ = bar.Init(2)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < b.N; i++ {
				_, _ = bar.Wait()
			}
		}()
		for i := 0; i < b.N; i++ {
			_, _ = bar.Wait()
		}
		<-done
	})
	b.Run("goroutines=2/chan", func(b *testing.B) {
		ping, pong := make(chan struct{}), make(chan struct{})
		go func() {
			for range ping {
				pong <- struct{}{}
			}
		}()
		for i := 0; i < b.N; i++ {
			ping <- struct{}{}
			<-pong
		}
		close(ping)
	})
}

func BenchmarkRWMutexUncontendedRead(b *testing.B) {
	// Both measure the lock alone, as BenchmarkMutexUncontended does.
	b.Run("lock.RWMutex", func(b *testing.B) {
		var rw RWMutex
		for b.Loop() {
			_ = rw.RLock()
			_ = rw.RUnlock()
		}
	})
	b.Run("sync.RWMutex", func(b *testing.B) {
		var rw sync.RWMutex
		for b.Loop() {
			rw.RLock()
			//lint:ignore SA2001 the benchmark measures the lock alone
			rw.RUnlock()
		}
	})
}
