package engine_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
)

type triadArgs struct {
	A, B, C *array.Array[float64]
	S       float64
}

type logisticArgs struct {
	X     *array.Array[float64]
	Steps int
}

// triad is STREAM's a = b + s·c.
func triad(a, b, c []float64, s float64) {
	for i := range a {
		a[i] = b[i] + s*c[i]
	}
}

// logistic iterates x ← r·x·(1-x) steps times from each element's start
// value: compute-bound, no memory traffic to speak of.
func logistic(x []float64, lo, steps int) {
	const r = 3.9
	for i := range x {
		v := 0.1 + 0.8*float64((lo+i)%1000)/1000
		for range steps {
			v = r * v * (1 - v)
		}
		x[i] = v
	}
}

var (
	triadK = engine.Register("triad", func(c *engine.Ctx, a triadArgs, lo, hi int) error {
		triad(a.A.Data()[lo:hi], a.B.Data()[lo:hi], a.C.Data()[lo:hi], a.S)
		return nil
	}, engine.Idempotent())
	logisticK = engine.Register("logistic", func(c *engine.Ctx, a logisticArgs, lo, hi int) error {
		logistic(a.X.Data()[lo:hi], lo, a.Steps)
		return nil
	}, engine.Idempotent())
	dotK = engine.RegisterReduce("bench-dot", func(c *engine.Ctx, a dotArgs, lo, hi int) (float64, error) {
		x, y := a.X.Data()[lo:hi], a.Y.Data()[lo:hi]
		s := 0.0
		for i := range x {
			s += x[i] * y[i]
		}
		return s, nil
	}, engine.Idempotent())
)

type dotArgs struct{ X, Y *array.Array[float64] }

func benchTeam(b *testing.B, opts []engine.TeamOption) *engine.Team {
	b.Helper()
	team, err := engine.Start(opts...)
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
			opts []engine.TeamOption
		}{
			{"process", []engine.TeamOption{engine.Workers(w)}},
			{"process-primary", []engine.TeamOption{engine.Workers(w), engine.Primary(true)}},
			{"goroutine", []engine.TeamOption{engine.Workers(w), engine.Goroutine}},
		} {
			b.Run(fmt.Sprintf("%s/workers=%d", c.name, w), func(b *testing.B) { benchEmptyFor(b, ctx, c.opts) })
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

// BenchmarkEmptyForCancelable is BenchmarkEmptyFor with a context that can
// end, as most programs pass (signal.NotifyContext, a request's context):
// the team must watch it, and a For of one context after another shares
// one watch instead of registering a callback per call.
func BenchmarkEmptyForCancelable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		opts []engine.TeamOption
	}{
		{"process", []engine.TeamOption{engine.Workers(2)}},
		{"process-primary", []engine.TeamOption{engine.Workers(2), engine.Primary(true)}},
		{"goroutine", []engine.TeamOption{engine.Workers(2), engine.Goroutine}},
	} {
		b.Run(c.name+"/workers=2", func(b *testing.B) { benchEmptyFor(b, ctx, c.opts) })
	}
}

