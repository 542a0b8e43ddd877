package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/shmpar/shmpar/bench"
	"github.com/shmpar/shmpar/vec"
)

// Formats lists the -format values.
var formats = []string{"table", "markdown", "csv", "json", "gobench"}

// columns are the table and markdown headings, in the order of cells.
var columns = []string{"kernel", "backend", "workers", "n", "reps", "median", "min", "speedup", "efficiency", "GB/s", "verified"}

// acrossRanks reports whether rs come from a run across ranks, whose
// tables have a ranks column.
func acrossRanks(rs []bench.Result) bool {
	return len(rs) > 0 && rs[0].Ranks > 0
}

// columnsOf returns the columns of the table of rs: columns, with ranks
// after backend across ranks.
func columnsOf(rs []bench.Result) []string {
	if !acrossRanks(rs) {
		return columns
	}
	return slices.Insert(slices.Clone(columns), 2, "ranks")
}

// cells formats a row for the table and markdown formats (with a ranks
// cell when the row ran across ranks).
func cells(r bench.Result) []string {
	c := []string{r.Kernel, r.Backend, strconv.Itoa(r.Workers), sizeString(r.N), strconv.Itoa(r.Reps),
		"-", "-", "-", "-", "-", "yes"}
	if len(r.Samples) > 0 {
		c[5], c[6] = seconds(r.MedianS), seconds(r.MinS)
	}
	if r.Speedup != nil {
		c[7] = fmt.Sprintf("%.2f×", *r.Speedup)
		c[8] = fmt.Sprintf("%.0f%%", 100**r.Efficiency)
	}
	if r.GBps != nil {
		c[9] = fmt.Sprintf("%.2f", *r.GBps)
	}
	if r.Failed() {
		c[10] = "FAILED"
	}
	if r.Ranks > 0 {
		c = slices.Insert(c, 2, strconv.Itoa(r.Ranks))
	}
	return c
}

// sizeString writes powers of two from 2^16 up as 2^k, other sizes as
// plain integers.
func sizeString(n int) string {
	if n >= 1<<16 && n&(n-1) == 0 {
		return fmt.Sprintf("2^%d", bits.TrailingZeros(uint(n)))
	}
	return strconv.Itoa(n)
}

// seconds formats a duration in seconds with three significant digits.
func seconds(s float64) string {
	d := time.Duration(s * 1e9)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", s)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", s*1e3)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.3gµs", s*1e6)
	}
	return fmt.Sprintf("%.3gns", s*1e9)
}

// header describes the run: the machine and the settings the figures
// depend on.
func header(o *options) string {
	if o.world != nil {
		_, node := o.world.Node()
		return fmt.Sprintf("%s\nacross %d MPI ranks (%d on this node), one team each; a repetition's time is the slowest rank's",
			headerLine(o), o.world.Size(), node)
	}
	return headerLine(o)
}

// headerLine is the header's first line: this machine and the settings.
func headerLine(o *options) string {
	return fmt.Sprintf("shmbench: %d usable CPUs (%s), %s/%s, %s, vec: %s; median of %d reps after %d warm-up; process teams: primary=%v pin=%v",
		o.cpus, cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), vec.Impl(), o.cfg.Reps, max(o.cfg.Warmup, 0), o.cfg.Primary, o.cfg.Pin)
}

const legend = `kernel/go: the plain Go loop; kernel/vec: package vec (SIMD assembly, streaming stores);
kernel/simd: simd/archsimd (GOEXPERIMENT=simd builds); kernel:schedule: not its default schedule.
speedup: median at 1 worker of the same kernel and backend ÷ median; efficiency: speedup ÷ workers;
GB/s: bytes read + written per repetition (STREAM counts) ÷ median; empty: time per For call;
verified: the result equals the serial reference bitwise (see go doc bench).`

// legendRanks is added to the legend across ranks.
const legendRanks = `ranks: MPI ranks that ran the row, each its part on its own team of workers; speedup: median at
1 rank × 1 worker ÷ median; efficiency: speedup ÷ (ranks × workers).`

