package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
)

func TestMain(m *testing.M) {
	engine.Main()
	if os.Getenv("QUICKSTART_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestQuickstart runs the program as the README shows it and checks its
// answer: Σ (i mod 100)/2 over 2^20 elements.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "QUICKSTART_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// 2^20 = 10485 full cycles of 0..99 (sum 4950 each) plus 0..75.
	want := (10485*4950 + 75*76/2) / 2.0
	require.Regexp(t, regexp.MustCompile(`^\d+ workers, sum = `), string(out))
	require.Contains(t, string(out), fmt.Sprintf("sum = %.1f\n", want))
}
