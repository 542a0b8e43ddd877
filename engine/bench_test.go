package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
				for b.Loop() {
					if err := team.For(ctx, "noop", 1024, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("waitgroup/workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				var wg sync.WaitGroup
				for i := 1; i < w; i++ {
					wg.Add(1)
					go func() { wg.Done() }()
				}
				wg.Wait()
			}
		})
	}
}
