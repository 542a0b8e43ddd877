// Package spin is how the processes of a team wait for each other for a
// short while: polling a word of shared memory, and yielding the CPU
// between polls, before they sleep on a futex (waking a sleeping core costs
// tens of microseconds; a yield on an idle CPU a fraction of one). The
// team's workers and coordinator use it, and so do the pool's dispatcher
// and workers.
//
// It imports only the standard library and x/sys (for sched_yield).
package spin
