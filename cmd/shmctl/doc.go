// Command shmctl lists, creates, inspects, removes and sweeps shmpar shared
// memory segments, like ipcs and ipcrm for System V IPC.
//
// Usage:
//
//	shmctl create NAME -dtype float64 -shape 1000,10 [-fill X] [-dir D] [-persistent]
//	shmctl ls [-dir D]
//	shmctl inspect NAME [-dir D] [-head N] [-allow-foreign]
//	shmctl rm NAME... [-dir D] [-allow-foreign]
//	shmctl sweep [-dir D] [-dry-run] [-allow-foreign]
//
// The directory defaults to $SHMPAR_DIR, else /dev/shm. Errors go to stderr
// and the exit status is 1. rm refuses files that are not shmpar segments;
// sweep removes only segments whose creator process is gone and that are not
// marked persistent. inspect and rm refuse, and sweep leaves alone, segments
// of other users and segments whose mode lets group or others write them
// (shm.ErrForeign), unless given -allow-foreign. Names and paths that hold a
// space, a quote, a backslash or a non-printable character (files made by
// other tools may) are printed as Go string literals, so a hostile name
// cannot forge a line.
//
// ls shows each segment's kind (array, value, queue, engine, map, raw);
// inspect prints the statistics of an array or value and, for a map
// (package shmap), its key and value types, capacity and number of keys.
//
// main.go holds the command dispatch, commands.go the commands, stats.go the
// statistics and fills per dtype. It imports shm and shmap (for a map's
// header; and, in its tests, array) besides the standard library: it reads
// and writes segments through their format, never through a running engine.
package main
