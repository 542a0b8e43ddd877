// Package teamtest holds the helpers the tests of engine, engine/pool and
// engine/process share: a bounded context, a shared array and a team that
// are closed when the test ends, a buffer that a child's output goroutines
// may write while the test reads it, and the report a child process run by
// internal/testproc writes to a file for the test to wait on (testproc
// collects a child's output only once it has exited; a test that must act
// while the child runs — kill it — reads the report instead).
//
// It is imported by tests only. It imports engine, array and the
// standard library, testify and internal/proc.
package teamtest
