//go:build mpi

package mpi

import (
	"runtime"
	"time"
)

// The goroutine that calls MPI is locked to its thread and may call it
// for seconds on end without ever being rescheduled: a cgo call does not
// reschedule it. Go's runtime takes such a goroutine for one that hogs its
// P: once it has run 10 ms on the same scheduling tick, sysmon takes its P
// away during a cgo call, and then polls every 20 µs for a millisecond or
// so before it backs off again. On a machine whose cores are all busy —
// ranks that poll in MPI calls, team workers — those wake-ups take time
// slices from the processes on the critical path: a 32 KiB Sendrecv
// between two ranks on two cores measured 4.7–5.0 µs from a Go loop
// against 3.4 µs from a C loop, with ten times the context switches. So
// the calls let the scheduler run now and then (runtime.Gosched, a few
// microseconds every pacePeriod), which starts a new tick and keeps
// sysmon asleep; the measurement is in docs/CLUSTER.md.

// pacePeriod is how long the MPI goroutine runs between two yields, well
// under the runtime's 10 ms; paceEvery is how many calls pass between two
// looks at the clock.
const (
	pacePeriod = 2 * time.Millisecond
	paceEvery  = 64
)

// pacer yields the MPI goroutine every period of calls. It is used from
// that goroutine only (a call from another one is refused before it gets
// here), so it needs no synchronisation.
type pacer struct {
	calls uint32
	last  time.Time
	now   func() time.Time
	yield func()
}

// mpiPace paces the calls of the process's MPI goroutine.
var mpiPace = pacer{now: time.Now, yield: runtime.Gosched}

// call counts one MPI call, and yields if pacePeriod has passed since the
// last yield.
func (p *pacer) call() {
	p.calls++
	if p.calls%paceEvery != 0 {
		return
	}
	if now := p.now(); now.Sub(p.last) >= pacePeriod {
		p.last = now
		p.yield()
	}
}
