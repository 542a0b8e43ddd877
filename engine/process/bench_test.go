package process_test

import (
	"context"
	"testing"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
)

// BenchmarkSpawn measures starting a process, running a no-op function in
// it and waiting for it, against the bare fork/exec of this test binary
// (which runs TestMain up to engine.Main and exits).
func BenchmarkSpawn(b *testing.B) {
	b.Run("spawn-wait", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			p, err := noopP.Start(ctx, struct{}{})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("exec-baseline", func(b *testing.B) {
		for b.Loop() {
			testproc.Run(b, "exit0")
		}
	})
}

// BenchmarkSpawnPipeRoundTrip measures a round trip of an 8-byte message
// through a Pipe between this process and a spawned one that echoes it.
func BenchmarkSpawnPipeRoundTrip(b *testing.B) {
	ctx := context.Background()
	a, c, err := queue.NewPipeAnon(4096)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	p, err := echoP.Start(ctx, spawnEchoArgs{C: c})
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	defer func() {
		a.CloseWrite()
		if err := p.Wait(); err != nil {
			b.Error(err)
		}
	}()
	msg := []byte("12345678")
	buf := make([]byte, 0, 64)
	for b.Loop() {
		if err := a.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if buf, err = a.RecvAppend(ctx, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
