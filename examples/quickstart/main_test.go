package main

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error {
		if role != "main" {
			return fmt.Errorf("unknown role %q", role)
		}
		main()
		return nil
	})
}

// TestQuickstart runs the program as the README shows it and checks its
// answer: Σ (i mod 100)/2 over 2^20 elements.
func TestQuickstart(t *testing.T) {
	out := testproc.Run(t, "main")
	// 2^20 = 10485 full cycles of 0..99 (sum 4950 each) plus 0..75.
	want := (10485*4950 + 75*76/2) / 2.0
	require.Regexp(t, regexp.MustCompile(`^\d+ workers, sum = `), out)
	require.Contains(t, out, fmt.Sprintf("sum = %.1f\n", want))
}
