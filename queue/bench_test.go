package queue_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// Benchmarks between processes. Python's figures on the reference machine
// (issue 5): mp.Queue moves about 0.23 M small messages/s from one process to
// another; a C pipe round trip between two processes takes about 85 µs.
//
// A queue benchmark starts its producer and consumer processes, waits until
// all are ready, then releases them at once and times from the release to
// the last consumer's last message (each consumer records its end time in a
// shared control segment), so process start and exit are not counted.

// benchCtl indexes the shared control words of a queue benchmark.
const (
	ctlGo    = 0 // set to 1 to start
	ctlReady = 1 // children that are ready
	ctlEnd   = 2 // first of the consumers' end times (Unix ns)
)

func BenchmarkQueue(b *testing.B) {
	for _, pc := range [][2]int{{1, 1}, {4, 4}} {
		for _, size := range []int{8, 4096} {
			name := fmt.Sprintf("%dto%d/%s", pc[0], pc[1], sizeName(size))
			b.Run(name, func(b *testing.B) { benchQueue(b, pc[0], pc[1], size) })
		}
	}
}

func sizeName(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func benchQueue(b *testing.B, producers, consumers, size int) {
	dir := b.TempDir()
	q, err := queue.Create("q", 1<<20, shm.Dir(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	seg, err := shm.Create("ctl", shm.Meta{DType: shm.Int64, Shape: []int{ctlEnd + consumers}, Kind: shm.KindRaw}, shm.Dir(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	ctl, err := shm.View[int64](seg)
	if err != nil {
		b.Fatal(err)
	}

	n := b.N
	var ps []*testproc.Child
	start := func(role string, id, count int) {
		ps = append(ps, startChild(b, role, "DIR="+dir, "NAME=q", "CTL=ctl",
			fmt.Sprint("ID=", id), fmt.Sprint("N=", count), fmt.Sprint("SIZE=", size)))
	}
	for i := range consumers {
		start("bench-get", i, n/consumers+btoi(i < n%consumers))
	}
	for i := range producers {
		start("bench-put", i, n/producers+btoi(i < n%producers))
	}
	testproc.WaitFor(b, "the children to be ready", func() bool {
		return atomic.LoadInt64(&ctl[ctlReady]) == int64(producers+consumers)
	})
	b.ResetTimer()
	t0 := time.Now()
	atomic.StoreInt64(&ctl[ctlGo], 1)
	for _, p := range ps {
		p.WaitOK(b)
	}
	b.StopTimer()
	var end int64
	for i := range consumers {
		end = max(end, atomic.LoadInt64(&ctl[ctlEnd+i]))
	}
	elapsed := time.Duration(end - t0.UnixNano())
	if elapsed <= 0 {
		b.Fatalf("bad elapsed time %v", elapsed)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
}

func btoi(c bool) int {
	if c {
		return 1
	}
	return 0
}

// benchChild runs the bench-put and bench-get roles: put or get N messages
// of SIZE bytes once the parent says go; a consumer then records its end
// time.
func benchChild(ctx context.Context, role string) error {
	dir, id, n, size := env("DIR"), envInt("ID"), envInt("N"), envInt("SIZE")
	q, err := queue.Open(env("NAME"), shm.Dir(dir))
	if err != nil {
		return err
	}
	defer q.Close()
	seg, err := shm.Open(env("CTL"), shm.Dir(dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	ctl, err := shm.View[int64](seg)
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	atomic.AddInt64(&ctl[ctlReady], 1)
	for atomic.LoadInt64(&ctl[ctlGo]) == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Microsecond)
	}
	if role == "bench-put" {
		for range n {
			if err := q.Put(ctx, buf); err != nil {
				return err
			}
		}
		return nil
	}
	for range n {
		if buf, err = q.GetAppend(ctx, buf[:0]); err != nil {
			return err
		}
	}
	atomic.StoreInt64(&ctl[ctlEnd+id], time.Now().UnixNano())
	return nil
}

// BenchmarkPipeRoundTrip measures one round trip (send 8 bytes, receive the
// echo) between this process and an echo process.
func BenchmarkPipeRoundTrip(b *testing.B) {
	a, c, err := queue.NewPipeAnon(64 << 10)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	p := startChild(b, "echo", "GOB="+encodeGob(b, struct{ C *queue.Conn }{c}))
	ctx := context.Background()
	msg := make([]byte, 8)
	buf := make([]byte, 0, 8)
	roundTrip := func() {
		if err := a.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if buf, err = a.RecvAppend(ctx, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip() // the child is up
	for b.Loop() {
		roundTrip()
	}
	if err := a.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	p.WaitOK(b)
}

// BenchmarkQueueGoroutines is the in-process baseline: one producer and one
// consumer goroutine on one queue.
func BenchmarkQueueGoroutines(b *testing.B) {
	for _, size := range []int{8, 4096} {
		b.Run("1to1/"+sizeName(size), func(b *testing.B) {
			q, err := queue.CreateAnon(1 << 20)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			ctx := context.Background()
			var wg sync.WaitGroup
			n := b.N
			b.ResetTimer()
			wg.Go(func() {
				msg := make([]byte, size)
				for range n {
					if err := q.Put(ctx, msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			buf := make([]byte, 0, size)
			for range n {
				if buf, err = q.GetAppend(ctx, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(n)*float64(size)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// BenchmarkPutGet is one goroutine putting a message and getting it back:
// the cost of the two calls without another processor, so without cache
// line transfers (the serial cost that bounds throughput from below).
func BenchmarkPutGet(b *testing.B) {
	for _, size := range []int{8, 4096} {
		b.Run(sizeName(size), func(b *testing.B) {
			q, err := queue.CreateAnon(1 << 20)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			ctx := context.Background()
			msg := make([]byte, size)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := q.Put(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if buf, err = q.GetAppend(ctx, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
