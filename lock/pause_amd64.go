package lock

// pause executes the PAUSE instruction n times (n > 0): a spin-wait hint that
// saves power and lets the other hyperthread run.
//
//go:noescape
func pause(n uint32)
