// Package remote carries errors between the processes of a shmpar program.
// Code that fails in a worker or a started process can send only text, so an
// error crosses as its message and a small code naming the well-known
// sentinel it wraps, if any; Error recreates it in the receiving process,
// where errors.Is still finds that sentinel.
//
// The sentinels are package engine's, set once by engine's initialization
// (SetSentinels); the table is the same in every process of a program,
// which runs one binary. The package imports only the standard library.
package remote
