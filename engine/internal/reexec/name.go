package reexec

import (
	"os"
	"path/filepath"
	"strings"
)

// A child is named for ps, top and pgrep after its program and its role,
// the way PostgreSQL names its backends: the parent execs it with argv[0]
// "PROGRAM: ROLE" (Argv0), and Main, in the child, gives the process (each
// of its threads) that name as its kernel name too, cut to the kernel's 15
// bytes — ps's COMM column, top's default, and what pgrep matches, which
// would otherwise be "exe", the name of /proc/self/exe.

// Argv0 returns the argv[0] of a child that plays role ("worker 1", or the
// name given to a process): "PROGRAM: ROLE", PROGRAM being this program's
// name (from a child's own argv[0], the part before ": ").
func Argv0(role string) string { return Program() + ": " + role }

// Program returns this program's name: the base of its argv[0], without
// the ": ROLE" of a child's.
func Program() string { return programOf(osArgs0()) }

func osArgs0() string { return os.Args[0] }

func programOf(arg0 string) string {
	p := filepath.Base(arg0)
	if Current() != "" {
		if i := strings.Index(p, ": "); i > 0 {
			p = p[:i]
		}
	}
	if p == "" || p == "." || p == "/" {
		return "shmpar"
	}
	return p
}

// commLen is the longest kernel name of a process (TASK_COMM_LEN - 1).
const commLen = 15

// commOf cuts a name to the kernel's bound, at a rune boundary.
func commOf(name string) string {
	if len(name) <= commLen {
		return name
	}
	n := commLen
	for n > 0 && !utf8RuneStart(name[n]) {
		n--
	}
	return name[:n]
}

func utf8RuneStart(b byte) bool { return b&0xc0 != 0x80 }
