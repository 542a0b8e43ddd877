// Package placement is where the threads of a team's processes run: the
// CPUs this process may use (Allowed), binding a thread to one (Pin), the
// CPU a thread is on (Current), moving a thread off a CPU it shares with
// another participant without changing its affinity mask (MoveTo), and
// Crowding, which tells a worker waiting for a job when its CPU is shared
// with a busy thread, so that it moves.
//
// The functions act on the calling OS thread; a caller that needs several
// of them to reach the same thread locks its goroutine to it. A Crowding
// belongs to one goroutine. On platforms other than Linux, Allowed lists
// every CPU, Pin returns errors.ErrUnsupported, Current returns -1 and
// MoveTo never moves.
//
// It imports the standard library and x/sys.
package placement
