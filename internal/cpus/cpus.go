package cpus

import (
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// cgroupEntry is a line of /proc/self/cgroup: a hierarchy, its
// controllers (none for cgroup v2) and the process's path in it.
type cgroupEntry struct {
	controllers []string
	path        string
}

// parseCgroup parses /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines; cgroup
// v2 is "0::PATH"). Malformed lines are skipped.
func parseCgroup(b []byte) (v1 []cgroupEntry, v2 string, hasV2 bool) {
	for line := range strings.SplitSeq(string(b), "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrl, p, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		if id == "0" && ctrl == "" {
			v2, hasV2 = p, true
			continue
		}
		v1 = append(v1, cgroupEntry{controllers: strings.Split(ctrl, ","), path: p})
	}
	return v1, v2, hasV2
}

// mount is a cgroup file system in /proc/self/mountinfo.
type mount struct {
	root, point string   // the path of the mount's root in the hierarchy, and where it is mounted
	v2          bool     // cgroup2
	options     []string // super options (a v1 mount's controllers are among them)
}

// parseMountinfo returns the cgroup and cgroup2 mounts of /proc/self/mountinfo:
// "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
func parseMountinfo(b []byte) []mount {
	var out []mount
	for line := range strings.SplitSeq(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" && g[0] != "cgroup2" {
			continue
		}
		out = append(out, mount{
			root:    unescape(f[3]),
			point:   unescape(f[4]),
			v2:      g[0] == "cgroup2",
			options: strings.Split(g[2], ","),
		})
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dirOf returns the directory of cgroup path p in mount m (without the
// leading slash, as fs.FS wants it), or false when p is not under the
// mount's root.
func dirOf(m mount, p string) (string, bool) {
	rel := p
	if m.root != "/" {
		r, ok := strings.CutPrefix(p, m.root)
		if !ok || r != "" && !strings.HasPrefix(r, "/") {
			return "", false
		}
		rel = r
	}
	return strings.TrimPrefix(path.Join(m.point, rel), "/"), true
}

// walkUp calls f with dir and each of its parents up to top (included).
func walkUp(dir, top string, f func(dir string)) {
	for {
		f(dir)
		if dir == top || !strings.HasPrefix(dir, top) {
			return
		}
		dir = path.Dir(dir)
	}
}

// cpuMax parses a cgroup v2 cpu.max ("max 100000" or "200000 100000") and
// returns quota/period in CPUs, 0 for no limit or a malformed file.
func cpuMax(s string) float64 {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	return ratio(f[0], f[1])
}

// ratio returns quota/period, 0 unless both are positive numbers.
func ratio(quota, period string) float64 {
	q, err1 := strconv.ParseFloat(strings.TrimSpace(quota), 64)
	p, err2 := strconv.ParseFloat(strings.TrimSpace(period), 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 || math.IsInf(q, 0) || math.IsInf(p, 0) {
		return 0
	}
	return q / p
}

// quota returns the tightest CPU bandwidth limit, in CPUs, on the path of
// the process's cgroups in root (a file system holding proc/self/cgroup,
// proc/self/mountinfo and the cgroup mounts), 0 when there is none.
func quota(root fs.FS) float64 {
	cg, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	mi, err := fs.ReadFile(root, "proc/self/mountinfo")
	if err != nil {
		return 0
	}
	v1, v2, hasV2 := parseCgroup(cg)
	limit := 0.0
	keep := func(q float64) {
		if q > 0 && (limit == 0 || q < limit) {
			limit = q
		}
	}
	read := func(name string) string {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return ""
		}
		return string(b)
	}
	for _, m := range parseMountinfo(mi) {
		top := strings.TrimPrefix(m.point, "/")
		switch {
		case m.v2 && hasV2:
			if dir, ok := dirOf(m, v2); ok {
				walkUp(dir, top, func(d string) { keep(cpuMax(read(path.Join(d, "cpu.max")))) })
			}
		case !m.v2 && slices.Contains(m.options, "cpu"):
			for _, e := range v1 {
				if !slices.Contains(e.controllers, "cpu") {
					continue
				}
				if dir, ok := dirOf(m, e.path); ok {
					walkUp(dir, top, func(d string) {
						keep(ratio(read(path.Join(d, "cpu.cfs_quota_us")), read(path.Join(d, "cpu.cfs_period_us"))))
					})
				}
			}
		}
	}
	return limit
}

// limit returns ⌈quota(root)⌉, 0 when there is no limit.
func limit(root fs.FS) int {
	q := quota(root)
	if q <= 0 {
		return 0
	}
	if q > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(math.Ceil(q))
}

// parseList counts the CPUs of a kernel CPU list ("0-3,8,10-11"), 0 when
// it is malformed.
func parseList(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}
