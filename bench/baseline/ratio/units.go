package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// dim is what a unit measures.
type dim uint8

const (
	dimOther     dim = iota // dimensionless or unknown: converts only to itself
	dimTime                 // seconds per operation: ns, us, µs, ms, s, ns/op, µs/call-p50
	dimRate                 // operations per second: ops/s, msgs/s, tasks/s
	dimBandwidth            // bytes per second: B/s, MB/s, GB/s, MiB/s, GiB/s
)

// unit is a parsed unit: a figure's value times scale is in the base unit
// of its dimension (seconds, operations per second, bytes per second).
type unit struct {
	name  string
	dim   dim
	scale float64
}

var timeUnits = map[string]float64{
	"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1,
}

var byteUnits = map[string]float64{
	"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// parseUnit classifies a unit as printed by the baselines, go test -bench
// or shmbench:
//
//	ns us µs ms s, and any of them followed by /something (ns/op, µs/call-p50): time per operation
//	B/s kB/s MB/s GB/s KiB/s MiB/s GiB/s: bandwidth
//	NOUN/s (ops/s, msgs/s, tasks/s): a rate of operations
//
// Anything else (x, speedup, child%, B/op, allocs/op) is dimensionless and
// converts only to the same unit.
func parseUnit(s string) unit {
	u := unit{name: s, dim: dimOther, scale: 1}
	if num, ok := strings.CutSuffix(s, "/s"); ok && num != "" && !strings.Contains(num, "/") {
		if f, ok := byteUnits[num]; ok {
			u.dim, u.scale = dimBandwidth, f
		} else {
			u.dim = dimRate
		}
		return u
	}
	head, _, _ := strings.Cut(s, "/")
	if f, ok := timeUnits[head]; ok {
		u.dim, u.scale = dimTime, f
	}
	return u
}

// convert converts v from unit from to unit to. Time and rate convert into
// each other (a rate of r operations per second is 1/r seconds per
// operation); dimensionless units convert only to themselves.
func convert(v float64, from, to unit) (float64, bool) {
	switch {
	case from.dim == dimOther || to.dim == dimOther:
		return v, from.name == to.name
	case from.dim == to.dim:
		return v * from.scale / to.scale, true
	case from.dim == dimTime && to.dim == dimRate, from.dim == dimRate && to.dim == dimTime:
		if v == 0 {
			return 0, false
		}
		return 1 / (v * from.scale) / to.scale, true
	}
	return 0, false
}

// convertible reports whether figures in unit from can be shown in unit to.
func convertible(from, to unit) bool {
	_, ok := convert(1, from, to)
	return ok
}

// parseNumber parses a number with an optional SI suffix: "5", "0.95",
// "1e6", "100M", "2k", "1.5G".
func parseNumber(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v * mult, nil
}

// format writes v in unit u with three significant digits; rates of a
// thousand and more get a k or M prefix, so that 2.62e+07 ops/s reads
// 26.2 M ops/s.
func format(v float64, u unit) string {
	if u.dim == dimRate {
		switch a := math.Abs(v); {
		case a >= 1e9:
			return fmt.Sprintf("%.3g G %s", v/1e9, u.name)
		case a >= 1e6:
			return fmt.Sprintf("%.3g M %s", v/1e6, u.name)
		case a >= 1e3:
			return fmt.Sprintf("%.3g k %s", v/1e3, u.name)
		}
	}
	if u.name == "x" {
		return fmt.Sprintf("%.3g×", v)
	}
	return fmt.Sprintf("%.3g %s", v, u.name)
}
