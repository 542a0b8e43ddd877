// Package engine runs kernels over index ranges on a team of worker
// processes that share memory, the way OpenMP's parallel for runs a loop on
// a team of threads.
package engine
