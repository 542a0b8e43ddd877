package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/bench"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/vec"
)

// The child role "main" runs shmbench's main with the arguments in envArgs
// (separated by spaces), its stdout going to the file named by envStdout,
// so that a test sees the real exit status and the two streams apart
// (testproc collects the child's stderr).
const (
	envArgs   = "SHMBENCH_TEST_ARGS"
	envStdout = "SHMBENCH_TEST_STDOUT"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error {
		if role != "main" {
			return fmt.Errorf("unknown role %q", role)
		}
		name := os.Getenv(envStdout)
		if r := os.Getenv("OMPI_COMM_WORLD_RANK"); r != "" { // under mpirun: a file per rank
			name += ".rank" + r
		}
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		os.Stdout = f
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv(envArgs))...)
		main() // exits
		return nil
	})
}

// small runs each kernel in a few milliseconds.
const small = "-n 4099,stencil=40,mandelbrot=24,nbody=64,empty=64"

// shmbench runs the command in-process and returns its exit status, stdout
// and stderr.
func shmbench(t *testing.T, args string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, strings.Fields(args), &out, &errb)
	return code, out.String(), errb.String()
}

// shmbenchMain runs main in a child process (the test binary) and returns
// its exit status and output.
func shmbenchMain(t *testing.T, args string) (int, string, string) {
	t.Helper()
	stdout := filepath.Join(t.TempDir(), "stdout")
	stderr, err := testproc.Start("main", envArgs+"="+args, envStdout+"="+stdout).Wait()
	out, rerr := os.ReadFile(stdout)
	require.NoError(t, rerr, "stderr: %s", stderr)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out), stderr
	}
	require.NoError(t, err)
	return 0, string(out), stderr
}

func TestJSONHasExactlyTheKeys(t *testing.T) {
	code, out, stderr := shmbench(t, "-kernel triad,sum,logistic,empty -impl go,vec -workers 1,2 -reps 2 -format json "+small)
	require.Equal(t, exitOK, code, stderr)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	require.Len(t, rows, (3*2+1)*5)
	want := []string{"backend", "efficiency", "gbps", "kernel", "median_s", "min_s", "n", "reps", "speedup", "verified", "workers"}
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		require.Equal(t, want, keys)
		require.Equal(t, true, r["verified"])
		require.Equal(t, 2.0, r["reps"])
		require.Positive(t, r["median_s"].(float64))
		require.Positive(t, r["speedup"].(float64))
		switch r["kernel"] {
		case "triad/go", "triad/vec", "sum/go", "sum/vec":
			require.Positive(t, r["gbps"].(float64))
			require.Equal(t, 4099.0, r["n"])
		case "logistic/go", "logistic/vec", "empty":
			require.Nil(t, r["gbps"], "gbps is null for a compute kernel")
		default:
			t.Errorf("unexpected kernel %v", r["kernel"])
		}
		require.Contains(t, []any{"process", "goroutine", "serial"}, r["backend"])
	}
	require.Equal(t, 64.0, rows[len(rows)-1]["n"], "empty=64")
}

// TestVerificationFailureExitsNonZero runs the real main with a kernel made
// to compute a wrong answer: the rows say FAILED and the status is 2.
func TestVerificationFailureExitsNonZero(t *testing.T) {
	code, out, stderr := shmbenchMain(t, "-kernel copy/vec,dot/go -workers 1,2 -reps 1 -inject-fault dot "+small)
	require.Equal(t, exitFailed, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	require.Contains(t, stderr, "FAILED dot/go process/2")
	require.Contains(t, stderr, "differs from the serial reference")
	var failed, passed int
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != "copy/vec" && f[0] != "dot/go") {
			continue
		}
		switch {
		case f[0] == "dot/go" && f[len(f)-1] == "FAILED":
			failed++
		case f[0] == "copy/vec" && f[len(f)-1] == "yes":
			passed++
		default:
			t.Errorf("unexpected row %q", line)
		}
	}
	require.Equal(t, 5, failed, out)
	require.Equal(t, 5, passed, out)

	code, _, stderr = shmbenchMain(t, "-kernel copy -workers 1 -reps 1 -backend goroutine "+small)
	require.Equal(t, exitOK, code, stderr)
}

