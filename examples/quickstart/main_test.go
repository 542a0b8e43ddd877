package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
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

// TestREADMEIsTheQuickstart: the program README.md shows is this one, from
// its arguments type to the end, so the test above runs what the README
// shows.
func TestREADMEIsTheQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(readme), "```go\n")
	require.True(t, ok, "README.md has no Go block")
	block, _, ok = strings.Cut(block, "```\n")
	require.True(t, ok, "README.md's Go block does not end")
	i := strings.Index(string(src), "// ScaleArgs")
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, string(src[i:]), block, "README.md's snippet differs from examples/quickstart/main.go")
}
