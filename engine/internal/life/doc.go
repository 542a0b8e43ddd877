// Package life gives a process a life word: a 32-bit word in shared memory
// in which the kernel itself marks the process's exit (Died), the moment
// it happens, so that another process that maps the word learns of the
// death without waiting for the process or polling /proc. A team's
// workers arm theirs at start (Arm), and the coordinator reads them before
// each job, to replace a dead worker at once, and when it lists the
// team's live processes.
//
// While the process lives its word holds the id of the thread Arm keeps;
// when it exits the kernel replaces that with Died. A word says only that
// the process has exited, never why; the exit status stays with the parent
// that waits for it. Arm is called once per process: the robust list it
// sets belongs to one thread, which it keeps for the life of the process.
// Where it is not supported (every platform but Linux) Arm returns
// errors.ErrUnsupported and the word never shows Died.
//
// It imports the standard library and x/sys.
package life
