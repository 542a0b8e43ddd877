//go:build linux

package shmap_test

import (
	"testing"

	"github.com/shmpar/shmpar/internal/testproc"
)

// TestMain lets the test binary play other processes (see testproc and
// proc_test.go).
func TestMain(m *testing.M) { testproc.Main(m, child) }
