//go:build race

package reexec

// raceEnabled reports a -race build: its worker processes are told not to
// linger for a second at exit (GORACE atexit_sleep_ms), which would make
// every Close wait that long.
const raceEnabled = true
