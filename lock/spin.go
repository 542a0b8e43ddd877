package lock

import (
	"time"

	"github.com/shmpar/shmpar/internal/spinwait"
)

// epoch anchors nanotime on the monotonic clock.
var epoch = time.Now()

// nanotime returns monotonic nanoseconds since the package was initialized.
func nanotime() int64 { return int64(time.Since(epoch)) }

// spin waits a little in round i of a spin loop: PAUSE instructions first,
// then yields to other goroutines (the owner may be a goroutine of this
// process that needs this P to run).
func spin(i int) { spinwait.Round(i) }

// pause executes the PAUSE instruction n times.
func pause(n uint32) { spinwait.Pause(n) }

// Backoff of a contended Mutex's spin phase, in PAUSE instructions (about 18
// ns each on the development machine): the first gap is about 0.6 µs, and
// each one doubles up to about 4.6 µs, so a 20 µs spin reads the Mutex about
// seven times.
const (
	backoffFirst = 32
	backoffMax   = 256
)

// backoff waits between polls i and i+1 of a Mutex's spin phase.
func backoff(i int) {
	pause(uint32(min(backoffFirst<<min(i, 16), backoffMax)))
}