func writeTable(w io.Writer, o *options, rs []bench.Result) error {
	fmt.Fprintln(w, header(o))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	columns := columnsOf(rs)
	fmt.Fprintln(tw, strings.Join(columns, "\t")+"\t")
	prev := ""
	for _, r := range rs {
		if prev != "" && r.Kernel != prev {
			fmt.Fprintln(tw, strings.Repeat("\t", len(columns)))
		}
		prev = r.Kernel
		fmt.Fprintln(tw, strings.Join(cells(r), "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if acrossRanks(rs) {
		fmt.Fprintln(w, legendRanks)
	}
	_, err := fmt.Fprintln(w, legend)
	return err
}

func writeMarkdown(w io.Writer, o *options, rs []bench.Result) error {
	fmt.Fprintf(w, "%s\n\n", header(o))
	columns := columnsOf(rs)
	fmt.Fprintf(w, "| %s |\n", strings.Join(columns, " | "))
	seps := make([]string, len(columns))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0], seps[1] = "---", "---"
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rs {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells(r), " | "))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// jsonKeys are the keys of a JSON row, also the CSV header.
var jsonKeys = []string{"kernel", "backend", "workers", "n", "reps", "median_s", "min_s", "speedup", "efficiency", "gbps", "verified"}

func writeJSON(w io.Writer, rs []bench.Result) error {
	if rs == nil {
		rs = []bench.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}

func writeCSV(w io.Writer, rs []bench.Result) error {
	cw := csv.NewWriter(w)
	keys := jsonKeys
	if acrossRanks(rs) {
		keys = append(slices.Clone(jsonKeys), "ranks")
	}
	cw.Write(keys)
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	for _, r := range rs {
		row := []string{r.Kernel, r.Backend, strconv.Itoa(r.Workers), strconv.Itoa(r.N), strconv.Itoa(r.Reps),
			strconv.FormatFloat(r.MedianS, 'g', -1, 64), strconv.FormatFloat(r.MinS, 'g', -1, 64),
			opt(r.Speedup), opt(r.Efficiency), opt(r.GBps), strconv.FormatBool(!r.Failed())}
		if len(keys) > len(jsonKeys) {
			row = append(row, strconv.Itoa(r.Ranks))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// writeGoBench writes one line in Go benchmark format per timed repetition
// (benchstat takes repeated lines of one name as samples):
//
//	BenchmarkTriad/backend=process/workers=2 	       1	  12345678 ns/op	 2500.00 MB/s
//
// The iteration count is the number of calls timed together (1000 for
// empty), ns/op the time per call. Failed rows are left out: fast and wrong
// is not a result.
func writeGoBench(w io.Writer, rs []bench.Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "goos: %s\ngoarch: %s\npkg: github.com/shmpar/shmpar/bench\n", runtime.GOOS, runtime.GOARCH)
	if m := cpuModel(); m != "" {
		fmt.Fprintf(bw, "cpu: %s\n", m)
	}
	for _, r := range rs {
		if r.Failed() {
			continue
		}
		name := benchName(r)
		k, _ := bench.Lookup(r.Name)
		bytes, bw2 := k.BytesPerRep(r.N)
		for _, s := range r.Samples {
			fmt.Fprintf(bw, "%s \t%8d\t%12.1f ns/op", name, r.Calls, s*1e9)
			if bw2 {
				fmt.Fprintf(bw, "\t%8.2f MB/s", bytes/(s*float64(r.Calls))/1e6)
			}
			fmt.Fprintln(bw)
		}
	}
	return bw.Flush()
}

// benchName is "Benchmark" + the kernel's name capitalized, with its
// implementation when it has several, its schedule when not the default,
// its backend and its team size:
// BenchmarkTriad/impl=vec/backend=process/workers=2.
func benchName(r bench.Result) string {
	label, sched, _ := strings.Cut(r.Kernel, ":")
	name, impl, _ := strings.Cut(label, "/")
	rs := []rune(name)
	rs[0] = unicode.ToUpper(rs[0])
	s := "Benchmark" + string(rs)
	if impl != "" {
		s += "/impl=" + impl
	}
	if sched != "" {
		s += "/schedule=" + sched
	}
	if r.Ranks > 0 {
		s += fmt.Sprintf("/ranks=%d", r.Ranks)
	}
	return fmt.Sprintf("%s/backend=%s/workers=%d", s, r.Backend, r.Workers)
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
