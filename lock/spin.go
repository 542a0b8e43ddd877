package lock

import (
	"runtime"
	"time"
)

// epoch anchors nanotime on the monotonic clock.
var epoch = time.Now()

// nanotime returns monotonic nanoseconds since the package was initialized.
func nanotime() int64 { return int64(time.Since(epoch)) }

// spin waits a little in round i of a spin loop: PAUSE instructions first,
// then yields to other goroutines (the owner may be a goroutine of this
// process that needs this P to run).
func spin(i int) {
	if i < 64 {
		pause(uint32(8 << min(i/16, 3)))
		return
	}
	runtime.Gosched()
}
