package engine_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
)

func benchTeam(b *testing.B, cfg engine.Config) *engine.Team {
	b.Helper()
	team, err := engine.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { team.Close() })
	return team
}

// BenchmarkEmptyFor measures dispatch plus completion of a For whose kernel
// does nothing, beside a sync.WaitGroup fan-out of goroutines.
func BenchmarkEmptyFor(b *testing.B) {
	ctx := context.Background()
	for _, w := range []int{1, 2} {
		for _, c := range []struct {
			name string
			cfg  engine.Config
		}{
			{"process", engine.Config{Workers: w}},
			{"process-primary", engine.Config{Workers: w, Primary: true}},
			{"goroutine", engine.Config{Workers: w, Backend: engine.Goroutine}},
		} {
			b.Run(fmt.Sprintf("%s/workers=%d", c.name, w), func(b *testing.B) {
				team := benchTeam(b, c.cfg)
				lat := make([]time.Duration, 0, 1<<16)
				for b.Loop() {
					t0 := time.Now()
					if err := team.For(ctx, "noop", 1024, nil); err != nil {
						b.Fatal(err)
					}
					if len(lat) < cap(lat) {
						lat = append(lat, time.Since(t0))
					}
				}
				reportMedian(b, lat)
			})
		}
		b.Run(fmt.Sprintf("waitgroup/workers=%d", w), func(b *testing.B) {
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t0 := time.Now()
				var wg sync.WaitGroup
				for i := 1; i < w; i++ {
					wg.Add(1)
					go func() { wg.Done() }()
				}
				wg.Wait()
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			reportMedian(b, lat)
		})
	}
}

// reportMedian reports the median of per-call latencies as µs/call-p50
// (the mean, ns/op, is pulled up by the rare descheduled call).
func reportMedian(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs/call-p50")
}
