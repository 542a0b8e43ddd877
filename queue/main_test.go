package queue_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// TestMain lets the test binary play another process (see testproc). The
// queues decoded from gob stay in shm's Attach cache until their files are
// gone; they are released before the leak check.
func TestMain(m *testing.M) {
	testproc.Main(m, child, testproc.AfterRun(func() { shm.ReleaseUnlinked() }))
}

// childTimeout bounds every child's work.
const childTimeout = 50 * time.Second

func env(key string) string { return os.Getenv("SHMPAR_TEST_" + key) }

func envInt(key string) int {
	n, _ := strconv.Atoi(env(key))
	return n
}

// streamMsg builds message seq of producer id, size bytes long (at least
// 16): id, seq, a check word, then filler derived from them.
func streamMsg(buf []byte, id, seq, size int) []byte {
	buf = buf[:0]
	buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(seq))
	buf = binary.LittleEndian.AppendUint64(buf, check(id, seq))
	for i := 16; i < size; i++ {
		buf = append(buf, byte(id+seq+i))
	}
	return buf
}

func check(id, seq int) uint64 {
	return uint64(id)*0x9e3779b97f4a7c15 ^ uint64(seq)*0xbf58476d1ce4e5b9 ^ 0x5eed
}

// parseStreamMsg checks a message built by streamMsg and returns its id and
// sequence number.
func parseStreamMsg(msg []byte) (id, seq int, err error) {
	if len(msg) < 16 {
		return 0, 0, fmt.Errorf("message of %d bytes, want at least 16", len(msg))
	}
	id = int(binary.LittleEndian.Uint32(msg))
	seq = int(binary.LittleEndian.Uint32(msg[4:]))
	if binary.LittleEndian.Uint64(msg[8:]) != check(id, seq) {
		return 0, 0, fmt.Errorf("message %x has a bad check word", msg[:16])
	}
	for i := 16; i < len(msg); i++ {
		if msg[i] != byte(id+seq+i) {
			return 0, 0, fmt.Errorf("message %d/%d: byte %d is %d, want %d", id, seq, i, msg[i], byte(id+seq+i))
		}
	}
	return id, seq, nil
}

// crcMsg builds a self-checking message of n >= 8 bytes: a CRC of the rest,
// then seq, then filler.
func crcMsg(seq, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b[4:], uint32(seq))
	for i := 8; i < n; i++ {
		b[i] = byte(seq*7 + i)
	}
	binary.LittleEndian.PutUint32(b, crc32.ChecksumIEEE(b[4:]))
	return b
}

func checkCRCMsg(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("message of %d bytes", len(b))
	}
	if crc32.ChecksumIEEE(b[4:]) != binary.LittleEndian.Uint32(b) {
		return fmt.Errorf("message of %d bytes (seq %d) fails its CRC: a partial or mixed message", len(b), binary.LittleEndian.Uint32(b[4:]))
	}
	return nil
}

// openCounts opens the shared uint32 counters a consumer reports into.
func openCounts(name, dir string) (*shm.Segment, []uint32, error) {
	seg, err := shm.Open(name, shm.Dir(dir))
	if err != nil {
		return nil, nil, err
	}
	c, err := shm.View[uint32](seg)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return seg, c, nil
}

