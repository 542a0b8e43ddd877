package testproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mapping is one mapping of a process's address space, from
// /proc/PID/smaps: where it starts, what it maps, its size and how much of
// it the process's page tables hold (Rss).
type Mapping struct {
	Start     uintptr
	Path      string // the mapped file as smaps names it ("/memfd:NAME (deleted)"), "" when none
	Size, Rss int64  // bytes
}

// Mappings returns the mappings of process pid. It is how a test sees which
// pages of a segment a process has mapped (its own page tables, which no
// other process shares).
func Mappings(pid int) ([]Mapping, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	var ms []Mapping
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if lo, _, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 {
			start, err := strconv.ParseUint(lo, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("smaps of %d: %q: %w", pid, l, err)
			}
			m := Mapping{Start: uintptr(start)}
			if len(f) > 5 {
				m.Path = strings.Join(f[5:], " ")
			}
			ms = append(ms, m)
			continue
		}
		if len(ms) == 0 || len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps of %d: %q: %w", pid, l, err)
		}
		switch f[0] {
		case "Size:":
			ms[len(ms)-1].Size = kb << 10
		case "Rss:":
			ms[len(ms)-1].Rss = kb << 10
		}
	}
	return ms, nil
}
