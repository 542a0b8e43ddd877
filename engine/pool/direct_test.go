package pool_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
)

// Direct calls: a Map of flat types rides the team's hot path. These tests
// check that the path runs when it should (and not when it should not), and
// that it answers faults like the session path.

// killFlat is killArgs made flat: the task with X == At SIGKILLs its own
// worker process if it is the first to create the file named in Marker.
type killFlat struct {
	X, At, Coord int
	Marker       [256]byte
}

func marker(t *testing.T) ([256]byte, string) {
	path := filepath.Join(t.TempDir(), "killed")
	var m [256]byte
	require.Less(t, len(path), len(m))
	copy(m[:], path)
	return m, path
}

func killFlatFn(ctx context.Context, a killFlat) (int, error) {
	if a.X == a.At && os.Getpid() != a.Coord {
		path := string(bytes.TrimRight(a.Marker[:], "\x00"))
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprint(f, os.Getpid())
			f.Close()
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	return 2 * a.X, nil
}

var (
	killFlatF     = pool.Register("kill-flat", killFlatFn)
	killFlatIdemF = pool.Register("kill-flat-idem", killFlatFn, pool.Idempotent())
	// panicAllF panics on every input: each failure carries a stack, so the
	// direct path's error journals fill up.
	panicAllF = pool.Register("panic-all", func(ctx context.Context, x int) (int, error) {
		panic(fmt.Sprintf("boom %d %s", x, bytes.Repeat([]byte("x"), x%3000)))
	})
)

// napFlat makes a task create the file named in Marker, then sleep Ms
// milliseconds or until its context ends.
type napFlat struct {
	Ms     int
	Marker [256]byte
}

var napFlatF = pool.Register("nap-flat", func(ctx context.Context, a napFlat) (int, error) {
	if f, err := os.Create(string(bytes.TrimRight(a.Marker[:], "\x00"))); err == nil {
		f.Close()
	}
	return sleep(ctx, a.Ms)
})

// awaitFile waits (at most 20 s) until path exists.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s never appeared", path)
		time.Sleep(time.Millisecond)
	}
}

func readPID(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	return pid
}

func TestPoolDirectPath(t *testing.T) {
	ctx := teamtest.Ctx(t)
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	r0 := pool.DirectRounds(p)
	out, err := sqF.Map(ctx, p, ints(1000))
	require.NoError(t, err)
	require.Equal(t, 999*999, out[999])
	require.Greater(t, pool.DirectRounds(p), r0, "a Map of ints runs directly")

	// Not directly: gob types, a Timeout, and pools whose options need the
	// session path.
	r1 := pool.DirectRounds(p)
	_, err = repeatF.Map(ctx, p, []wordArgs{{"a", 2}})
	require.NoError(t, err)
	_, err = sqF.Map(ctx, p, ints(10), pool.Timeout(time.Minute))
	require.NoError(t, err)
	require.Equal(t, r1, pool.DirectRounds(p))

	for _, c := range []struct {
		name string
		team []engine.TeamOption
		opts []pool.Option
	}{
		{"primary", []engine.TeamOption{engine.Workers(3), engine.Primary(true)}, nil},
		{"max-tasks", []engine.TeamOption{engine.Workers(2)}, []pool.Option{pool.MaxTasksPerWorker(1000)}},
	} {
		q := newPool(t, c.team, c.opts...)
		out, err := sqF.Map(ctx, q, ints(100))
		require.NoError(t, err, c.name)
		require.Equal(t, 99*99, out[99], c.name)
		require.Zero(t, pool.DirectRounds(q), c.name)
	}

	// A Map larger than the area runs in windows; flat structs of several
	// fields and zero-size values cross byte for byte.
	big := make([]addArgs, 3_000_000)
	for i := range big {
		big[i] = addArgs{i, -2 * i}
	}
	r2 := pool.DirectRounds(p)
	sums, err := addF.Map(ctx, p, big)
	require.NoError(t, err)
	require.GreaterOrEqual(t, pool.DirectRounds(p)-r2, uint64(2), "windows")
	for i, s := range sums {
		if s != -i {
			t.Fatalf("sums[%d] = %d", i, s)
		}
	}
	empty, err := noopF.Map(ctx, p, make([]struct{}, 5))
	require.NoError(t, err)
	require.Len(t, empty, 5)
}

