package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func TestParseUnit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		dim   dim
		scale float64
	}{
		{"ns", dimTime, 1e-9},
		{"us", dimTime, 1e-6},
		{"µs", dimTime, 1e-6},
		{"μs", dimTime, 1e-6}, // Greek mu
		{"ms", dimTime, 1e-3},
		{"s", dimTime, 1},
		{"ns/op", dimTime, 1e-9},
		{"µs/call-p50", dimTime, 1e-6},
		{"GB/s", dimBandwidth, 1e9},
		{"MB/s", dimBandwidth, 1e6},
		{"GiB/s", dimBandwidth, 1 << 30},
		{"ops/s", dimRate, 1},
		{"msgs/s", dimRate, 1},
		{"tasks/s", dimRate, 1},
		{"x", dimOther, 1},
		{"speedup", dimOther, 1},
		{"child%", dimOther, 1},
		{"B/op", dimOther, 1},
		{"allocs/op", dimOther, 1},
	} {
		u := parseUnit(tc.in)
		if u.dim != tc.dim || u.scale != tc.scale || u.name != tc.in {
			t.Errorf("parseUnit(%q) = %+v, want dim %d scale %g", tc.in, u, tc.dim, tc.scale)
		}
	}
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		v        float64
		from, to string
		want     float64
		ok       bool
	}{
		{1500, "ns/op", "us", 1.5, true},
		{3.1, "us", "ns", 3100, true},
		{2, "ms", "s", 0.002, true},
		{2500, "MB/s", "GB/s", 2.5, true},
		{1, "GiB/s", "GB/s", 1.073741824, true},
		{40, "ns/op", "ops/s", 25e6, true}, // 1/40 ns
		{25e6, "ops/s", "ns", 40, true},
		{4e6, "msgs/s", "ops/s", 4e6, true},
		{0, "ops/s", "ns", 0, false}, // no time per op for a zero rate
		{1.9, "x", "x", 1.9, true},
		{1.9, "x", "speedup", 0, false},
		{3, "GB/s", "s", 0, false},
		{3, "GB/s", "ops/s", 0, false},
		{3, "B/op", "ns", 0, false},
	} {
		got, ok := convert(tc.v, parseUnit(tc.from), parseUnit(tc.to))
		if ok != tc.ok || (ok && !near(got, tc.want)) {
			t.Errorf("convert(%g %s → %s) = %g, %v; want %g, %v", tc.v, tc.from, tc.to, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"5", 5, true}, {"0.95", 0.95, true}, {"1e6", 1e6, true}, {"100M", 100e6, true},
		{"2k", 2000, true}, {"1.5G", 1.5e9, true}, {"", 0, false}, {"M", 0, false},
		{"5us", 0, false}, {"NaN", 0, false}, {"Inf", 0, false},
	} {
		got, err := parseNumber(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !near(got, tc.want)) {
			t.Errorf("parseNumber(%q) = %g, %v; want %g, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{26.2e6, "ops/s", "26.2 M ops/s"},
		{45000, "tasks/s", "45 k tasks/s"},
		{1.2e9, "tasks/s", "1.2 G tasks/s"},
		{512, "msgs/s", "512 msgs/s"},
		{41.25, "us", "41.2 us"},
		{64.6, "GB/s", "64.6 GB/s"},
		{1.93, "x", "1.93×"},
	} {
		if got := format(tc.v, parseUnit(tc.unit)); got != tc.want {
			t.Errorf("format(%g, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// input mixes every format the tool reads, as the compare script's files
// and a hand-made concatenation would.
const input = `# shmpar baselines: bench/baseline/run
# machine: nproc=2 cpu="AMD EPYC"
c/omp/empty_for/threads=2 3.1 us reps=11
c/omp/triad/n=2^24/threads=2 64.6 GB/s reps=11
c/omp/triad/n=2^24/threads=2 0.00623 s reps=11
py/pool/map2 267 us reps=11 start=fork
c/pthread/robust_mutex/processes=2 2.62e+07 ops/s reps=11 child=48%
# c/stream: done in 20.1 s
goos: linux
goarch: amd64
pkg: github.com/shmpar/shmpar/engine
cpu: AMD EPYC
BenchmarkPoolLatency/map2/process-2         	   27000	     43000 ns/op	        43.00 µs/call
BenchmarkPoolLatency/map2/process-2         	   27000	     41000 ns/op	        41.00 µs/call
BenchmarkPoolLatency/map2/process-2         	   27000	     45000 ns/op	        45.00 µs/call
BenchmarkEmptyFor/process/workers=2-2  	  800000	      1600 ns/op	         1.550 µs/call-p50
BenchmarkMutexContended2/processes=2/lock.Mutex-2	50000000	        40.0 ns/op	  23000000 ops/s	        52.00 child%
BenchmarkSomething/that/logged
--- BENCH: BenchmarkSomething/that/logged
    bench_test.go:12: a log line
PASS
ok  	github.com/shmpar/shmpar/engine	12.3s
kernel,backend,workers,n,reps,median_s,min_s,speedup,efficiency,gbps,verified
triad,process,1,16777216,11,0.015,0.0142,1,1,26.82,true
triad,process,2,16777216,11,0.0136,0.0118,1.1,0.55,29.67,true
logistic,process,2,131072,11,0.0205,0.0201,1.99,0.99,,true
empty,process,2,1024,11,1.35e-06,1.28e-06,0.53,0.27,,true
sum,process,2,16777216,11,0.007,0.0069,2.05,1.02,19.1,false
c/omp/logistic/n=2^17/threads=2 0.0021 s
`

func parsed(t *testing.T) *figures {
	t.Helper()
	f := newFigures()
	if err := f.parse(strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseInputs(t *testing.T) {
	f := parsed(t)
	for _, tc := range []struct {
		name, unit string
		want       []float64
	}{
		{"c/omp/empty_for/threads=2", "us", []float64{3.1}},
		{"c/omp/triad/n=2^24/threads=2", "GB/s", []float64{64.6}},
		{"c/omp/triad/n=2^24/threads=2", "s", []float64{0.00623}},
		{"c/pthread/robust_mutex/processes=2", "ops/s", []float64{2.62e7}},
		{"BenchmarkPoolLatency/map2/process", "ns/op", []float64{43000, 41000, 45000}},
		{"BenchmarkPoolLatency/map2/process", "µs/call", []float64{43, 41, 45}},
		{"BenchmarkEmptyFor/process/workers=2", "µs/call-p50", []float64{1.55}},
		{"BenchmarkMutexContended2/processes=2/lock.Mutex", "ops/s", []float64{23e6}},
		{"BenchmarkMutexContended2/processes=2/lock.Mutex", "child%", []float64{52}},
		{"shmbench/triad/n=2^24/process/workers=1", "GB/s", []float64{26.82}},
		{"shmbench/triad/n=2^24/process/workers=2", "s", []float64{0.0136}},
		{"shmbench/triad/n=2^24/process/workers=2", "x", []float64{1.1}},
		{"shmbench/logistic/n=2^17/process/workers=2", "x", []float64{1.99}},
		{"shmbench/empty/n=1024/process/workers=2", "s", []float64{1.35e-6}},
		{"c/omp/logistic/n=2^17/threads=2", "s", []float64{0.0021}}, // after the CSV block
	} {
		got := f.samples[tc.name][tc.unit]
		if len(got) != len(tc.want) {
			t.Errorf("%s [%s] = %v, want %v", tc.name, tc.unit, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s [%s] = %v, want %v", tc.name, tc.unit, got, tc.want)
			}
		}
	}
	if _, ok := f.samples["shmbench/logistic/n=2^17/process/workers=2"]["GB/s"]; ok {
		t.Error("an empty gbps cell became a figure")
	}
	if _, ok := f.samples["shmbench/sum/n=2^24/process/workers=2"]; ok {
		t.Error("a row that did not verify became a figure")
	}
	if len(f.failed) != 1 || f.failed[0] != "shmbench/sum/n=2^24/process/workers=2" {
		t.Errorf("failed = %v, want the sum row", f.failed)
	}
	if _, ok := f.samples["BenchmarkSomething/that/logged"]; ok {
		t.Error("a benchmark name without results became a figure")
	}
	// goos, goarch, pkg, cpu, the name alone, --- BENCH, the log line, PASS, ok.
	if f.skipped != 9 {
		t.Errorf("skipped %d lines, want 9", f.skipped)
	}
}

func TestParseJSON(t *testing.T) {
	const js = `[
  {"kernel": "triad", "backend": "goroutine", "workers": 2, "n": 67108864, "reps": 11,
   "median_s": 0.05, "min_s": 0.04, "speedup": 1.2, "efficiency": 0.6, "gbps": 32.2, "verified": true},
  {"kernel": "empty", "backend": "process", "workers": 2, "n": 1024, "reps": 11,
   "median_s": 1.3e-6, "min_s": 1e-6, "speedup": null, "efficiency": null, "gbps": null, "verified": true}
]`
	f := newFigures()
	if err := f.parse(strings.NewReader(js)); err != nil {
		t.Fatal(err)
	}
	if got := f.samples["shmbench/triad/n=2^26/goroutine/workers=2"]["GB/s"]; len(got) != 1 || got[0] != 32.2 {
		t.Errorf("triad GB/s = %v", got)
	}
	if got := f.samples["shmbench/empty/n=1024/process/workers=2"]; len(got) != 1 || len(got["s"]) != 1 {
		t.Errorf("empty = %v, want only s", got)
	}
	if err := newFigures().parse(strings.NewReader(`[{"kernel": 3}]`)); err == nil {
		t.Error("bad JSON parsed")
	}
}

func TestValue(t *testing.T) {
	f := parsed(t)
	for _, tc := range []struct {
		name, pin, unit string
		want            float64
		from            string
		ok              bool
	}{
		// the median of three samples, in the unit asked for
		{"BenchmarkPoolLatency/map2/process", "", "us", 43, "ns/op", true},
		{"BenchmarkPoolLatency/map2/process", "µs/call", "us", 43, "µs/call", true},
		// exact unit first, then the same dimension
		{"BenchmarkMutexContended2/processes=2/lock.Mutex", "", "ops/s", 23e6, "ops/s", true},
		{"c/pthread/robust_mutex/processes=2", "", "ns", 1e9 / 2.62e7, "ops/s", true},
		{"c/omp/triad/n=2^24/threads=2", "", "GB/s", 64.6, "GB/s", true},
		{"c/omp/triad/n=2^24/threads=2", "", "ms", 6.23, "s", true},
		{"shmbench/empty/n=1024/process/workers=2", "", "us", 1.35, "s", true},
		{"BenchmarkEmptyFor/process/workers=2", "µs/call-p50", "us", 1.55, "µs/call-p50", true},
		{"shmbench/logistic/n=2^17/process/workers=2", "", "x", 1.99, "x", true},
		// absent: another name, a unit it does not have
		{"c/omp/triad/n=2^26/threads=2", "", "GB/s", 0, "", false},
		{"BenchmarkEmptyFor/process/workers=2", "ops", "us", 0, "", false},
		{"shmbench/logistic/n=2^17/process/workers=2", "", "GB/s", 0, "", false},
	} {
		got, from, ok := f.value(tc.name, tc.pin, parseUnit(tc.unit))
		if ok != tc.ok || from != tc.from || (ok && !near(got, tc.want)) {
			t.Errorf("value(%s [%s] in %s) = %g from %q, %v; want %g from %q, %v",
				tc.name, tc.pin, tc.unit, got, from, ok, tc.want, tc.from, tc.ok)
		}
	}
}

func TestParseSpec(t *testing.T) {
	spec := `# comparisons
run: go test -run '^$' -bench PoolLatency ./engine

Pool map2 | BenchmarkPoolLatency/map2/process [µs/call] | py/pool/map2 | us | <= 5 us
empty For | shmbench/empty/n=1024/process/workers=2 | c/omp/empty_for/threads=2 | us | <= 0.5x
mutex | BenchmarkMutexContended2/processes=2/lock.Mutex | c/pthread/robust_mutex/processes=2 | ops/s | >= 1.2×
team start | BenchmarkTeamStart/process/workers=2 | - | ms | ≤ 10ms
tasks | BenchmarkPoolMap/n=1e6/chunk=auto/process | py/pool/map/n=1e6/chunk=auto | tasks/s | >= 100M tasks/s
no goal | a | b | s
`
	cmps, runs, err := parseSpec(strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0] != `go test -run '^$' -bench PoolLatency ./engine` {
		t.Errorf("runs = %q", runs)
	}
	if len(cmps) != 6 {
		t.Fatalf("%d comparisons, want 6", len(cmps))
	}
	c := cmps[0]
	if c.label != "Pool map2" || c.fig != (ref{"BenchmarkPoolLatency/map2/process", "µs/call"}) ||
		c.base != (ref{name: "py/pool/map2"}) || c.unit.name != "us" || c.line != 4 {
		t.Errorf("first comparison = %+v", c)
	}
	for i, want := range []goal{
		{op: "<=", v: 5, unit: parseUnit("us")},
		{op: "<=", v: 0.5, ratio: true},
		{op: ">=", v: 1.2, ratio: true},
		{op: "<=", v: 10, unit: parseUnit("ms")},
		{op: ">=", v: 100e6, unit: parseUnit("tasks/s")},
	} {
		g := cmps[i].goal
		if g == nil || g.op != want.op || g.v != want.v || g.ratio != want.ratio || g.unit != want.unit {
			t.Errorf("goal of line %d = %+v, want %+v", cmps[i].line, g, want)
		}
	}
	if cmps[3].base.name != "" {
		t.Errorf("'-' baseline = %+v", cmps[3].base)
	}
	if cmps[5].goal != nil {
		t.Errorf("no goal = %+v", cmps[5].goal)
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, line := range []string{
		"only | three | columns",
		"a | b | c | d | e | f",
		" | fig | base | us",
		"label | | base | us",
		"label | fig | base | ",
		"label | fig name | base | us",
		"label | fig [us | base | us",
		"label | fig [GB/s] | base | us",      // a pin that cannot be shown in the unit
		"label | fig | base | us | 5 us",      // no comparison operator
		"label | fig | base | us | <= fast",   // no number
		"label | fig | base | us | <= 5",      // no unit and no x
		"label | fig | base | us | >= 2 GB/s", // a goal unit the figure cannot be
		"run:",
	} {
		if _, _, err := parseSpec(strings.NewReader(line)); err == nil {
			t.Errorf("parseSpec(%q) succeeded", line)
		}
	}
}

func TestEvaluate(t *testing.T) {
	f := parsed(t)
	spec := `Pool map2 | BenchmarkPoolLatency/map2/process [µs/call] | py/pool/map2 | us | <= 5 us
Pool map2 ratio | BenchmarkPoolLatency/map2/process | py/pool/map2 | us | <= 0.2x
empty For | shmbench/empty/n=1024/process/workers=2 | c/omp/empty_for/threads=2 | us | <= 0.5x
mutex | BenchmarkMutexContended2/processes=2/lock.Mutex | c/pthread/robust_mutex/processes=2 | ops/s | >= 1.2x
triad | shmbench/triad/n=2^24/process/workers=2 | c/omp/triad/n=2^24/threads=2 | GB/s | >= 1x
absent baseline | shmbench/triad/n=2^24/process/workers=2 | c/omp/triad/n=2^30/threads=2 | GB/s | >= 1x
absent figure | BenchmarkTeamStart/process/workers=2 | - | ms | <= 10 ms
no goal | shmbench/logistic/n=2^17/process/workers=2 | c/omp/logistic/n=2^17/threads=2 | s
`
	cmps, _, err := parseSpec(strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		v, b, ratio float64
		haveRatio   bool
		met         string
	}{
		{43, 267, 43.0 / 267, true, "no"},
		{43, 267, 43.0 / 267, true, "yes"},
		{1.35, 3.1, 1.35 / 3.1, true, "yes"},
		{23e6, 2.62e7, 23 / 26.2, true, "no"},
		{29.67, 64.6, 29.67 / 64.6, true, "no"},
		{29.67, 0, 0, false, "missing"},
		{0, 0, 0, false, "missing"},
		{0.0205, 0.0021, 0.0205 / 0.0021, true, ""},
	} {
		r := evaluate(cmps[i], f)
		if r.haveRatio != want.haveRatio || r.met != want.met ||
			(r.haveV && !near(r.v, want.v)) || (r.haveB && !near(r.b, want.b)) ||
			(r.haveRatio && !near(r.ratio, want.ratio)) {
			t.Errorf("%s: got v=%g b=%g ratio=%g (%v) met=%q; want %+v", cmps[i].label, r.v, r.b, r.ratio, r.haveRatio, r.met, want)
		}
	}
}

func TestGoalHolds(t *testing.T) {
	for _, tc := range []struct {
		op   string
		x    float64
		want bool
	}{
		{"<=", 5, true}, {"<=", 5.01, false}, {">=", 5, true}, {">=", 4.99, false},
		{"<", 5, false}, {"<", 4, true}, {">", 5, false}, {">", 6, true},
	} {
		g := goal{op: tc.op, v: 5}
		if got := g.holds(tc.x); got != tc.want {
			t.Errorf("%g %s 5 = %v, want %v", tc.x, tc.op, got, tc.want)
		}
	}
}

// TestRun runs the command on files: the table, markdown, -check, -figures,
// -runs and bad input.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := write("spec.txt", `run: echo hello
empty For | shmbench/empty/n=1024/process/workers=2 | c/omp/empty_for/threads=2 | us | <= 0.5x
team start | BenchmarkTeamStart/process/workers=2 | - | ms | <= 10 ms
`)
	in := write("in.txt", input)
	exec := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(input), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := exec("-spec", spec, in)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	for _, want := range []string{"comparison", "empty For", "1.35 us", "3.1 us", "0.435×", "<= 0.5x", "yes", "team start", "missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "shmbench/sum/n=2^24/process/workers=2 did not verify") {
		t.Errorf("stderr does not name the row that did not verify: %q", errs)
	}

	if code, out, _ = exec("-spec", spec, "-format", "markdown", "-"); code != 0 ||
		!strings.Contains(out, "| empty For | 1.35 us | 3.1 us | 0.435× | <= 0.5x | yes |") ||
		!strings.Contains(out, "| team start | missing | - | - | <= 10 ms | missing |") {
		t.Errorf("markdown (exit %d):\n%s", code, out)
	}
	if code, _, _ = exec("-spec", spec, "-check", in); code != 1 {
		t.Errorf("-check with a missing figure: exit %d, want 1", code)
	}
	if code, out, _ = exec("-spec", spec, "-runs"); code != 0 || out != "echo hello\n" {
		t.Errorf("-runs: exit %d, %q", code, out)
	}
	if code, out, _ = exec("-figures", in); code != 0 || !strings.Contains(out, "BenchmarkPoolLatency/map2/process") ||
		!strings.Contains(out, "3 samples") {
		t.Errorf("-figures: exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{
		{"-spec", filepath.Join(dir, "absent.txt"), in},
		{"-spec", spec, filepath.Join(dir, "absent.txt")},
		{"-spec", spec, "-format", "html", in},
		{"-spec", write("bad.txt", "label | fig\n"), in},
		{"-bogus"},
	} {
		if code, _, _ := exec(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
