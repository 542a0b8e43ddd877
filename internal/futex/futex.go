package futex

import "errors"

// ErrTimeout is returned by Wait when the timeout elapsed before a wake-up.
var ErrTimeout = errors.New("futex wait timed out")
