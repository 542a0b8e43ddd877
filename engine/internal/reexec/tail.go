package reexec

import (
	"io"
	"strings"
	"sync"
)

// TailMax is how many bytes of a child's stderr a Tail keeps.
const TailMax = 4 << 10

// Tail passes a child's stderr through to W and keeps its last TailMax
// bytes for error messages. It is safe for concurrent use.
type Tail struct {
	W io.Writer // nil: keep only

	mu  sync.Mutex
	buf []byte
}

// Write passes p on and keeps its end; it never fails (a failing W must
// not stop the child).
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > TailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-TailMax:]...)
	}
	t.mu.Unlock()
	if t.W != nil {
		_, _ = t.W.Write(p)
	}
	return len(p), nil
}

// String returns the kept bytes without trailing newlines.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimRight(string(t.buf), "\n")
}

// Note returns "\n<who> stderr (tail):\n" and s, or "" for an empty s: the
// end of an error message about a child.
func Note(who, s string) string {
	if s == "" {
		return ""
	}
	return "\n" + who + " stderr (tail):\n" + s
}
