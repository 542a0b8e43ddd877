// Package trace records where the time of a team's jobs goes, in a build
// with the shmpartrace tag: per job generation, the monotonic time at each
// phase of a job (Run, Posted, … Left) in the coordinator and in each
// worker process, and the start and end of every chunk a participant ran.
// Dump writes them to $SHMPAR_TRACE_DIR when a process of the team is done
// with them; the per-phase cost of an empty For comes from these files.
//
// In a build without the tag every function is empty and costs nothing:
// package engine calls them on its hot path unconditionally.
//
// The recording functions are not safe for concurrent use: each process
// records from the one goroutine that runs its side of a job. The package
// imports only the standard library.
package trace
