// Package registry holds the functions a program registers by name during
// its initialization: the kernels of package engine, the pool's functions
// and the functions processes run. Go cannot send a function to another
// process, so every process of the program registers the same ones and a
// message names one; the name is the only part of a registration that
// crosses.
//
// A Registry is safe for concurrent use. Lookups take no lock (the map is
// copied on every Add), so the hot path of a worker costs one atomic load
// and a map access. It imports only the standard library.
package registry
