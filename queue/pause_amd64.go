package queue

// pause executes the PAUSE instruction n times: a spin-wait hint that
// saves power and lets the other hyperthread run.
//
//go:noescape
func pause(n uint32)
