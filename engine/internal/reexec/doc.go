// Package reexec starts the processes of a shmpar program and boots them.
// Every process shmpar starts — a team's worker, a process.Start child — is
// the program itself, run again from /proc/self/exe with an environment
// variable that names its role. engine.Main, the first call in main, runs
// Main here: in a process started for a role it runs the role and exits,
// in any other process it returns. A package that defines a role registers
// it from its own init (Register), so engine does not import the packages
// that use it.
//
// It also holds what the parent side of every role shares: the thread
// that starts children so that they die with this process (Start,
// SysProcAttr), the environment they get (Environ), the tail of their
// stderr kept for error messages (Tail); and what every child does first:
// check that its parent is still there and die with it (WatchParent), and
// name itself (SetName). A child is named for ps, top and pgrep: the
// parent gives it argv[0] "PROGRAM: ROLE" (Argv0) and Main makes that its
// kernel name too.
//
// It imports only the standard library; Main and Register are not for
// concurrent use (they run during initialization), the rest is.
package reexec