// benchEmptyFor times empty For calls with ctx on a team of opts, and
// reports the median call beside the mean.
func benchEmptyFor(b *testing.B, ctx context.Context, opts []engine.TeamOption) {
	team := benchTeam(b, opts)
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		t0 := time.Now()
		if err := noopK.For(ctx, team, 1024, struct{}{}); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	reportMedian(b, lat)
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

// teamKinds are the backends each throughput benchmark compares.
var teamKinds = []struct {
	name string
	opts func(w int) []engine.TeamOption
}{
	{"process", func(w int) []engine.TeamOption { return []engine.TeamOption{engine.Workers(w)} }},
	{"process-primary", func(w int) []engine.TeamOption { return []engine.TeamOption{engine.Workers(w), engine.Primary(true)} }},
	{"goroutine", func(w int) []engine.TeamOption { return []engine.TeamOption{engine.Workers(w), engine.Goroutine} }},
}

// BenchmarkTriad runs STREAM triad over 2^26 float64 (1.5 GiB touched per
// call) on process and goroutine teams of 1, 2 and four per usable CPU
// workers, beside a serial loop. MB/s counts 24 bytes per element.
func BenchmarkTriad(b *testing.B) {
	const n = 1 << 26
	mk := func() *array.Array[float64] {
		a, err := array.CreateAnon[float64](n)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		return a
	}
	args := triadArgs{A: mk(), B: mk(), C: mk(), S: 3}
	for i := range n {
		args.B.Data()[i], args.C.Data()[i] = float64(i), 1
	}
	ctx := context.Background()
	b.Run("serial/n=2^26", func(b *testing.B) {
		triad(args.A.Data(), args.B.Data(), args.C.Data(), args.S) // first touch
		b.SetBytes(24 * n)
		for b.Loop() {
			triad(args.A.Data(), args.B.Data(), args.C.Data(), args.S)
		}
	})
	// Crowded: four workers per usable CPU, whose static blocks the running
	// workers steal from the others (8 on this project's 2-vCPU machines).
	crowded := 4 * engine.UsableCPUs()
	for _, w := range []int{1, 2, crowded} {
		for _, k := range teamKinds {
			name := fmt.Sprintf("%s/n=2^26/workers=%d", k.name, w)
			if w == crowded {
				name = fmt.Sprintf("%s/n=2^26/workers=4xCPUs", k.name)
			}
			b.Run(name, func(b *testing.B) {
				team := benchTeam(b, k.opts(w))
				// Warm up: each worker process faults the pages into its
				// own page tables on first use (once per worker).
				if err := triadK.For(ctx, team, n, args); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(24 * n)
				for b.Loop() {
					if err := triadK.For(ctx, team, n, args); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLogistic runs 200 steps of the logistic map per element over
// 2^16 elements and reports the speedup at 2 workers over 1 worker of the
// same backend, measured in the same run.
func BenchmarkLogistic(b *testing.B) {
	const n = 1 << 16
	x, err := array.CreateAnon[float64](n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	args := logisticArgs{X: x, Steps: 200}
	ctx := context.Background()
	for _, k := range teamKinds {
		var one float64
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/n=2^16/workers=%d", k.name, w), func(b *testing.B) {
				team := benchTeam(b, k.opts(w))
				if err := logisticK.For(ctx, team, n, args); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for b.Loop() {
					if err := logisticK.For(ctx, team, n, args); err != nil {
						b.Fatal(err)
					}
				}
				per := float64(time.Since(start)) / float64(b.N)
				if w == 1 {
					one = per
				} else if one > 0 {
					b.ReportMetric(one/per, "speedup")
				}
			})
		}
	}
}

// BenchmarkTeamStart measures Start of a process team until every worker
// has reported ready (Close is not timed), and reports the median as
// ms/start-p50 beside the mean.
func BenchmarkTeamStart(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []engine.TeamOption
	}{
		{"process/workers=2", []engine.TeamOption{engine.Workers(2)}},
		{"process-primary/workers=2", []engine.TeamOption{engine.Workers(2), engine.Primary(true)}},
		{"process/workers=8", []engine.TeamOption{engine.Workers(8)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				team, err := engine.Start(c.opts...)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				if err := team.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "ms/start-p50")
		})
	}
}

// BenchmarkDot runs a dot product of 2^24 float64 with dynamic and
// deterministic chunks (the reductions' schedules that claim chunks from
// the shared counter) on process and goroutine teams, and reports the
// speedup at 2 workers over 1 worker of the same team kind. A process team
// whose speedup falls behind the goroutine team's has a cost per chunk that
// the goroutines do not pay (issue 13 saw 0.41x on an AMD virtual machine,
// where the goroutine team got 1.9x).
func BenchmarkDot(b *testing.B) {
	const n = 1 << 24
	mk := func() *array.Array[float64] {
		a, err := array.CreateAnon[float64](n)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		for i := range a.Data() {
			a.Data()[i] = float64(i%7) - 3
		}
		return a
	}
	args := dotArgs{X: mk(), Y: mk()}
	ctx := context.Background()
	for _, sc := range []struct {
		name string
		opt  engine.Option
	}{{"dynamic", engine.Dynamic(0)}, {"deterministic", engine.Deterministic(0)}} {
		for _, k := range teamKinds {
			var one float64
			for _, w := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/n=2^24/workers=%d", sc.name, k.name, w), func(b *testing.B) {
					team := benchTeam(b, k.opts(w))
					want, err := dotK.Reduce(ctx, team, n, args, engine.Sum[float64](), sc.opt) // each worker maps the pages once
					if err != nil {
						b.Fatal(err)
					}
					b.SetBytes(16 * n)
					start := time.Now()
					for b.Loop() {
						got, err := dotK.Reduce(ctx, team, n, args, engine.Sum[float64](), sc.opt)
						if err != nil || got != want && sc.name == "deterministic" {
							b.Fatal(got, want, err)
						}
					}
					per := float64(time.Since(start)) / float64(b.N)
					if w == 1 {
						one = per
					} else if one > 0 {
						b.ReportMetric(one/per, "speedup")
					}
				})
			}
		}
	}
}

// BenchmarkForProgress runs a For of 1,024 Dynamic chunks (the logistic
// map, 20 steps per element over 2^16 elements: about half a millisecond
// on two workers) with and without ReportProgress, so that the cost of the
// option shows as the difference of the two rows (benchstat -col
// /progress). The callback does nothing.
func BenchmarkForProgress(b *testing.B) {
	const n, chunk = 1 << 16, 64
	x, err := array.CreateAnon[float64](n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	args := logisticArgs{X: x, Steps: 20}
	ctx := context.Background()
	for _, k := range teamKinds {
		team := benchTeam(b, k.opts(2))
		for range 100 { // warm up: the first jobs of a team are slower
			if err := logisticK.For(ctx, team, n, args, engine.Dynamic(chunk)); err != nil {
				b.Fatal(err)
			}
		}
		for _, on := range []bool{false, true} {
			opts := []engine.Option{engine.Dynamic(chunk)}
			if on {
				opts = append(opts, engine.ReportProgress(func(done, total int) {}))
			}
			b.Run(fmt.Sprintf("%s/workers=2/progress=%v", k.name, on), func(b *testing.B) {
				if err := logisticK.For(ctx, team, n, args, opts...); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := logisticK.For(ctx, team, n, args, opts...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