func child(role string) error {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	dir, name := env("DIR"), env("NAME")
	switch role {
	case "producer": // put N stream messages of SIZE bytes as producer ID (slowly with PACE; BIAS: bias at once)
		if env("BIAS") != "" {
			queue.SetBiasAfter(1)
		}
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer q.Close()
		id, n, size := envInt("ID"), envInt("N"), max(envInt("SIZE"), 16)
		pace := env("PACE") != ""
		buf := make([]byte, 0, size)
		for seq := range n {
			if pace && seq%64 == 63 {
				time.Sleep(500 * time.Microsecond) // keep the stream going a while
			}
			if err := q.Put(ctx, streamMsg(buf, id, seq, size)); err != nil {
				return fmt.Errorf("producer %d, message %d: %w", id, seq, err)
			}
		}
		return nil

	case "consumer": // get until closed; check order per producer; count each message in COUNTS (BIAS: bias at once)
		got, end, wrong := consumeStream(ctx)
		if wrong != nil {
			return wrong
		}
		if !errors.Is(end, queue.ErrClosed) {
			return fmt.Errorf("consumer %d after %d messages: %w", envInt("ID"), got, end)
		}
		fmt.Println("got", got)
		return nil

	case "hook": // stop at POINT inside one OP (put or get) and wait to be killed; with BIAS, on a biased side
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		if env("BIAS") != "" {
			// Bias the side to this process first: one call of OP.
			queue.SetBiasAfter(1)
			switch env("OP") {
			case "put":
				err = q.Put(ctx, []byte("warm"))
			case "get":
				_, err = q.Get(ctx)
			}
			if err != nil {
				return err
			}
			if !queue.Biased(q, env("OP") == "put") {
				return fmt.Errorf("the %s side is not biased to this process", env("OP"))
			}
			fmt.Println("biased")
		}
		point := env("POINT")
		var once sync.Once
		queue.SetTestHook(func(p string) {
			if p == point {
				once.Do(func() {
					fmt.Println("hooked")
					if env("RESUME") == "" {
						time.Sleep(childTimeout)
					}
					_, _ = io.Copy(io.Discard, os.Stdin) // go on when stdin ends
				})
			}
		})
		switch env("OP") {
		case "put":
			err = q.Put(ctx, []byte(env("MSG")))
		case "get":
			_, err = q.Get(ctx)
		}
		if env("RESUME") != "" && err == nil {
			fmt.Println("done")
			return nil
		}
		return fmt.Errorf("hook %s not reached (err %v)", point, err)

	case "putloop": // put CRC-checked messages of varied sizes until killed
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		for seq := 0; ; seq++ {
			if err := q.Put(ctx, crcMsg(seq, 8+(seq*997)%3000)); err != nil {
				return err
			}
		}

	case "getone": // print the next message (waking from a futex sleep), "closed" or "peer gone"
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer q.Close()
		fmt.Println("ready")
		msg, err := q.Get(ctx)
		switch {
		case errors.Is(err, queue.ErrClosed):
			fmt.Println("closed")
			return nil
		case errors.Is(err, queue.ErrPeerGone):
			fmt.Println("peer gone")
			return nil
		case err != nil:
			return err
		}
		fmt.Printf("got %s\n", msg)
		return nil

	case "getall": // print every message until the queue is closed or its writers gone
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer q.Close()
		fmt.Println("ready")
		for {
			msg, err := q.Get(ctx)
			switch {
			case errors.Is(err, queue.ErrClosed):
				fmt.Println("closed")
				return nil
			case errors.Is(err, queue.ErrPeerGone):
				fmt.Println("peer gone")
				return nil
			case err != nil:
				return err
			}
			fmt.Printf("got %s\n", msg)
		}

	case "hold": // open the queue, put MSGS (space-separated) if set, then exit (EXIT) or wait for stdin's end
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		for _, m := range strings.Fields(env("MSGS")) {
			if err := q.Put(ctx, []byte(m)); err != nil {
				return err
			}
		}
		fmt.Println("ready")
		if env("EXIT") != "" {
			return nil // exit without Close or CloseWrite
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		if err := q.Close(); err != nil {
			return err
		}
		fmt.Println("handle closed")
		time.Sleep(childTimeout) // alive, without a handle, until killed
		return nil

	case "pipe-hold": // decode a pipe end from GOB, send MSGS, then wait for stdin's end (or exit at once with EXIT)
		var args struct{ C *queue.Conn }
		if err := decodeGob(env("GOB"), &args); err != nil {
			return err
		}
		for _, m := range strings.Fields(env("MSGS")) {
			if err := args.C.Send(ctx, []byte(m)); err != nil {
				return err
			}
		}
		fmt.Println("ready")
		if env("EXIT") != "" {
			return nil
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		return args.C.Close()

	case "pipe-recv": // decode a pipe end from GOB and print what it receives until closed or peer gone
		var once sync.Once
		queue.SetTestHook(func(p string) {
			if p == "wait:alive" {
				once.Do(func() { fmt.Println("checked alive") })
			}
		})
		var args struct{ C *queue.Conn }
		if err := decodeGob(env("GOB"), &args); err != nil {
			return err
		}
		fmt.Println("ready")
		for {
			msg, err := args.C.Recv(ctx)
			switch {
			case errors.Is(err, queue.ErrClosed):
				fmt.Println("closed")
				return nil
			case errors.Is(err, queue.ErrPeerGone):
				fmt.Println("peer gone")
				return nil
			case err != nil:
				return err
			}
			fmt.Printf("got %s\n", msg)
		}

	case "putone": // put MSG, within TIMEOUT if set, and say how it went
		q, err := queue.Open(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer q.Close()
		if d, err := time.ParseDuration(env("TIMEOUT")); err == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		fmt.Println("ready")
		err = q.Put(ctx, []byte(env("MSG")))
		switch {
		case err == nil:
			fmt.Println("put done")
		case errors.Is(err, queue.ErrFull) && errors.Is(err, context.DeadlineExceeded):
			fmt.Println("full timeout")
		case errors.Is(err, queue.ErrClosed):
			fmt.Println("closed")
		default:
			return err
		}
		return nil

	case "gobget": // decode a gob-encoded Queue from GOB and print what it holds
		var args struct{ Q *queue.Queue }
		if err := decodeGob(env("GOB"), &args); err != nil {
			return err
		}
		for {
			msg, err := args.Q.Get(ctx)
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Printf("%s\n", msg)
		}

	case "echo": // decode a gob-encoded pipe end from GOB; send back each message until closed
		var args struct{ C *queue.Conn }
		if err := decodeGob(env("GOB"), &args); err != nil {
			return err
		}
		var buf []byte
		for {
			msg, err := args.C.RecvAppend(ctx, buf[:0])
			if errors.Is(err, queue.ErrClosed) {
				return args.C.CloseWrite()
			}
			if err != nil {
				return err
			}
			if err := args.C.Send(ctx, msg); err != nil {
				return err
			}
			buf = msg
		}

	case "typedget": // get Items from a gob-encoded Typed queue and print them
		var args struct{ T *queue.Typed[item] }
		if err := decodeGob(env("GOB"), &args); err != nil {
			return err
		}
		for {
			it, err := args.T.Get(ctx)
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Printf("%s=%d\n", it.Name, it.N)
		}

	case "jwork": // take N tasks from the joinable queue (by name, or GOB), mark each done; with GATE, wait for stdin's end before the last TaskDone
		var j *queue.JoinableQueue
		if g := env("GOB"); g != "" {
			var args struct{ J *queue.JoinableQueue }
			if err := decodeGob(g, &args); err != nil {
				return err
			}
			j = args.J
		} else {
			var err error
			if j, err = queue.OpenJoinable(name, shm.Dir(dir)); err != nil {
				return err
			}
			defer j.Close()
		}
		n := envInt("N")
		for i := range n {
			msg, err := j.Get(ctx)
			if err != nil {
				return err
			}
			fmt.Printf("took %s\n", msg)
			if i == n-1 && env("GATE") != "" {
				_, _ = io.Copy(io.Discard, os.Stdin)
			}
			if err := j.TaskDone(); err != nil {
				return err
			}
		}
		fmt.Println("all done")
		return nil

	case "jtake": // take one task from the joinable queue and hold it until killed
		j, err := queue.OpenJoinable(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		msg, err := j.Get(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("took %s\n", msg)
		time.Sleep(childTimeout)
		return nil

	case "jjoin": // join the joinable queue and say how it went
		j, err := queue.OpenJoinable(name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer j.Close()
		fmt.Println("ready")
		switch err := j.JoinContext(ctx); {
		case err == nil:
			fmt.Println("joined")
		case errors.Is(err, queue.ErrPeerGone):
			fmt.Println("peer gone:", err)
		default:
			return err
		}
		return nil

	case "bench-put", "bench-get": // see bench_test.go
		return benchChild(ctx, role)
	}
	if f := chaosRoles[role]; f != nil {
		return f(ctx)
	}
	return fmt.Errorf("unknown role %q", role)
}

// chaosRoles are the roles of the chaos scenarios (chaos_test.go, built
// with the chaos tag), registered there.
var chaosRoles = map[string]func(ctx context.Context) error{}

// item is a value carried by the typed-queue tests.
type item struct {
	Name string
	N    int
}

// startChild starts the test binary in role with SHMPAR_TEST_<key>=value
// pairs from env; testproc kills and reaps it when the test ends.
func startChild(t testing.TB, role string, env ...string) *testproc.Child {
	t.Helper()
	vars := make([]string, len(env))
	for i, kv := range env {
		vars[i] = "SHMPAR_TEST_" + kv
	}
	return testproc.Spawn(t, role, testproc.Env(vars...))
}

// waitAsleep waits until a goroutine of this process sleeps on the futex
// word w of a queue, failing the test if none does.
func waitAsleep(t testing.TB, w *uint32) {
	t.Helper()
	testproc.WaitAsleep(t, 1, os.Getpid(), uintptr(unsafe.Pointer(w)))
}

// waitChildAsleep waits until child p sleeps on the futex word w of queue q
// (w as this process maps it; the child maps q's file elsewhere).
func waitChildAsleep(t testing.TB, p *testproc.Child, q *queue.Queue, w *uint32) {
	t.Helper()
	self, err := testproc.MappedAt(os.Getpid(), q.Path())
	if err != nil {
		t.Fatal(err)
	}
	var base uintptr
	testproc.WaitFor(t, "the child to map the queue", func() bool {
		base, err = testproc.MappedAt(p.PID(), q.Path())
		return err == nil
	})
	testproc.WaitAsleep(t, 1, p.PID(), base+(uintptr(unsafe.Pointer(w))-self))
}

// kill kills the child with SIGKILL and reaps it.
func kill(t testing.TB, p *testproc.Child) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = p.Wait()
}

func encodeGob(t testing.TB, v any) string {
	t.Helper()
	b, err := gobBytes(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func gobBytes(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

func decodeGob(s string, v any) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return gob.NewDecoder(bytes.NewReader(b)).Decode(v)
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// consumeStream is the consumer of the stream tests: it opens queue NAME in
// DIR (biased at once with BIAS) and the counts of COUNTS, then, as
// consumer ID of PRODUCERS producers of N messages each, gets messages
// until a Get fails, checking each message and its order per producer and
// counting it in COUNTS (and in its own progress word). It returns how many
// it got, the error that ended it (ErrClosed at the normal end; a failure
// to open), and, when a message was bad (unreadable, out of range, out of
// order), what was wrong with it.
func consumeStream(ctx context.Context) (got int, end, wrong error) {
	if env("BIAS") != "" {
		queue.SetBiasAfter(1)
	}
	dir := env("DIR")
	q, err := queue.Open(env("NAME"), shm.Dir(dir))
	if err != nil {
		return 0, err, nil
	}
	defer q.Close()
	seg, counts, err := openCounts(env("COUNTS"), dir)
	if err != nil {
		return 0, err, nil
	}
	defer seg.Close()
	producers, n, cid := envInt("PRODUCERS"), envInt("N"), envInt("ID")
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	progress := &counts[producers*n+cid]
	buf := make([]byte, 0, 64)
	for {
		msg, err := q.GetAppend(ctx, buf[:0])
		if err != nil {
			return got, err, nil
		}
		buf = msg
		id, seq, err := parseStreamMsg(msg)
		switch {
		case err != nil:
			return got, nil, err
		case id >= producers || seq >= n:
			return got, nil, fmt.Errorf("message %d/%d out of range", id, seq)
		case seq <= last[id]:
			return got, nil, fmt.Errorf("consumer %d: producer %d's message %d after %d: out of order", cid, id, seq, last[id])
		}
		last[id] = seq
		atomic.AddUint32(&counts[id*n+seq], 1)
		atomic.AddUint32(progress, 1)
		got++
	}
}
