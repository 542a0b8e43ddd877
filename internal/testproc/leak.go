package testproc

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/shmpar/shmpar/internal/proc"
)

// LeakWait bounds how long Main waits, after the tests, for descriptors to
// close and children to be reaped before it calls them leaked.
const LeakWait = 10 * time.Second

// snapshot is what the leak check compares: the open descriptors (number to
// what they point at) and the child processes.
type snapshot struct {
	fds      map[int]string
	children map[proc.ID]bool // value: zombie
}

func takeSnapshot() (snapshot, error) {
	fds, err := openFDs()
	if err != nil {
		return snapshot{}, err
	}
	kids, err := proc.Children(os.Getpid())
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{fds: fds, children: make(map[proc.ID]bool, len(kids))}
	for _, k := range kids {
		s.children[k.ID] = k.Zombie
	}
	return s, nil
}

// runtimeFDs are descriptors the Go runtime opens for itself when a file is
// first made pollable (its network poller); they are never a test's leak.
var runtimeFDs = map[string]bool{
	"anon_inode:[eventpoll]": true,
	"anon_inode:[eventfd]":   true,
}

// leak is one leaked descriptor or child.
type leak struct {
	fd    int     // -1 for a child
	child proc.ID // for a child
	what  string  // what it is, for the report
}

// leaksSince lists what is open or alive in now that was not in before.
func leaksSince(before, now snapshot) []leak {
	var out []leak
	for fd, target := range now.fds {
		if before.fds[fd] == target || runtimeFDs[target] {
			continue
		}
		out = append(out, leak{fd: fd, what: fmt.Sprintf("file descriptor %d -> %s", fd, target)})
	}
	for id, zombie := range now.children {
		if _, ok := before.children[id]; ok {
			continue
		}
		state := "running"
		if zombie {
			state = "exited, never reaped"
		}
		role := childRole(id.PID)
		if role != "" {
			role = fmt.Sprintf("role %q, ", role)
		}
		out = append(out, leak{fd: -1, child: id, what: fmt.Sprintf("child process %d (%s%s)", id.PID, role, state)})
	}
	slices.SortFunc(out, func(a, b leak) int {
		if a.fd != b.fd {
			return a.fd - b.fd
		}
		return a.child.PID - b.child.PID
	})
	return out
}

// warmUp makes the runtime open its poller descriptors, so that they are in
// the first snapshot.
func warmUp() {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
}

// checked runs run (the tests) between two snapshots and returns its exit
// status, or 1 if the tests passed but leaked: descriptors or children that
// are still there after wait. It reports the leaks on w and kills leaked
// children. Where snapshots are not supported it only runs run and after.
func checked(w io.Writer, run func() int, after []func(), wait time.Duration) int {
	warmUp()
	before, snapErr := takeSnapshot()
	code := run()
	for _, f := range after {
		f()
	}
	if snapErr != nil {
		return code
	}
	leaks := awaitLeaks(before, wait)
	if len(leaks) == 0 {
		return code
	}
	fmt.Fprintf(w, "testproc: the tests leaked (still there %v after they ended):\n", wait)
	for _, l := range leaks {
		fmt.Fprintf(w, "\t%s\n", l.what)
		if l.fd < 0 {
			if err := killChild(l.child); err != nil {
				fmt.Fprintf(w, "\t\tkill: %v\n", err)
			}
		}
	}
	if code == 0 {
		code = 1
	}
	return code
}

// awaitLeaks returns the leaks since before that are still there after at
// most wait: a child's descriptors close, and a killed child is reaped, a
// little after the test that ended it.
func awaitLeaks(before snapshot, wait time.Duration) []leak {
	deadline := time.Now().Add(wait)
	for {
		now, err := takeSnapshot()
		if err != nil {
			return []leak{{fd: -1, what: fmt.Sprintf("the leak check failed: %v", err)}}
		}
		leaks := leaksSince(before, now)
		if len(leaks) == 0 || time.Now().After(deadline) {
			return leaks
		}
		time.Sleep(10 * time.Millisecond)
	}
}
