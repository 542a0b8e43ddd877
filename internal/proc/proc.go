package proc

import "fmt"

// ID names one process: its pid and its start time in clock ticks since boot.
// The zero ID names no process.
type ID struct {
	PID   int
	Start uint64
}

// String formats the ID as "pid/start".
func (id ID) String() string { return fmt.Sprintf("%d/%d", id.PID, id.Start) }

// Child is a child process as Children reports it.
type Child struct {
	ID
	Zombie bool // exited, not yet reaped by its parent
}
