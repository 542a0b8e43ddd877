// Package codec is how values cross between the processes of a shmpar
// program: kernel arguments, pool inputs and results, the arguments of a
// process function. A value is encoded with encoding/gob, except that a
// shared array, value, queue or lock crosses as a reference to its segment
// (its type implements gob.GobEncoder and gob.GobDecoder; the decoder
// attaches the segment in the receiving process) and an empty type crosses
// as no bytes at all.
//
// Of analyses a type once, at registration: whether gob can ever encode it
// (Type.Err), whether equal values encode to equal bytes (Stable, which
// lets a team skip encoding unchanged arguments), whether it holds only
// data (Plain), and whether it may be copied byte for byte (Flat). A Type
// is immutable and safe for concurrent use.
//
// The package imports only the standard library; its errors carry no
// sentinel, the caller wraps them with its own.
package codec
