package spinwait

import "runtime"

// Rounds is how many rounds of Round pause before Round starts yielding:
// about 5 µs of PAUSE instructions on the development machine.
const Rounds = 64

// Round waits a little in round i (from 0) of a spin loop: PAUSE instructions
// first, 8 of them and doubling every 16 rounds up to 64, then, from round
// Rounds on, a yield to other goroutines (the holder of what the caller waits
// for may be a goroutine of this process that needs this P to run).
func Round(i int) {
	if i < Rounds {
		Pause(uint32(8 << min(i/16, 3)))
		return
	}
	runtime.Gosched()
}
