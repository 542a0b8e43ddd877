// Package proc identifies processes in a way that survives pid reuse.
//
// A pid alone does not name a process for long: after it exits the kernel may
// hand the same number to a new one. An ID pairs the pid with the process's
// start time (in clock ticks since boot, field 22 of /proc/PID/stat), which
// together name one process for the life of the machine. Locks record their
// owner as an ID, segments record their creator as an ID, and both ask Alive
// to tell a dead owner from a live one. A zombie (exited, not yet reaped)
// counts as dead. State and CPUTime tell what a process is doing, for the
// engine's stall watch.
//
// Children lists a process's children, zombies included, for the test
// harness's leak check (internal/testproc).
//
// On platforms other than Linux, Self returns an ID with a zero start time,
// and StartTime, Alive, State, CPUTime and Children return
// errors.ErrUnsupported.
//
// It imports only the standard library and x/sys (it reads /proc and the
// process CPU clocks), and is shared by shm (a segment's creator), lock (an
// owner's liveness), the engine packages (the stall watch) and
// internal/testproc.
package proc
