// Package testproc is the one re-exec harness of shmpar's tests: a test
// binary runs itself again as a second process, so that every cross-process
// claim is tested with real processes and not goroutines pretending.
//
// A package's TestMain calls Main with a function that runs a child's role.
// A test starts the binary again in a role with Spawn (or Start, Run and
// RunN); the re-executed binary finds the role in its environment and runs
// the role's function instead of the tests. A Child collects what the child
// prints, line by line (Expect, Line), and its exit status (WaitOK, Wait,
// ExitCode); Kill sends it SIGKILL. Options pass environment variables (Env),
// command-line arguments (Args, read back in the child with ChildArgs) and
// open files (Files, inherited as descriptors 3, 4, ...). WaitFor and Poll
// wait, bounded, for a condition on shared state, in a test and in a child.
//
// # Sleepers
//
// A test of a wake-up must not sleep a while and hope the waiter fell
// asleep meanwhile: it waits until the waiter is asleep, so that it fails
// when the sleeping path was never taken. FutexSleepers counts the threads
// of a process blocked in the kernel on a given futex word (from
// /proc/PID/task/TID/syscall); WaitAsleep waits for them, WhenAsleep runs a
// function (a cancel) once they are there, and MappedAt finds where another
// process maps a shared file, to name the same word in its address space.
//
// # Leak checks
//
// Main fails the run, after all tests passed, when they leaked: a file
// descriptor open after the tests that was not open before them, or a child
// process (running, or exited and never reaped). It waits up to LeakWait for
// leaks to resolve themselves (a child being reaped by a goroutine, a pipe
// being closed), then prints each leak, kills leaked children, and exits
// with status 1. Descriptors of the Go runtime's network poller are opened
// before the first snapshot and ignored if they appear later; the testing
// package's own files (profiles, the test log) are closed by m.Run before the
// check. A package whose tests keep process-wide resources on purpose (a
// cache of mappings) releases them in an AfterRun function.
//
// # Bounds
//
// Every wait is bounded: a child is killed after Timeout, Expect and Line
// give up after Timeout, WaitFor and Poll after PollTimeout, and the leak
// check after LeakWait. A child started by Spawn is killed and reaped when
// its test ends, so a failing test leaves no process behind.
//
// # Caveats
//
// The leak checks and the sleeper counts read /proc: they work on Linux;
// elsewhere Main runs the tests without the check and FutexSleepers returns
// errors.ErrUnsupported. Children inherit the
// parent's environment, so a child that starts children of its own passes
// the role variable on; Start and Spawn set it for each child explicitly.
//
// Imports: internal/proc, x/sys and the standard library (testing among
// them); it is imported only by _test.go files.
package testproc
