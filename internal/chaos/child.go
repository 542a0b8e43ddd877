package chaos

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shmpar/shmpar/internal/testproc"
)

// The checks that trials running child processes share: a bounded wait
// for a child, the verdict a child prints as its last line, the files a
// trial leaves in a directory.

// Wait waits up to bound for child ch to exit and returns its stdout and
// exit error. If ch does not exit in time, Wait kills it, records a hang
// (what says which child) and reports ok false.
func (t *T) Wait(ch *testproc.Child, bound time.Duration, what string) (stdout string, err error, ok bool) {
	done := make(chan error, 1)
	go func() { _, err := ch.Wait(); done <- err }()
	select {
	case err = <-done:
		return ch.Stdout(), err, true
	case <-time.After(bound):
		_ = ch.Kill()
		<-done
		t.Hang("%s: no end within %v", what, bound)
		return ch.Stdout(), nil, false
	}
}

// Finished is Wait that also records a crash when the child failed (a
// nonzero exit, a signal), with the head of its stderr (a Go panic's
// message, without its goroutine dump). It reports whether the child ended
// well.
func (t *T) Finished(ch *testproc.Child, bound time.Duration, what string) (stdout string, ok bool) {
	out, err, ok := t.Wait(ch, bound, what)
	if !ok {
		return out, false
	}
	if err != nil {
		stderr := ch.Stderr()
		if i := strings.Index(stderr, "\n\ngoroutine "); i > 0 {
			stderr = stderr[:i]
		}
		t.Crash("%s: %v: %s", what, err, strings.TrimSpace(stderr))
		return out, false
	}
	return out, true
}

// Verdict judges the verdict a child printed as the last line of out:
// "ok" or "ok …" is fine; "hang: …" records a hang (a bound of the
// child's own passed), "leak: …" a leak, anything else a wrong result.
func (t *T) Verdict(out, what string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	switch {
	case last == "ok" || strings.HasPrefix(last, "ok "):
	case strings.HasPrefix(last, "hang:"):
		t.Hang("%s: %s", what, last)
	case strings.HasPrefix(last, "leak:"):
		t.Leak("%s: %s", what, last)
	default:
		t.Wrong("%s: %.600s", what, last)
	}
}

// Leftovers records a leak for every entry of dir not named in keep.
func (t *T) Leftovers(dir, what string, keep ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Leak("%s: read %s: %v", what, dir, err)
		return
	}
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			t.Leak("%s: %q left in the directory", what, e.Name())
		}
	}
}

// Until polls cond, every 100 µs, until it holds, and reports true; if it
// does not within bound, it records a hang (waiting for what) and reports
// false.
func (t *T) Until(what string, bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Hang("waited %v for %s", bound, what)
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}
