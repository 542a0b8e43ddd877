// Package chaos runs randomized fault scenarios against real processes and
// counts what went wrong: the project's chaos suite.
//
// A scenario is a function that runs one trial — start a team, a pool, a
// queue's two ends, a lock's owner; inject a fault (SIGKILL or SIGSTOP of
// a process, a damaged or planted file, a low limit) at a random moment;
// check what came out — and Run runs a bounded number of trials of it, each
// within a time bound, and prints one line per scenario:
//
//	chaos: engine/kill-worker-for  trials=40 hangs=0 wrong=0 leaks=0 crashes=0 seed=1722 (12.3s)
//
// A trial is counted once in each column it earned:
//
//   - hangs: it did not return within the scenario's Timeout. Run then
//     kills every process the trial started (SIGKILL, which also ends a
//     stopped one) so that the trial can return, and gives up the scenario
//     if even that does not free it. Or the trial reported a hang it saw
//     itself (T.Hang): a child process that bounds its own call and says
//     the call did not return.
//   - wrong: the trial reported a wrong result (T.Wrong): a lost or
//     duplicated element, an error that does not name what failed, an
//     error where none was due.
//   - leaks: something the trial started outlived it: a process that
//     carries the trial's marker (EnvTrial in its environment, which every
//     process started during the trial inherits) still alive a few seconds
//     after the trial, a file left in the trial's directory (SHMPAR_DIR
//     during the trial), or file descriptors of the test process not
//     closed; or the trial reported one (T.Leak).
//   - crashes: the trial panicked, or reported a process that died where it
//     must not (T.Crash: a coordinator killed by SIGBUS, a child that
//     exited with a Go panic).
//
// The test fails if any column is not zero, naming the trials and how to
// replay one.
//
// # Knobs
//
// The chaos tests are built only with the build tag chaos, and their names
// start with TestChaos:
//
//	go test -tags chaos -run TestChaos ./...            # the default run
//	go test -tags chaos -run TestChaos -short ./...     # CI's short run
//	SHMPAR_CHAOS_TRIALS=200 go test -tags chaos -run TestChaos -timeout 2h ./...
//
// Environment variables, read by every package's chaos tests (a test flag
// would be refused by the packages that define none):
//
//   - SHMPAR_CHAOS_TRIALS=N runs N trials of every scenario.
//   - SHMPAR_CHAOS_SEED=S seeds the run (default: the time, printed); the
//     trials of a scenario draw from S, the scenario's name and the trial
//     number, so a seed and a trial number replay one trial.
//   - SHMPAR_CHAOS_TRIAL=I runs only trial I (with its seed: a replay).
//   - SHMPAR_CHAOS_REPORT=FILE appends each scenario's line to FILE, since
//     go test shows a passing test's output only with -v.
//
// Scenario.Trials is the count of the default run: pick it so that every
// scenario of a package takes well under a minute, the whole suite a few
// minutes. The short run takes a quarter of it (at least one).
//
// # Children
//
// A trial that runs its work in child processes (testproc.Start) uses the
// checks they share: T.Wait and T.Finished wait for a child within a bound
// (a hang past it, a crash if it failed), T.Verdict judges the verdict a
// child prints as its last line ("ok", "hang: …", "leak: …", anything else
// wrong), T.Leftovers finds files left in a directory, and T.Until waits
// for a condition within a bound.
//
// # Adding scenarios
//
// In a package's test files, in a file with the build tag chaos (it may use
// the package's TestMain, kernels and helpers):
//
//	//go:build chaos
//
//	func TestChaosQueueKillReader(t *testing.T) {
//		chaos.Run(t, chaos.Scenario{
//			Name:    "queue/kill-reader",
//			Trials:  40,
//			Timeout: 30 * time.Second,
//			Trial: func(tr *chaos.T) {
//				q := ... // created in tr.Dir (SHMPAR_DIR) by default
//				child := testproc.Start("reader", ...) // inherits the trial's marker
//				time.Sleep(tr.Duration(20 * time.Millisecond))
//				syscall.Kill(pid, syscall.SIGKILL)
//				if got != want {
//					tr.Wrong("got %d items, want %d", got, want)
//				}
//				q.Close(); q.Unlink()
//			},
//		})
//	}
//
// A trial must clean up what it made on purpose (close teams and segments,
// wait for its children, remove its files): whatever remains is a leak.
// Every random choice comes from T.Rand (or T.Duration), so that the seed
// replays it. A trial must not rely on a context deadline to end a wait it
// tests — that would turn a hang into a pass; Run's time bound is the
// watchdog. Trials of one scenario run one after another, and Run sets
// process-wide environment variables for each, so chaos tests must not run
// in parallel with other tests of their package.
//
// The package is Linux-only where it looks at processes (/proc); elsewhere
// the process and descriptor leak checks find nothing.
package chaos
