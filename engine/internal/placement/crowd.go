package placement

import "time"

// Crowding tells a worker waiting for a job when to leave its CPU.
//
// A worker process and the coordinator can end up on one CPU while another
// CPU idles: something else ran for a moment (another team, the Go
// runtime's helper threads), the OS placed a woken thread next to the
// coordinator, and then never moved it back. Between short jobs each of
// the two runs for a few microseconds and yields to the other, so both
// always look cache-hot to the OS's load balancer, which leaves such
// threads where they are — for tens of milliseconds, during which every
// job costs about ten times what it costs on two CPUs.
//
// Crowding notices that from the worker's side: while it waits for a job
// it yields the CPU between polls, and on a CPU of its own a yield returns
// at once. When many yields in a row return late, another thread keeps
// running on its CPU, and the worker moves itself to another one (Move).
// Moves are spaced out, further and further apart while they keep being
// needed, so that on a machine that is simply oversubscribed a worker does
// not wander from CPU to CPU.
//
// Move must be set before the first Yielded; Seen may be nil. The zero
// value of the other fields is a worker that has not yet yielded.
type Crowding struct {
	Move func() bool // moves the calling thread to another CPU
	Seen func()      // records the CPU the thread is on

	late    int           // yields in a row that returned late
	alone   int           // yields in a row that returned at once
	next    time.Time     // no move before this
	backoff time.Duration // the current spacing of moves
	seenAt  time.Time     // when Seen was last called
}

const (
	// lateYield: a yield on a CPU with no other runnable thread returns in
	// under a microsecond (0.7 µs in a KVM guest, most of it the syscall).
	lateYield = 4 * time.Microsecond
	// lateRun late yields in a row mean another thread shares the CPU:
	// not an interrupt or a hypervisor hiccup. As many prompt ones in a
	// row mean the CPU is the worker's again.
	lateRun = 16
	// The spacing of moves: it starts at minBackoff and doubles after
	// each move that did not leave the worker alone on its new CPU, up to
	// maxBackoff.
	minBackoff = 10 * time.Millisecond
	maxBackoff = 2 * time.Second
	// seenEvery: how often a waiting worker records its CPU at most.
	seenEvery = time.Millisecond
)

// Yielded records a yield that took d; now is when it returned.
func (c *Crowding) Yielded(d time.Duration, now time.Time) {
	if c.Seen != nil && now.Sub(c.seenAt) >= seenEvery {
		c.Seen()
		c.seenAt = now
	}
	if d < lateYield {
		c.late = 0
		if c.alone++; c.alone >= lateRun {
			c.backoff = 0 // the last move (if any) worked
		}
		return
	}
	c.alone = 0
	if c.late++; c.late < lateRun {
		return
	}
	c.late = 0
	if now.Before(c.next) {
		return
	}
	c.backoff = min(max(2*c.backoff, minBackoff), maxBackoff)
	c.next = now.Add(c.backoff)
	c.Move()
}
