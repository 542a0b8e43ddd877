package spinwait

// Pause executes the PAUSE instruction n times (none for n = 0): a spin-wait
// hint that saves power and lets the other hyperthread run. One PAUSE takes
// about 18 ns on the development machine (Sapphire Rapids) and far fewer
// cycles on older cores.
//
//go:noescape
func Pause(n uint32)
