// Package supervise is what a team tells the packages built on it about
// its worker processes. The pool (package engine/pool) runs its tasks on a
// team's workers, inside a job of the team, and must know more than the
// public API says: when a worker process exits, how it ended, and how to
// kill one that runs a task past its timeout. Package engine implements
// Team for its *engine.Team and registers the conversion at init (SetOf),
// so that engine imports none of its clients.
//
// The hooks read the team's worker table and change nothing in it but
// the life of one process: replacing a dead worker stays the team's
// business, at the start of its next job.
//
// Watch is the stall rule the team applies to its workers while it waits
// for a job, for the pool to apply the same rule to its tasks: what counts
// as progress, how CPU time is read, when a process is stalled.
//
// The package imports the standard library and internal/proc.
package supervise
