// Command ratio puts shmpar's figures beside the baselines' as ratios
// taken in one run.
//
// It reads any mix of the baseline lines of bench/baseline/run ("name value
// unit [notes]"), go test -bench output and shmbench's -format csv or json
// output, and prints the comparisons a spec file declares (see spec.go and
// bench/baseline/README.md): each figure, its baseline, the ratio of the two
// in the comparison's unit, and whether its goal is met. Absent figures are
// shown as "missing", never guessed.
//
//	go run ./bench/baseline/ratio [-spec FILE] [-format text|markdown] [-check] FILE...
//	go run ./bench/baseline/ratio -figures FILE...   # every figure read, to write a spec
//	go run ./bench/baseline/ratio -runs              # the spec's run: commands
//
// With no FILE, or "-", it reads standard input. Figures given several times
// (go test -count 6) are the median of their samples. -check makes the exit
// status 1 when a goal is not met or its figures are missing.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command with its arguments and streams; it returns the exit
// status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ratio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", "bench/baseline/ratios.txt", "the comparisons to print")
	formatName := fs.String("format", "text", "text or markdown")
	check := fs.Bool("check", false, "exit 1 when a goal is not met or its figures are missing")
	list := fs.Bool("figures", false, "print every figure read (name, unit, median, samples) and exit")
	runs := fs.Bool("runs", false, "print the spec's run: commands, one per line, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *formatName != "text" && *formatName != "markdown" {
		fmt.Fprintf(stderr, "ratio: -format %q: want text or markdown\n", *formatName)
		return 2
	}

	var cmps []comparison
	var cmds []string
	if !*list {
		sf, err := os.Open(*specPath)
		if err != nil {
			fmt.Fprintf(stderr, "ratio: %v\n", err)
			return 2
		}
		cmps, cmds, err = parseSpec(sf)
		sf.Close()
		if err != nil {
			fmt.Fprintf(stderr, "ratio: %s: %v\n", *specPath, err)
			return 2
		}
	}
	if *runs {
		for _, c := range cmds {
			fmt.Fprintln(stdout, c)
		}
		return 0
	}

	figs := newFigures()
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintf(stderr, "ratio: %v\n", err)
				return 2
			}
			defer f.Close()
			r = f
		}
		if err := figs.parse(r); err != nil {
			fmt.Fprintf(stderr, "ratio: %s: %v\n", name, err)
			return 2
		}
	}
	for _, n := range figs.failed {
		fmt.Fprintf(stderr, "ratio: %s did not verify: left out\n", n)
	}

	if *list {
		printFigures(stdout, figs)
		return 0
	}
	rs := make([]result, len(cmps))
	bad := false
	for i, c := range cmps {
		rs[i] = evaluate(c, figs)
		bad = bad || rs[i].met == "no" || rs[i].met == "missing"
	}
	if *formatName == "markdown" {
		writeMarkdown(stdout, rs)
	} else {
		writeText(stdout, rs)
	}
	if *check && bad {
		return 1
	}
	return 0
}

// printFigures lists every figure read: name, unit, median, samples.
func printFigures(w io.Writer, f *figures) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range f.names {
		for _, u := range f.units[n] {
			xs := f.samples[n][u]
			fmt.Fprintf(tw, "%s\t%.6g\t%s\t%d samples\n", n, median(append([]float64(nil), xs...)), u, len(xs))
		}
	}
	tw.Flush()
}

// cells formats a result as the table's columns: comparison, shmpar,
// baseline, ratio, goal, met.
func cells(r result) []string {
	c := []string{r.label, "missing", "-", "-", "-", "-"}
	if r.haveV {
		c[1] = format(r.v, r.unit)
	}
	if r.base.name != "" {
		c[2] = "missing"
		if r.haveB {
			c[2] = format(r.b, r.unit)
		}
	}
	if r.haveRatio {
		c[3] = fmt.Sprintf("%.3g×", r.ratio)
	}
	if r.goal != nil {
		c[4] = r.goal.text
		c[5] = r.met
	}
	return c
}

var headings = []string{"comparison", "shmpar", "baseline", "ratio", "goal", "met"}

func writeText(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headings, "\t"))
	for _, r := range rs {
		fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
	}
	tw.Flush()
}

func writeMarkdown(w io.Writer, rs []result) {
	fmt.Fprintf(w, "| %s |\n|---|---:|---:|---:|---|---|\n", strings.Join(headings, " | "))
	for _, r := range rs {
		c := cells(r)
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
}
