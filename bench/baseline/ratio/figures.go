package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// figures holds every sample read, by figure name and unit. A figure read
// several times (go test -count 6, repeated baseline runs) has several
// samples; its value is their median.
type figures struct {
	samples map[string]map[string][]float64 // name → unit → samples
	units   map[string][]string             // name → units in the order first seen
	names   []string                        // names in the order first seen
	skipped int                             // lines that were not figures
	failed  []string                        // shmbench rows that did not verify
}

func newFigures() *figures {
	return &figures{samples: map[string]map[string][]float64{}, units: map[string][]string{}}
}

func (f *figures) add(name, unit string, v float64) {
	m, ok := f.samples[name]
	if !ok {
		m = map[string][]float64{}
		f.samples[name] = m
		f.names = append(f.names, name)
	}
	if _, ok := m[unit]; !ok {
		f.units[name] = append(f.units[name], unit)
	}
	m[unit] = append(m[unit], v)
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// value returns figure name in unit want: from its samples in unit pin when
// pin is not empty; otherwise from the samples in want itself, else the
// first unit of the same dimension, else the first convertible one (time
// and rate convert into each other). It returns the unit it took the
// samples from.
func (f *figures) value(name, pin string, want unit) (v float64, from string, ok bool) {
	m := f.samples[name]
	if m == nil {
		return 0, "", false
	}
	pick := func(u string) (float64, string, bool) {
		xs := m[u]
		if len(xs) == 0 {
			return 0, "", false
		}
		v, ok := convert(median(slices.Clone(xs)), parseUnit(u), want)
		return v, u, ok
	}
	if pin != "" {
		return pick(pin)
	}
	if _, ok := m[want.name]; ok {
		return pick(want.name)
	}
	for _, u := range f.units[name] {
		if parseUnit(u).dim == want.dim && want.dim != dimOther {
			return pick(u)
		}
	}
	for _, u := range f.units[name] {
		if convertible(parseUnit(u), want) {
			return pick(u)
		}
	}
	return 0, "", false
}

// gomaxprocs is the -N suffix go test adds to a benchmark's name.
var gomaxprocs = regexp.MustCompile(`-\d+$`)

// shmbenchCSV is the start of shmbench's CSV header.
const shmbenchCSV = "kernel,backend,workers,n,"

// parse reads one input: shmbench -format json (a JSON array), or lines of
// any mix of baseline figures ("name value unit [notes]"), go test -bench
// output ("BenchmarkX/sub-2  N  v unit  v unit …") and shmbench -format csv
// (a header line, then rows). Other lines (comments, go test chatter) are
// skipped and counted.
func (f *figures) parse(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		return f.parseJSON(t)
	}
	var header []string // the columns of a shmbench CSV block, while in one
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if header != nil {
			if rec, err := csv.NewReader(strings.NewReader(line)).Read(); err == nil && len(rec) == len(header) {
				if err := f.addShmbench(header, rec); err != nil {
					return fmt.Errorf("line %d: %w", ln, err)
				}
				continue
			}
			header = nil
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, shmbenchCSV):
			header = strings.Split(line, ",")
		case strings.HasPrefix(line, "Benchmark"):
			if !f.parseGoBench(line) {
				f.skipped++
			}
		default:
			if !f.parseBaseline(line) {
				f.skipped++
			}
		}
	}
	return sc.Err()
}

// parseBaseline adds a "name value unit [notes]" line; it reports false
// for a line of another shape.
func (f *figures) parseBaseline(line string) bool {
	fs := strings.Fields(line)
	if len(fs) < 3 {
		return false
	}
	v, err := strconv.ParseFloat(fs[1], 64)
	if err != nil {
		return false
	}
	f.add(fs[0], fs[2], v)
	return true
}

// parseGoBench adds the metrics of a go test -bench result line under the
// benchmark's name without its -GOMAXPROCS suffix; it reports false for
// a line that is not a result (a name alone, a log line).
func (f *figures) parseGoBench(line string) bool {
	fs := strings.Fields(line)
	if len(fs) < 4 || len(fs)%2 != 0 {
		return false
	}
	if _, err := strconv.ParseUint(fs[1], 10, 64); err != nil {
		return false
	}
	name := gomaxprocs.ReplaceAllString(fs[0], "")
	vals := make([]float64, 0, len(fs)/2-1)
	for i := 2; i < len(fs); i += 2 {
		v, err := strconv.ParseFloat(fs[i], 64)
		if err != nil {
			return false
		}
		vals = append(vals, v)
	}
	for i, v := range vals {
		f.add(name, fs[3+2*i], v)
	}
	return true
}

// shmbenchRow is a row of shmbench -format json (the keys its docs fix).
type shmbenchRow struct {
	Kernel   string   `json:"kernel"`
	Backend  string   `json:"backend"`
	Workers  int      `json:"workers"`
	N        int      `json:"n"`
	MedianS  float64  `json:"median_s"`
	Speedup  *float64 `json:"speedup"`
	GBps     *float64 `json:"gbps"`
	Verified bool     `json:"verified"`
}

func (f *figures) parseJSON(data []byte) error {
	var rows []shmbenchRow
	if err := json.Unmarshal(data, &rows); err != nil {
		return fmt.Errorf("shmbench JSON: %w", err)
	}
	for _, r := range rows {
		f.addRow(r)
	}
	return nil
}

func (f *figures) addShmbench(header, rec []string) error {
	var r shmbenchRow
	opt := func(s string) (*float64, error) {
		if s == "" {
			return nil, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		return &v, err
	}
	var err error
	for i, col := range header {
		s := rec[i]
		switch col {
		case "kernel":
			r.Kernel = s
		case "backend":
			r.Backend = s
		case "workers":
			r.Workers, err = strconv.Atoi(s)
		case "n":
			r.N, err = strconv.Atoi(s)
		case "median_s":
			r.MedianS, err = strconv.ParseFloat(s, 64)
		case "speedup":
			r.Speedup, err = opt(s)
		case "gbps":
			r.GBps, err = opt(s)
		case "verified":
			r.Verified, err = strconv.ParseBool(s)
		}
		if err != nil {
			return fmt.Errorf("shmbench CSV column %s: %q: %w", col, s, err)
		}
	}
	f.addRow(r)
	return nil
}

// addRow adds a shmbench row as shmbench/KERNEL/n=N/BACKEND/workers=W in s
// (the median), GB/s and x (the speedup) when it has them. A row that did
// not verify is left out: fast and wrong is not a result.
func (f *figures) addRow(r shmbenchRow) {
	name := fmt.Sprintf("shmbench/%s/n=%s/%s/workers=%d", r.Kernel, sizeName(r.N), r.Backend, r.Workers)
	if !r.Verified {
		f.failed = append(f.failed, name)
		return
	}
	f.add(name, "s", r.MedianS)
	if r.GBps != nil {
		f.add(name, "GB/s", *r.GBps)
	}
	if r.Speedup != nil {
		f.add(name, "x", *r.Speedup)
	}
}

// sizeName writes n as shmbench does: 2^k for powers of two from 2^16 up,
// else the decimal number.
func sizeName(n int) string {
	if n >= 1<<16 && n&(n-1) == 0 {
		return fmt.Sprintf("2^%d", bits.TrailingZeros(uint(n)))
	}
	return strconv.Itoa(n)
}
