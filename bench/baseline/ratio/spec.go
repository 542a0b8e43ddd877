package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// A spec declares the comparisons to print, one per line:
//
//	label | figure | baseline figure | unit | goal
//
// A figure is a name as the inputs print it, optionally followed by the
// unit to take it in, in brackets ("BenchmarkEmptyFor/process/workers=2
// [µs/call-p50]"); the baseline may be "-" when there is none. Both are
// shown in unit, and the ratio is figure ÷ baseline in that unit. The goal
// is optional: "<= 0.5x" or ">= 1.2x" is a goal on the ratio, "<= 5 us" or
// ">= 100M tasks/s" a goal on the figure itself. Lines starting with "#"
// are comments; "run: COMMAND" lines name the commands that produce the
// figures (bench/baseline/compare runs them; this program lists them with
// -runs).

// ref names a figure, and the unit to take it in when pin is not empty.
type ref struct {
	name, pin string
}

// goal is a condition on a comparison's ratio (ratio true) or on its
// figure (in unit).
type goal struct {
	op    string // "<=", ">=", "<" or ">"
	v     float64
	ratio bool
	unit  unit
	text  string // as written in the spec
}

// comparison is one line of a spec.
type comparison struct {
	label     string
	fig, base ref // base.name is empty when there is no baseline
	unit      unit
	goal      *goal
	line      int
}

// parseSpec reads a spec; it returns its comparisons and run commands.
func parseSpec(r io.Reader) ([]comparison, []string, error) {
	var cmps []comparison
	var runs []string
	sc := bufio.NewScanner(r)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cmd, ok := strings.CutPrefix(line, "run:"); ok {
			if cmd = strings.TrimSpace(cmd); cmd == "" {
				return nil, nil, fmt.Errorf("line %d: empty run command", ln)
			}
			runs = append(runs, cmd)
			continue
		}
		c, err := parseComparison(line)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", ln, err)
		}
		c.line = ln
		cmps = append(cmps, c)
	}
	return cmps, runs, sc.Err()
}

func parseComparison(line string) (comparison, error) {
	cols := strings.Split(line, "|")
	if len(cols) < 4 || len(cols) > 5 {
		return comparison{}, fmt.Errorf("want 'label | figure | baseline | unit [| goal]', got %d columns", len(cols))
	}
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	c := comparison{label: cols[0]}
	if c.label == "" {
		return c, fmt.Errorf("empty label")
	}
	var err error
	if c.fig, err = parseRef(cols[1]); err != nil {
		return c, err
	}
	if c.fig.name == "" {
		return c, fmt.Errorf("%s: no figure", c.label)
	}
	if c.base, err = parseRef(cols[2]); err != nil {
		return c, err
	}
	if cols[3] == "" {
		return c, fmt.Errorf("%s: no unit", c.label)
	}
	c.unit = parseUnit(cols[3])
	for _, r := range []ref{c.fig, c.base} {
		if r.pin != "" && !convertible(parseUnit(r.pin), c.unit) {
			return c, fmt.Errorf("%s: %s [%s] cannot be shown in %s", c.label, r.name, r.pin, cols[3])
		}
	}
	if len(cols) == 5 && cols[4] != "" {
		g, err := parseGoal(cols[4])
		if err != nil {
			return c, fmt.Errorf("%s: %w", c.label, err)
		}
		if !g.ratio && !convertible(c.unit, g.unit) {
			return c, fmt.Errorf("%s: goal %q is in a unit %s cannot be converted to", c.label, g.text, cols[3])
		}
		c.goal = &g
	}
	return c, nil
}

// parseRef parses "name" or "name [unit]"; "-" and "" are no figure.
func parseRef(s string) (ref, error) {
	if s == "-" || s == "" {
		return ref{}, nil
	}
	name, rest, ok := strings.Cut(s, "[")
	if !ok {
		if strings.ContainsAny(s, " \t]") {
			return ref{}, fmt.Errorf("figure %q: a name has no spaces", s)
		}
		return ref{name: s}, nil
	}
	pin, ok := strings.CutSuffix(strings.TrimSpace(rest), "]")
	name, pin = strings.TrimSpace(name), strings.TrimSpace(pin)
	if !ok || pin == "" || name == "" || strings.ContainsAny(name, " \t") {
		return ref{}, fmt.Errorf("figure %q: want 'name' or 'name [unit]'", s)
	}
	return ref{name: name, pin: pin}, nil
}

// parseGoal parses "<= 0.5x", ">=1.2×", "<= 5 us", "≥ 100M tasks/s".
func parseGoal(s string) (goal, error) {
	g := goal{text: s}
	rest := ""
	for _, op := range []struct{ in, out string }{{"<=", "<="}, {">=", ">="}, {"≤", "<="}, {"≥", ">="}, {"<", "<"}, {">", ">"}} {
		if r, ok := strings.CutPrefix(s, op.in); ok {
			g.op, rest = op.out, strings.TrimSpace(r)
			break
		}
	}
	if g.op == "" {
		return g, fmt.Errorf("goal %q: want <=, >=, < or > first", s)
	}
	for _, x := range []string{"x", "×"} {
		if num, ok := strings.CutSuffix(rest, x); ok {
			v, err := parseNumber(strings.TrimSpace(num))
			if err != nil {
				return g, fmt.Errorf("goal %q: %w", s, err)
			}
			g.v, g.ratio = v, true
			return g, nil
		}
	}
	num, u, ok := strings.Cut(rest, " ")
	if !ok { // "5us": the longest prefix that is a number
		for i := len(rest) - 1; i > 0; i-- {
			if _, err := parseNumber(rest[:i]); err == nil {
				num, u = rest[:i], rest[i:]
				break
			}
		}
	}
	v, err := parseNumber(strings.TrimSpace(num))
	if err != nil || strings.TrimSpace(u) == "" {
		return g, fmt.Errorf("goal %q: want a number and a unit, or a ratio like 1.2x", s)
	}
	g.v, g.unit = v, parseUnit(strings.TrimSpace(u))
	return g, nil
}

// holds reports whether x satisfies the goal's comparison.
func (g *goal) holds(x float64) bool {
	switch g.op {
	case "<=":
		return x <= g.v
	case ">=":
		return x >= g.v
	case "<":
		return x < g.v
	}
	return x > g.v
}

// result is a comparison evaluated against the figures read.
type result struct {
	comparison
	v, b         float64 // the figure and the baseline, in unit
	haveV, haveB bool
	ratio        float64
	haveRatio    bool
	met          string // "yes", "no", "missing" or "" (no goal)
}

// evaluate looks a comparison's figures up and checks its goal.
func evaluate(c comparison, f *figures) result {
	r := result{comparison: c}
	r.v, _, r.haveV = f.value(c.fig.name, c.fig.pin, c.unit)
	if c.base.name != "" {
		r.b, _, r.haveB = f.value(c.base.name, c.base.pin, c.unit)
	}
	if r.haveV && r.haveB && r.b != 0 {
		r.ratio, r.haveRatio = r.v/r.b, true
	}
	switch g := c.goal; {
	case g == nil:
	case g.ratio && !r.haveRatio, !g.ratio && !r.haveV:
		r.met = "missing"
	case g.ratio:
		r.met = yesNo(g.holds(r.ratio))
	default:
		v, _ := convert(r.v, c.unit, g.unit)
		r.met = yesNo(g.holds(v))
	}
	return r
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
