package teamtest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report")
	t.Setenv(EnvReport, path)
	require.NoError(t, Report("pid 1", "pid 2"))
	require.Equal(t, []string{"pid 1", "pid 2"}, AwaitReport(t, path))
	require.NoError(t, Report())
	require.Empty(t, AwaitReport(t, path))
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	go func() { b.Write([]byte("a")); close(done) }()
	<-done
	b.Write([]byte("b"))
	require.Equal(t, "ab", b.String())
}

func TestAwaitGone(t *testing.T) {
	AwaitGone(t, 1<<30, time.Second) // no such pid: gone at once
}
