//go:build linux

package lock

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
		if err := childWaitFor("start", func() bool { return stop.Load() != 0 }); err != nil {
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
		waitFor(b, "child", func() bool { return s.u32(offFlag).Load() == 1 })
		s.u32(offGo).Store(1)
		time.Sleep(time.Millisecond) // let the child get going
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			_ = m.Lock()
			*ctr++
			_ = m.Unlock()
		}
		el := time.Since(start)
		b.StopTimer()
		_ = m.Lock()
		childOps := *ctr - uint64(b.N)
		_ = m.Unlock()
		s.u32(offGo).Store(2)
		k.wait(b)
		total := float64(uint64(b.N)+childOps) / el.Seconds()
		b.ReportMetric(total, "ops/s")
		b.ReportMetric(float64(childOps)/float64(uint64(b.N)+childOps)*100, "child%")
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
		time.Sleep(time.Millisecond)
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
