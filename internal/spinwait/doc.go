// Package spinwait holds the spin-wait steps that lock and queue share: the
// PAUSE instruction (in assembly on amd64, a plain loop elsewhere) and the
// round of a spin loop that pauses a little longer each time and then yields.
//
// The queue's side locks and the lock package's primitives spin the same way
// on the same hardware; keeping the step in one place keeps their tuning in
// one place too.
package spinwait