func TestBadInputs(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"-kernel triad,bogus", `unknown kernel "bogus"`},
		{"-kernel triad:fast", `schedule "fast"`},
		{"-kernel triad,", "empty name"},
		{"-workers 0", `"0" is out of range`},
		{"-workers 1,x", `"x" is not a team size`},
		{"-workers 4-2", `"4-2" is out of range`},
		{"-workers 1-5000", "out of range"},
		{"-format xml", `-format "xml": want one of table, markdown, csv, json, gobench`},
		{"-plot out.pdf", "must end in .svg or .png"},
		{"-n abc", `"abc" is not a size`},
		{"-n 0", "at least 1"},
		{"-n 3^4", "is not a size"},
		{"-n stencil=2", "stencil"}, // caught by the runner's size check
		{"-n foo=5", `unknown kernel "foo"`},
		{"-reps 0", "-reps 0"},
		{"-warmup -1", "-warmup -1"},
		{"-backend process,thread", `"thread" is not a backend`},
		{"-schedule fast", `-schedule "fast"`},
		{"-chunk -3", "-chunk -3"},
		{"-impl go,asm", `-impl: "asm" is not an implementation (want a list of go, vec`},
		{"-kernel triad/asm", `triad has no implementation "asm" (it has go, vec)`},
		{"-kernel nbody/vec", `nbody has no implementation "vec" (it has go)`},
		{"-inject-fault nope", "unknown kernel"},
		{"-bogus", "flag provided but not defined: -bogus"},
		{"extra", `unexpected argument "extra"`},
	} {
		t.Run(c.args, func(t *testing.T) {
			code, out, stderr := shmbench(t, c.args)
			require.Equal(t, exitError, code, "stdout %q stderr %q", out, stderr)
			require.Contains(t, stderr, c.want)
			require.True(t, strings.HasPrefix(stderr, "shmbench: "), stderr)
			require.Empty(t, out)
		})
	}
	// The real binary exits 1 too.
	code, _, stderr := shmbenchMain(t, "-kernel bogus")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, `unknown kernel "bogus"`)
}

func TestTableAndFormats(t *testing.T) {
	args := "-kernel scale,mandelbrot:static -impl vec,go -workers 1-2 -reps 2 -backend process,goroutine " + small
	code, out, stderr := shmbench(t, args)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "usable CPUs")
	require.Contains(t, out, "vec: "+vec.Impl())
	require.Regexp(t, `(?m)^\s+kernel\s+backend\s+workers\s+n\s+reps\s+median\s+min\s+speedup\s+efficiency\s+GB/s\s+verified$`, out)
	require.Regexp(t, `(?m)^\s+scale/go\s+process\s+2\s+4099\s+2\s+\S+s\s+\S+s\s+[0-9.]+×\s+[0-9]+%\s+[0-9.]+\s+yes$`, out)
	require.Regexp(t, `(?m)^\s+scale/vec\s+process\s+2\s+4099\s+2\s+\S+s\s+\S+s\s+[0-9.]+×\s+[0-9]+%\s+[0-9.]+\s+yes$`, out)
	require.Less(t, strings.Index(out, "scale/go"), strings.Index(out, "scale/vec"), "go before vec, whatever -impl's order")
	require.Regexp(t, `(?m)^\s+mandelbrot:static\s+goroutine\s+1\s+24\s+2\s+\S+\s+\S+\s+1\.00×\s+100%\s+-\s+yes$`, out)
	require.NotRegexp(t, `(?m)^\s+\S+\s+serial\s`, out, "-backend process,goroutine")
	require.Empty(t, stderr, "no progress bar when stderr is not a terminal")

	code, out, _ = shmbench(t, args+" -format markdown")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "| kernel | backend | workers | n | reps | median | min | speedup | efficiency | GB/s | verified |")
	require.Regexp(t, `(?m)^\| scale/vec \| goroutine \| 2 \| 4099 \| 2 \| .* \| yes \|$`, out)

	code, out, _ = shmbench(t, args+" -format csv")
	require.Equal(t, exitOK, code)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, jsonKeys, recs[0])
	require.Len(t, recs, 1+3*4)
	for _, r := range recs[1:] {
		require.Equal(t, "true", r[10])
		if r[0] == "mandelbrot:static" {
			require.Empty(t, r[9], "no GB/s")
		}
	}

	code, out, _ = shmbench(t, args+" -gobench")
	require.Equal(t, exitOK, code)
	line := regexp.MustCompile(`^Benchmark(Scale/impl=(go|vec)|Mandelbrot/schedule=static)/backend=(process|goroutine)/workers=[12] \t *1\t *[0-9.]+ ns/op(\t *[0-9.]+ MB/s)?$`)
	var lines int
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			require.Regexp(t, line, l)
			require.Equal(t, strings.HasPrefix(l, "BenchmarkScale"), strings.HasSuffix(l, "MB/s"), l)
			lines++
		} else {
			require.Regexp(t, `^(goos|goarch|pkg|cpu): `, l)
		}
	}
	require.Equal(t, 3*4*2, lines, "one line per timed repetition")
}