func TestPoolDirectWorkerKilled(t *testing.T) {
	for _, chunk := range []int{0, 1, 10} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			ctx := teamtest.Ctx(t)
			p := newPool(t, []engine.TeamOption{engine.Workers(2)})
			const n, at = 200, 137
			for _, fn := range []*pool.Func[killFlat, int]{killFlatF, killFlatIdemF} {
				m, path := marker(t)
				in := make([]killFlat, n)
				for i := range in {
					in[i] = killFlat{X: i, At: at, Coord: os.Getpid(), Marker: m}
				}
				r0, l0 := pool.DirectRounds(p), pool.DirectLeft(p)
				out, err := fn.Map(ctx, p, in, pool.ChunkSize(chunk))
				require.Greater(t, pool.DirectRounds(p), r0)
				pid := readPID(t, path)
				if fn == killFlatIdemF {
					require.NoError(t, err, "the task runs again")
					require.Greater(t, pool.DirectLeft(p), l0, "through the session path")
				} else {
					// Only the task that was running fails: those its
					// worker finished before, in the same chunk, stay.
					var te pool.TaskErrors
					require.ErrorAs(t, err, &te)
					require.Len(t, te, 1)
					require.Equal(t, at, te[0].Index)
					require.ErrorIs(t, te[0], engine.ErrWorkerDied)
					require.Equal(t, pid, te[0].PID)
					require.Equal(t, syscall.SIGKILL, te[0].Signal)
					require.ErrorContains(t, te[0], "while running it")
				}
				for i := range in {
					if i != at || fn == killFlatIdemF {
						require.Equal(t, 2*i, out[i], "task %d", i)
					}
				}
				require.Zero(t, out[at]*boolInt(fn == killFlatF), "a failed task's result is zero")
				// The pool goes on, on a full team without the dead worker.
				after := distinctPIDs(t, p)
				require.Len(t, after, 2)
				require.False(t, after[pid])
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// When the error journals of a direct call fill up, the rest of the tasks
// run through the session path: every failure is reported, with its stack.
func TestPoolDirectJournalFull(t *testing.T) {
	ctx := teamtest.Ctx(t)
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	const n = 500
	r0, l0 := pool.DirectRounds(p), pool.DirectLeft(p)
	out, err := panicAllF.Map(ctx, p, ints(n))
	require.Greater(t, pool.DirectRounds(p), r0)
	require.Greater(t, pool.DirectLeft(p), l0, "the journals filled up")
	var te pool.TaskErrors
	require.ErrorAs(t, err, &te)
	require.Len(t, te, n)
	for i, e := range te {
		require.Equal(t, i, e.Index)
		var pe *engine.PanicError
		require.ErrorAs(t, e, &pe)
		msg := fmt.Sprintf("boom %d ", i)
		require.True(t, strings.HasPrefix(pe.Value, msg), "task %d: %.40q", i, pe.Value)
		require.Contains(t, e.Stack, "direct_test.go", "task %d", i)
		require.NotZero(t, e.PID)
		require.Zero(t, out[i])
	}
}

// Close ends a direct call that is running: it returns ErrClosed.
func TestPoolDirectClose(t *testing.T) {
	ctx := teamtest.Ctx(t)
	team := teamtest.Team(t, engine.Workers(2), engine.CancelGrace(100*time.Millisecond))
	p, err := pool.On(team)
	require.NoError(t, err)
	m, path := marker(t)
	done := make(chan error, 1)
	go func() {
		_, err := napFlatF.Map(ctx, p, []napFlat{{60_000, m}, {60_000, m}, {60_000, m}})
		done <- err
	}()
	awaitFile(t, path) // a task runs
	require.NoError(t, p.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, pool.ErrClosed)
	case <-time.After(20 * time.Second):
		t.Fatal("a direct call did not end when its pool closed")
	}
	require.NoError(t, noopK.For(ctx, team, 10, struct{}{}), "the team goes on")
}

// mixIn and mixOut are flat structs of several kinds of fields.
type mixIn struct {
	A int32
	B float64
	C [3]uint8
	D bool
}

type mixOut struct {
	Sum  float64
	Bits uint64
	Tag  [2]int16
	Odd  bool
}

// mixF computes a result from every field, fails some tasks and panics in
// others.
var mixF = pool.Register("mix", func(ctx context.Context, a mixIn) (mixOut, error) {
	switch {
	case a.A%7 == 3:
		return mixOut{Sum: 1}, fmt.Errorf("input %d refused", a.A)
	case a.A%11 == 5:
		panic(fmt.Sprintf("panic on %d", a.A))
	}
	return mixOut{
		Sum:  a.B + float64(a.A),
		Bits: uint64(a.C[0])<<16 | uint64(a.C[1])<<8 | uint64(a.C[2]),
		Tag:  [2]int16{int16(a.A), -int16(a.A)},
		Odd:  a.D != (a.A%2 != 0),
	}, nil
})

func mixInputs(b []byte) []mixIn {
	var in []mixIn
	for len(b) >= 8 {
		in = append(in, mixIn{
			A: int32(b[0]) | int32(b[1])<<8,
			B: float64(int8(b[2])) / 3,
			C: [3]uint8{b[3], b[4], b[5]},
			D: b[6]&1 == 1,
		})
		b = b[8:]
	}
	return in
}

// FuzzPoolDirect checks the direct path against the session path (its slow
// twin, which a Timeout selects) on the same inputs: the same results, and
// the same tasks failing with the same errors.
func FuzzPoolDirect(f *testing.F) {
	team, err := engine.Start(engine.Workers(2))
	if err != nil {
		f.Fatal(err)
	}
	p, err := pool.On(team)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close(); team.Close() })
	f.Add([]byte("01234567abcdefgh\x03\x00\x00\x00\x00\x00\x00\x00"), uint8(0))
	f.Add(bytes.Repeat([]byte{5, 0, 9, 1, 2, 3, 1, 0, 200, 1, 255, 7, 7, 7, 0, 0}, 300), uint8(7))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		ctx := teamtest.Ctx(t)
		in := mixInputs(b)
		r0 := pool.DirectRounds(p)
		fast, ferr := mixF.Map(ctx, p, in, pool.ChunkSize(int(chunk)))
		if len(in) > 0 {
			require.Greater(t, pool.DirectRounds(p), r0, "the direct path ran")
		}
		slow, serr := mixF.Map(ctx, p, in, pool.ChunkSize(int(chunk)), pool.Timeout(time.Hour))
		require.Equal(t, slow, fast)
		var fe, se pool.TaskErrors
		if serr == nil {
			require.NoError(t, ferr)
			return
		}
		require.ErrorAs(t, serr, &se)
		require.ErrorAs(t, ferr, &fe)
		require.Len(t, fe, len(se))
		for i := range se {
			require.Equal(t, se[i].Index, fe[i].Index)
			require.Equal(t, se[i].Err.Error(), fe[i].Err.Error())
			require.Equal(t, se[i].Stack != "", fe[i].Stack != "")
		}
	})
}
