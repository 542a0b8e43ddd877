package remote

import (
	"errors"
	"sync/atomic"
)

// Error is an error recreated from the text another process sent. If the
// original wrapped one of the sentinels, Unwrap returns it.
type Error struct {
	Msg      string
	Sentinel error
}

// New recreates an error from its text and sentinel code.
func New(msg string, code uint32) *Error { return &Error{Msg: msg, Sentinel: Sentinel(code)} }

// Error returns the original text.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel the original wrapped, or nil.
func (e *Error) Unwrap() error { return e.Sentinel }

var table atomic.Pointer[[]error]

// SetSentinels sets the errors whose identity survives the trip between
// processes; the code of list[i] is i+1. It is called once, at init.
func SetSentinels(list ...error) { table.Store(&list) }

// Code returns the code of the first sentinel err wraps, 0 if none.
func Code(err error) uint32 {
	if t := table.Load(); t != nil {
		for i, s := range *t {
			if errors.Is(err, s) {
				return uint32(i + 1)
			}
		}
	}
	return 0
}

// Sentinel returns the sentinel of a code, nil for 0 or an unknown code
// (the code came from another process: it is not trusted).
func Sentinel(code uint32) error {
	t := table.Load()
	if t == nil || code == 0 || int(code) > len(*t) {
		return nil
	}
	return (*t)[code-1]
}

// MaxText bounds the message and the stack a process sends about a
// failure; Clip cuts longer ones.
const MaxText = 64 << 10

// Clip returns s cut to MaxText bytes, marked as truncated.
func Clip(s string) string {
	if len(s) > MaxText {
		return s[:MaxText] + "\n... (truncated)"
	}
	return s
}