func TestOutputFileAndPlot(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{"svg", "png"} {
		plot := filepath.Join(dir, "speedup."+ext)
		res := filepath.Join(dir, "res-"+ext+".json")
		code, out, stderr := shmbench(t, "-kernel copy,nbody,empty -impl all -workers 1,2 -reps 1 -format json -o "+res+" -plot "+plot+" "+small)
		require.Equal(t, exitOK, code, stderr)
		require.Empty(t, out, "results go to -o")
		var rows []bench.Result
		b, err := os.ReadFile(res)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rows))
		require.Len(t, rows, 20)
		img, err := os.ReadFile(plot)
		require.NoError(t, err)
		if ext == "svg" {
			require.Contains(t, string(img[:200]), "<svg")
			require.Contains(t, string(img), "ideal")
			require.Contains(t, string(img), "GB/s")
			require.Contains(t, string(img), "copy/go")
			require.Contains(t, string(img), "copy/vec")
		} else {
			require.Equal(t, "\x89PNG\r\n\x1a\n", string(img[:8]))
		}
	}
	code, _, stderr := shmbench(t, "-kernel copy -backend serial -reps 1 -plot "+filepath.Join(dir, "x.svg")+" "+small)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "nothing to plot")
	code, _, stderr = shmbench(t, "-kernel copy -backend serial -reps 1 -o "+filepath.Join(dir, "no/such/dir/f")+" "+small)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "-o:")
}

func TestHelpAndList(t *testing.T) {
	code, out, _ := shmbench(t, "-h")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "usage: shmbench")
	require.Contains(t, out, "triad")
	require.NotContains(t, out, "inject-fault", "a test hook, not a user flag")
	require.Contains(t, out, "-impl LIST")
	code, out, _ = shmbench(t, "-list")
	require.Equal(t, exitOK, code)
	for _, k := range bench.Kernels() {
		require.Regexp(t, `(?m)^`+k.Name+` .* `+strings.Join(k.Impls, ",")+` `, out)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"1000": 1000, "2^20": 1 << 20, "1<<24": 1 << 24, "64K": 1 << 16, "16M": 16 << 20, "1G": 1 << 30, " 7 ": 7} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "x", "-5", "0", "2^63", "3^2", "2<<3", "1.5M", "9999999999999999999G"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
}

func TestParseWorkers(t *testing.T) {
	ws, err := parseWorkers("1,2,4-6")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 4, 5, 6}, ws)
	ws, err = parseWorkers("3")
	require.NoError(t, err)
	require.Equal(t, []int{3}, ws)
	for _, in := range []string{"", "0", "1,,2", "a-b", "2-1", "-1", "1-"} {
		_, err := parseWorkers(in)
		require.Error(t, err, in)
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	require.False(t, isTerminal(&b))
	require.False(t, isTerminal(os.NewFile(^uintptr(0), "bad")))
	p := newProgress(&b)
	for i := 1; i <= 3; i++ {
		p.update(i, 3, "triad process/2 rep 1/3")
	}
	p.finish()
	require.Contains(t, b.String(), "triad process/2")
}

func TestSizeAndSeconds(t *testing.T) {
	require.Equal(t, "2^24", sizeString(1<<24))
	require.Equal(t, "2048", sizeString(2048))
	require.Equal(t, "100000", sizeString(100000))
	require.Equal(t, "1.5s", seconds(1.5))
	require.Equal(t, "12.3ms", seconds(0.0123))
	require.Equal(t, "2.41µs", seconds(2.41e-6))
	require.Equal(t, "850ns", seconds(850e-9))
}

// TestSIMDImpl: a build with GOEXPERIMENT=simd has a logistic/simd row,
// verified bitwise; any other build says how to get one.
func TestSIMDImpl(t *testing.T) {
	code, out, stderr := shmbench(t, "-kernel logistic -impl simd,vec -workers 1,2 -reps 1 -format csv "+small)
	if !slices.Contains(bench.Impls(), bench.ImplSIMD) {
		require.Equal(t, exitError, code)
		require.Contains(t, stderr, "simd needs shmbench built with GOEXPERIMENT=simd")
		return
	}
	require.Equal(t, exitOK, code, stderr)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+2*5)
	for i, r := range recs[1:] {
		require.Equal(t, []string{"logistic/vec", "logistic/simd"}[i/5], r[0])
		require.Equal(t, "true", r[10])
	}
}

// TestYieldWhenIdle checks that shmbench asks Open MPI to yield while a
// rank waits, unless the user chose.
func TestYieldWhenIdle(t *testing.T) {
	const v = "OMPI_MCA_mpi_yield_when_idle"
	t.Setenv(v, "0") // restored after the test
	yieldWhenIdle()
	require.Equal(t, "0", os.Getenv(v), "the user's choice is kept")
	os.Unsetenv(v)
	yieldWhenIdle()
	require.Equal(t, "1", os.Getenv(v))
}
