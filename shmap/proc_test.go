//go:build linux

package shmap_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// cell is the value the multi-process tests store: a count, who wrote it,
// and a check word over both, so that a torn value (half of one write,
// half of another) is seen.
type cell struct{ N, Who, Check uint64 }

func mkcell(n, who uint64) cell { return cell{n, who, seal(n, who)} }

func (c cell) ok() bool { return c.Check == seal(c.N, c.Who) }

// Words of the control segment a test shares with its children.
const (
	cPID      = 0  // pid of the hooked child
	cAt       = 1  // 1 once the hooked child waits at its hook point
	cReady    = 2  // children that have started (readers, benchmark readers)
	cStop     = 3  // 1: readers and chaos writers stop
	cGo       = 4  // 1: racing children start
	cGen      = 5  // benchmark generation: children run a batch when it changes
	cDone     = 6  // benchmark: children done with the current generation
	cProgress = 16 // [16, 48): per-child completed operations
	cPIDs     = 48 // [48, 80): per-child pids
	ctlWords  = 128
)

// waitBound bounds every wait of a test on its children.
const waitBound = 30 * time.Second

func newCtl(t testing.TB, dir string) []uint64 {
	t.Helper()
	seg, err := shm.Create("ctl", shm.Meta{DType: shm.Uint64, Shape: []int{ctlWords}}, shm.Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { seg.Close() })
	ctl, err := shm.View[uint64](seg)
	require.NoError(t, err)
	return ctl
}

func openCtl(dir string) (*shm.Segment, []uint64, error) {
	seg, err := shm.Open("ctl", shm.Dir(dir))
	if err != nil {
		return nil, nil, err
	}
	ctl, err := shm.View[uint64](seg)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return seg, ctl, nil
}

// waitFor polls cond until it holds, failing the test after waitBound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitBound, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func childEnv(dir string, kv ...any) []string {
	env := []string{"SHMAP_DIR=" + dir}
	for i := 0; i+1 < len(kv); i += 2 {
		env = append(env, fmt.Sprintf("SHMAP_%s=%v", kv[i], kv[i+1]))
	}
	return env
}

func env(key string) string { return os.Getenv("SHMAP_" + key) }

func envInt(key string) int {
	n, _ := strconv.Atoi(env(key))
	return n
}

func child(role string) error {
	if chaosRole != nil {
		if ok, err := chaosRole(role); ok {
			return err
		}
	}
	if role == "foreign" { // runs as another user, who cannot open the control segment
		return childForeign()
	}
	dir := env("DIR")
	seg, ctl, err := openCtl(dir)
	if err != nil {
		return err
	}
	defer seg.Close()
	switch role {
	case "cas":
		return childCAS(dir, ctl)
	case "reader":
		return childReader(dir, ctl)
	case "gob":
		return childGob()
	case "hook":
		return childHook(dir, ctl)
	case "chaos":
		return childChaos(dir, ctl)
	case "race":
		return childRace(dir, ctl)
	case "bench-reader":
		return childBenchReader(dir, ctl)
	case "slow-create":
		return childSlowCreate(dir, ctl)
	}
	return fmt.Errorf("unknown role %q", role)
}

// childCAS increments N counters by CompareAndSwap loops (Update when
// UPDATE is set): with MODE=disjoint, writer ID's own PER keys in turn;
// with MODE=shared, all KEYS keys in turn.
func childCAS(dir string, ctl []uint64) error {
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	id, n, keys, per := envInt("ID"), envInt("N"), envInt("KEYS"), envInt("PER")
	useUpdate := env("UPDATE") != ""
	retries := 0
	for i := range n {
		k := uint32(i % keys)
		if env("MODE") == "disjoint" {
			k = uint32(id*per + i%per)
		}
		if useUpdate {
			if _, err := m.Update(k, func(old cell, _ bool) cell { return mkcell(old.N+1, uint64(id)) }); err != nil {
				return err
			}
			continue
		}
		for {
			old, ok, err := m.Load(k)
			if err != nil {
				return err
			}
			if !ok {
				_, loaded, err := m.LoadOrStore(k, mkcell(1, uint64(id)))
				if err != nil {
					return err
				}
				if !loaded {
					break
				}
				retries++
				continue
			}
			if !old.ok() {
				return fmt.Errorf("key %d: torn value %+v", k, old)
			}
			swapped, err := m.CompareAndSwap(k, old, mkcell(old.N+1, uint64(id)))
			if err != nil {
				return err
			}
			if swapped {
				break
			}
			retries++
		}
	}
	fmt.Println("retries", retries)
	return nil
}

// childReader loads keys [0, KEYS) over and over until told to stop,
// checking that no value is torn and that no counter goes backwards.
func childReader(dir string, ctl []uint64) error {
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	keys := envInt("KEYS")
	last := make([]uint64, keys)
	loads, changes := 0, 0
	atomic.AddUint64(&ctl[cReady], 1)
	deadline := time.Now().Add(testproc.Timeout - 10*time.Second)
	for atomic.LoadUint64(&ctl[cStop]) == 0 {
		if time.Now().After(deadline) {
			return errors.New("never told to stop")
		}
		for k := range keys {
			v, ok, err := m.Load(uint32(k))
			if err != nil {
				return err
			}
			loads++
			if !ok {
				continue
			}
			if !v.ok() {
				return fmt.Errorf("key %d: torn value %+v", k, v)
			}
			if v.N < last[k] {
				return fmt.Errorf("key %d: count went back from %d to %d", k, last[k], v.N)
			}
			if v.N != last[k] {
				changes++
			}
			last[k] = v.N
		}
	}
	fmt.Println("loads", loads, "changes", changes)
	return nil
}

// carrier is an argument struct holding a map, as a worker's arguments
// would.
type carrier struct {
	Note string
	M    *shmap.Map[uint32, cell]
}

// childGob decodes a carrier from GOB, stores key 7, and also tries to
// decode the same bytes as a map of another value type.
func childGob() error {
	b, err := base64.StdEncoding.DecodeString(env("GOB"))
	if err != nil {
		return err
	}
	var c carrier
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return err
	}
	if err := c.M.Store(7, mkcell(42, uint64(os.Getpid()))); err != nil {
		return err
	}
	v, _, err := c.M.Load(1)
	if err != nil {
		return err
	}
	var wrong struct {
		Note string
		M    *shmap.Map[uint32, uint64]
	}
	werr := gob.NewDecoder(bytes.NewReader(b)).Decode(&wrong)
	fmt.Printf("%s %d %d|%v\n", c.Note, v.N, c.M.Len(), werr)
	return c.M.Close()
}

// childHook runs one operation (OP: store or delete, on KEY) and stops at
// POINT of the write protocol, where it reports and waits to be killed. With
// WORD set the map holds uint64 values (one word) instead of cells.
func childHook(dir string, ctl []uint64) error {
	if env("WORD") != "" {
		m, err := shmap.Open[uint32, uint64]("m", shmap.Dir(dir))
		if err != nil {
			return err
		}
		return hookOp(m, ctl, func(n uint64) uint64 { return n })
	}
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		return err
	}
	return hookOp(m, ctl, func(n uint64) cell { return mkcell(n, 1) })
}

func hookOp[V any](m *shmap.Map[uint32, V], ctl []uint64, mk func(uint64) V) error {
	point := env("POINT")
	shmap.SetTestHook(func(p string) {
		if p == point {
			atomic.StoreUint64(&ctl[cPID], uint64(os.Getpid()))
			atomic.StoreUint64(&ctl[cAt], 1)
			time.Sleep(testproc.Timeout)
		}
	})
	k := uint32(envInt("KEY"))
	var err error
	switch env("OP") {
	case "store":
		err = m.Store(k, mk(uint64(envInt("VAL"))))
	case "delete":
		err = m.Delete(k)
	default:
		return fmt.Errorf("unknown op %q", env("OP"))
	}
	return fmt.Errorf("%s of key %d returned (%v) without reaching %s", env("OP"), k, err, point)
}

// Keys of the chaos test: counters [0, chaosCounters) that only grow, and
// churn keys [100, 100+chaosChurn) stored, swapped and deleted at random.
const (
	chaosCounters = 16
	chaosChurn    = 64
)

// childChaos runs random operations until told to stop. Each round
// increments a counter by one (Update), then does a random operation on a
// churn key, then counts the round in its progress word.
func childChaos(dir string, ctl []uint64) error {
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	slot := envInt("SLOT")
	atomic.StoreUint64(&ctl[cPIDs+slot], uint64(os.Getpid()))
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	me := uint64(os.Getpid())
	check := func(k uint32, v cell, ok bool, err error) error {
		if err != nil {
			return err
		}
		if ok && !v.ok() {
			return fmt.Errorf("key %d: torn value %+v", k, v)
		}
		return nil
	}
	deadline := time.Now().Add(testproc.Timeout - 10*time.Second)
	for atomic.LoadUint64(&ctl[cStop]) == 0 {
		if time.Now().After(deadline) {
			return errors.New("never told to stop")
		}
		c := uint32(rng.IntN(chaosCounters))
		if _, err := m.Update(c, func(old cell, loaded bool) cell {
			if loaded && !old.ok() {
				panic(fmt.Sprintf("counter %d: torn value %+v", c, old))
			}
			return mkcell(old.N+1, me)
		}); err != nil {
			return err
		}
		k := uint32(100 + rng.IntN(chaosChurn))
		var v cell
		var ok bool
		switch rng.IntN(7) {
		case 0:
			err = m.Store(k, mkcell(rng.Uint64(), me))
		case 1:
			err = m.Delete(k)
		case 2:
			v, ok, err = m.LoadOrStore(k, mkcell(rng.Uint64(), me))
		case 3:
			v, ok, err = m.Swap(k, mkcell(rng.Uint64(), me))
		case 4:
			if v, ok, err = m.Load(k); err == nil && ok && v.ok() {
				_, err = m.CompareAndDelete(k, v)
			}
		case 5:
			v, ok, err = m.LoadAndDelete(k)
		case 6:
			v, ok, err = m.Load(k)
		}
		if err := check(k, v, ok, err); err != nil {
			return err
		}
		atomic.AddUint64(&ctl[cProgress+slot], 1)
	}
	fmt.Println("ok")
	return nil
}

// childRace waits for the go signal, then creates the map or, if another
// child was first, opens it, and increments key 1.
func childRace(dir string, ctl []uint64) error {
	for deadline := time.Now().Add(waitBound); atomic.LoadUint64(&ctl[cGo]) == 0; {
		if time.Now().After(deadline) {
			return errors.New("no go signal")
		}
	}
	how := "created"
	m, err := shmap.Create[uint32, cell]("race", 16, shmap.Dir(dir))
	if errors.Is(err, shm.ErrExist) {
		how = "opened"
		m, err = shmap.Open[uint32, cell]("race", shmap.Dir(dir))
	}
	if err != nil {
		return err
	}
	defer m.Close()
	if _, err := m.Update(1, func(old cell, _ bool) cell { return mkcell(old.N+1, 0) }); err != nil {
		return err
	}
	fmt.Println(how)
	return nil
}

// childSlowCreate creates the map "slow", stopping between the file's
// creation and the header's for WAIT (a duration; or until killed).
func childSlowCreate(dir string, ctl []uint64) error {
	wait, err := time.ParseDuration(env("WAIT"))
	if err != nil {
		return err
	}
	shmap.SetTestHook(func(p string) {
		if p == "create:segment" {
			atomic.StoreUint64(&ctl[cPID], uint64(os.Getpid()))
			atomic.StoreUint64(&ctl[cAt], 1)
			time.Sleep(wait)
		}
	})
	m, err := shmap.Create[uint32, cell]("slow", 10, shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Store(1, mkcell(1, 1))
}

// TestOpenWhileCreating opens a map whose file exists but whose creator has
// not written its header yet: Open waits for the header while the creator
// lives, and refuses the file (ErrNotMap) when the creator died before
// writing it, saying so.
func TestOpenWhileCreating(t *testing.T) {
	dir := t.TempDir()
	ctl := newCtl(t, dir)
	c := testproc.Start("slow-create", childEnv(dir, "WAIT", "300ms")...)
	waitFor(t, "the creator to stop before the header", func() bool { return atomic.LoadUint64(&ctl[cAt]) == 1 })
	start := time.Now()
	m, err := shmap.Open[uint32, cell]("slow", shmap.Dir(dir))
	require.NoError(t, err, "Open waits for the header")
	defer m.Close()
	t.Logf("Open waited %v for the header", time.Since(start))
	out, err := c.Wait()
	require.NoError(t, err, out)
	v, ok, err := m.Load(1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(1), v.N)

	require.NoError(t, m.Unlink())
	atomic.StoreUint64(&ctl[cAt], 0)
	c = testproc.Start("slow-create", childEnv(dir, "WAIT", "1m")...)
	waitFor(t, "the creator to stop before the header", func() bool { return atomic.LoadUint64(&ctl[cAt]) == 1 })
	require.NoError(t, syscall.Kill(int(atomic.LoadUint64(&ctl[cPID])), syscall.SIGKILL))
	out, err = c.Wait()
	require.ErrorContains(t, err, "killed", out)
	_, err = shmap.Open[uint32, cell]("slow", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "died before writing its header")
}

// newProcMap creates the map "m" from uint32 to cell that children open,
// and the control segment, in a fresh directory.
func newProcMap(t *testing.T, capacity int, opts ...shmap.Option) (*shmap.Map[uint32, cell], string, []uint64) {
	t.Helper()
	m, dir := newMap[uint32, cell](t, capacity, opts...)
	return m, dir, newCtl(t, dir)
}

// TestHammer runs four writer processes incrementing counters by
// CompareAndSwap (and by Update) while two reader processes load them: on
// keys each writer has to itself and on keys all writers share, the totals
// must be exact, no reader may see a torn value or a counter go backwards,
// and the readers must have seen the counters move (they ran during the
// writes).
func TestHammer(t *testing.T) {
	const writers, n = 4, 20_000
	for _, tc := range []struct {
		name, mode string
		keys, per  int
		update     bool
	}{
		{"disjoint", "disjoint", 4 * 16, 16, false},
		{"shared", "shared", 16, 0, false},
		{"shared-update", "shared", 16, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, dir, ctl := newProcMap(t, 256, shmap.Stripes(8))
			readers := []*testproc.Child{
				testproc.Start("reader", childEnv(dir, "KEYS", tc.keys)...),
				testproc.Start("reader", childEnv(dir, "KEYS", tc.keys)...),
			}
			waitFor(t, "the readers to start", func() bool { return atomic.LoadUint64(&ctl[cReady]) == 2 })
			ws := make([]*testproc.Child, writers)
			for i := range ws {
				e := childEnv(dir, "ID", i, "N", n, "KEYS", tc.keys, "PER", tc.per, "MODE", tc.mode)
				if tc.update {
					e = append(e, "SHMAP_UPDATE=1")
				}
				ws[i] = testproc.Start("cas", e...)
			}
			for _, w := range ws {
				out, err := w.Wait()
				require.NoError(t, err, out)
				t.Logf("writer: %s", strings.TrimSpace(out))
			}
			atomic.StoreUint64(&ctl[cStop], 1)
			for _, r := range readers {
				out, err := r.Wait()
				require.NoError(t, err, out)
				var loads, changes int
				_, err = fmt.Sscanf(out, "loads %d changes %d", &loads, &changes)
				require.NoError(t, err, out)
				require.Positive(t, changes, "the reader ran while the counters moved")
				t.Logf("reader: %s", strings.TrimSpace(out))
			}
			total := uint64(0)
			for k := range tc.keys {
				v, ok, err := m.Load(uint32(k))
				require.NoError(t, err)
				require.True(t, ok, "key %d", k)
				require.True(t, v.ok())
				want := uint64(writers * n / tc.keys) // shared: every writer, every key in turn
				if tc.mode == "disjoint" {
					want = uint64(n / tc.per) // one writer, its keys in turn
				}
				require.Equal(t, want, v.N, "key %d", k)
				total += v.N
			}
			require.Equal(t, uint64(writers*n), total)
			require.Equal(t, tc.keys, m.Len())
		})
	}
}

// TestGobToChild passes a named and an anonymous map to a child process
// inside a gob-encoded argument struct, as engine workers get them: the
// child attaches to the same map (what it stores, the parent loads) and
// cannot decode it as a map of other types.
func TestGobToChild(t *testing.T) {
	dir := t.TempDir()
	newCtl(t, dir)
	named, err := shmap.Create[uint32, cell]("named", 32, shmap.Dir(dir))
	require.NoError(t, err)
	defer named.Close()
	anon, err := shmap.CreateAnon[uint32, cell](32)
	require.NoError(t, err)
	defer anon.Close()
	for _, m := range []*shmap.Map[uint32, cell]{named, anon} {
		require.NoError(t, m.Store(1, mkcell(5, 0)))
		var buf bytes.Buffer
		require.NoError(t, gob.NewEncoder(&buf).Encode(carrier{Note: "hello", M: m}))
		out := testproc.Run(t, "gob", childEnv(dir, "GOB", base64.StdEncoding.EncodeToString(buf.Bytes()))...)
		got, werr, _ := strings.Cut(strings.TrimSpace(out), "|")
		require.Equal(t, "hello 5 2", got, "the child saw the parent's key and its own")
		require.Contains(t, werr, "unsupported or mismatched value type")
		v, ok, err := m.Load(7)
		require.NoError(t, err)
		require.True(t, ok, "the parent sees the child's key")
		require.Equal(t, uint64(42), v.N)
		require.NoError(t, m.Check())
	}
}

// TestCreateOrOpen starts four processes at once that each create the same
// map or, finding it created, open it: exactly one creates it, the others
// open it (waiting for its header if they find the file before it is
// written), and every increment lands in the same map.
func TestCreateOrOpen(t *testing.T) {
	dir := t.TempDir()
	ctl := newCtl(t, dir)
	const procs = 4
	cs := make([]*testproc.Child, procs)
	for i := range cs {
		cs[i] = testproc.Start("race", childEnv(dir)...)
	}
	atomic.StoreUint64(&ctl[cGo], 1)
	created := 0
	for _, c := range cs {
		out, err := c.Wait()
		require.NoError(t, err, out)
		if strings.TrimSpace(out) == "created" {
			created++
		}
	}
	require.Equal(t, 1, created)
	m, err := shmap.Open[uint32, cell]("race", shmap.Dir(dir))
	require.NoError(t, err)
	defer m.Close()
	v, _, err := m.Load(1)
	require.NoError(t, err)
	require.Equal(t, uint64(procs), v.N)
}

// killAt runs a hook child that stops at point during op on key, waits
// until it is there (holding the stripe's lock), and kills it with SIGKILL.
func killAt(t *testing.T, dir string, ctl []uint64, op, point string, key uint32, val int) {
	t.Helper()
	atomic.StoreUint64(&ctl[cAt], 0)
	c := testproc.Start("hook", childEnv(dir, "OP", op, "POINT", point, "KEY", key, "VAL", val)...)
	done := make(chan struct{})
	var out string
	var werr error
	go func() { out, werr = c.Wait(); close(done) }()
	deadline := time.After(waitBound)
	for atomic.LoadUint64(&ctl[cAt]) == 0 {
		select {
		case <-done:
			t.Fatalf("hook child exited before reaching %s: %v\n%s", point, werr, out)
		case <-deadline:
			t.Fatalf("hook child did not reach %s in %v", point, waitBound)
		case <-time.After(100 * time.Microsecond):
		}
	}
	pid := int(atomic.LoadUint64(&ctl[cPID]))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	<-done
	require.ErrorContains(t, werr, "killed", out)
}

// TestKillAtEachStep kills a writer with SIGKILL at every step of the
// write protocol (each point where it holds a lock with a write half
// done), then checks that the next user repairs the map to the outcome
// doc.go promises for that step: the map passes Check, the key holds
// exactly the old or the new state as documented, no other key changed,
// Len is right, and every entry is usable again (the map fills to exactly
// its capacity). Some steps exist only for some shapes of a chain (an
// insert behind an entry of the home block, a delete of an entry that is
// not first): the test makes maps, each with a new hash seed, until the
// keys it holds give that shape.
func TestKillAtEachStep(t *testing.T) {
	const capacity = 8
	type outcome int
	const (
		absent outcome = iota // the key is not in the map
		newVal                // the key holds the value being stored
	)
	type shape int
	const (
		anyShape    shape = iota
		afterDelete       // delete a key first, so that an insert takes a freed entry
		linksBehind       // the new key's home block is full and its chain starts there
		notFirst          // the key deleted has a predecessor in its chain
	)
	for _, tc := range []struct {
		op, point string
		key       uint32 // 0: found for the shape
		shape     shape
		want      outcome
	}{
		{"store", "alloc:bit", 9, anyShape, absent},
		{"store", "alloc:bit", 9, afterDelete, absent},
		{"store", "alloc:marked", 9, anyShape, absent},
		{"store", "alloc:marked", 9, afterDelete, absent},
		{"store", "insert:filled", 9, anyShape, absent},
		{"store", "insert:filled", 0, linksBehind, absent},
		{"store", "insert:linked", 0, linksBehind, newVal},
		{"store", "insert:published", 9, anyShape, newVal},
		{"store", "insert:published", 0, linksBehind, newVal},
		{"store", "update:journaled", 2, anyShape, newVal},
		{"store", "update:half", 2, anyShape, newVal},
		{"store", "update:written", 2, anyShape, newVal},
		{"delete", "delete:journaled", 2, anyShape, absent},
		{"delete", "delete:relinked", 0, notFirst, absent},
		{"delete", "delete:unlinked", 2, anyShape, absent},
		{"delete", "delete:unlinked", 0, notFirst, absent},
		{"delete", "free:marked", 2, anyShape, absent},
		{"delete", "delete:freed", 2, anyShape, absent},
	} {
		name := tc.op + "/" + tc.point
		switch tc.shape {
		case afterDelete:
			name += "/after-delete"
		case linksBehind:
			name += "/links-behind"
		case notFirst:
			name += "/not-first"
		}
		t.Run(name, func(t *testing.T) {
			var (
				m    *shmap.Map[uint32, cell]
				dir  string
				ctl  []uint64
				want map[uint32]uint64
				key  = tc.key
			)
			for try := 0; ; try++ {
				require.Less(t, try, 200, "no map of %d seeds gave the chain shape", try)
				m, dir, ctl = newProcMap(t, capacity, shmap.Stripes(2))
				want = map[uint32]uint64{}
				keys := uint32(5)
				if tc.shape == notFirst {
					keys = 7
				}
				for k := range keys {
					require.NoError(t, m.Store(k, mkcell(uint64(10+k), 0)))
					want[k] = uint64(10 + k)
				}
				if tc.shape == afterDelete {
					require.NoError(t, m.Delete(4))
					delete(want, 4)
				}
				switch tc.shape {
				case linksBehind:
					for k := uint32(10); k < 100 && key == 0; k++ {
						if shmap.LinksBehind(m, k) {
							key = k
						}
					}
				case notFirst:
					for k := range keys {
						if key == 0 && shmap.ChainPos(m, k) > 0 {
							key = k
						}
					}
				}
				if key != 0 {
					break
				}
			}
			killAt(t, dir, ctl, tc.op, tc.point, key, 77)

			require.NoError(t, m.Check(), "the map is repaired")
			switch tc.want {
			case absent:
				delete(want, key)
			case newVal:
				want[key] = 77
			}
			requireContents(t, m, want, 100)
			requireFillsToCapacity(t, m)
		})
	}
}

// TestRepairBumpsVersion kills a delete between its two stores (the
// predecessor's next, then the bucket's version): the repair must move the
// bucket to a new version before it frees the entry, or a reader still
// walking the old chain could accept what a reuse of the entry writes.
func TestRepairBumpsVersion(t *testing.T) {
	for try := 0; ; try++ {
		require.Less(t, try, 200, "no map of %d seeds had a key behind another in its chain", try)
		m, dir, ctl := newProcMap(t, 8, shmap.Stripes(2))
		key := uint32(100)
		for k := range uint32(7) {
			require.NoError(t, m.Store(k, mkcell(uint64(k), 0)))
		}
		for k := range uint32(7) {
			if key == 100 && shmap.ChainPos(m, k) > 0 {
				key = k
			}
		}
		if key == 100 {
			continue
		}
		atomic.StoreUint64(&ctl[cAt], 0)
		c := testproc.Start("hook", childEnv(dir, "OP", "delete", "POINT", "delete:relinked", "KEY", key)...)
		waitFor(t, "the writer to stop between its two stores", func() bool { return atomic.LoadUint64(&ctl[cAt]) == 1 || c.Exited() })
		require.EqualValues(t, 1, atomic.LoadUint64(&ctl[cAt]), c.Output())
		before := shmap.BucketWord(m, key)
		require.NoError(t, syscall.Kill(int(atomic.LoadUint64(&ctl[cPID])), syscall.SIGKILL))
		out, err := c.Wait()
		require.ErrorContains(t, err, "killed", out)
		require.NoError(t, m.Check(), "repairs")
		after := shmap.BucketWord(m, key)
		require.Equal(t, before&(1<<32-1), after&(1<<32-1), "the chain's head is unchanged")
		require.NotEqual(t, before>>32, after>>32, "the bucket has a new version")
		require.Zero(t, after>>32&1, "an even one")
		_, ok, err := m.Load(key)
		require.NoError(t, err)
		require.False(t, ok)
		return
	}
}

// TestKillWordUpdate kills a writer that overwrites a one-word value right
// after its one store: the key holds the new value, and the map is
// consistent (such an update has no journal to repair from, and needs
// none).
func TestKillWordUpdate(t *testing.T) {
	m, dir := newMap[uint32, uint64](t, 8, shmap.Stripes(2))
	ctl := newCtl(t, dir)
	for k := range uint32(5) {
		require.NoError(t, m.Store(k, uint64(10+k)))
	}
	atomic.StoreUint64(&ctl[cAt], 0)
	c := testproc.Start("hook", childEnv(dir, "OP", "store", "POINT", "update:written", "KEY", 2, "VAL", 77, "WORD", 1)...)
	waitFor(t, "the writer to stop after its store", func() bool { return atomic.LoadUint64(&ctl[cAt]) == 1 || c.Exited() })
	require.EqualValues(t, 1, atomic.LoadUint64(&ctl[cAt]), c.Output())
	require.NoError(t, syscall.Kill(int(atomic.LoadUint64(&ctl[cPID])), syscall.SIGKILL))
	out, err := c.Wait()
	require.ErrorContains(t, err, "killed", out)
	require.NoError(t, m.Check())
	for k := range uint32(5) {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		require.True(t, ok)
		want := uint64(10 + k)
		if k == 2 {
			want = 77
		}
		require.Equal(t, want, v, "key %d", k)
	}
	require.NoError(t, m.Store(2, 78), "the stripe is usable again")
	require.Equal(t, 5, m.Len())
}

// TestKillRepairer kills a writer in the middle of a delete, then kills the
// process that repairs it in the middle of the repair: the third user
// repairs both.
func TestKillRepairer(t *testing.T) {
	m, dir, ctl := newProcMap(t, 8, shmap.Stripes(1))
	want := map[uint32]uint64{}
	for k := range uint32(5) {
		require.NoError(t, m.Store(k, mkcell(uint64(k), 0)))
		want[k] = uint64(k)
	}
	killAt(t, dir, ctl, "delete", "delete:unlinked", 2, 0)
	// The next writer repairs first (one stripe: every key is in it), and
	// the repair frees key 2's entry: it dies there.
	killAt(t, dir, ctl, "store", "free:marked", 3, 99)
	require.NoError(t, m.Check())
	delete(want, 2)
	requireContents(t, m, want, 100)
	requireFillsToCapacity(t, m)
}

// TestRepairIsAtomicToReaders kills a writer just after it journaled an
// update (its bucket's version still even), then stops the process that
// repairs it in the middle of rewriting the value: a lock-free Load of the
// key meanwhile must not return the half-rewritten value; it waits for the
// repair (here: the next one, after the repairer is killed too) and returns
// the new value, whole.
func TestRepairIsAtomicToReaders(t *testing.T) {
	m, dir, ctl := newProcMap(t, 8, shmap.Stripes(1))
	require.NoError(t, m.Store(2, mkcell(10, 0)))
	require.NoError(t, m.Store(3, mkcell(10, 0)))
	killAt(t, dir, ctl, "store", "update:journaled", 2, 77)

	// The repairer stops at its hook with the first word of key 2's value
	// rewritten and holds the stripe's lock; then this process loads.
	atomic.StoreUint64(&ctl[cAt], 0)
	c := testproc.Start("hook", childEnv(dir, "OP", "store", "POINT", "repair:half", "KEY", 3, "VAL", 5)...)
	waitFor(t, "the repairer to stop mid-repair", func() bool { return atomic.LoadUint64(&ctl[cAt]) == 1 })
	killed := false
	t.Cleanup(func() {
		if !killed { // the test failed early: do not leave it holding the lock
			syscall.Kill(int(atomic.LoadUint64(&ctl[cPID])), syscall.SIGKILL)
		}
	})
	type result struct {
		v   cell
		ok  bool
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, ok, err := m.Load(2)
		got <- result{v, ok, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("Load returned %+v during the repair", r)
	case <-time.After(100 * time.Millisecond): // it may only wait; a wrong answer would be back by now
	}
	require.NoError(t, syscall.Kill(int(atomic.LoadUint64(&ctl[cPID])), syscall.SIGKILL))
	killed = true
	out, err := c.Wait()
	require.ErrorContains(t, err, "killed", out)
	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.True(t, r.ok)
		require.True(t, r.v.ok(), "torn value %+v", r.v)
		require.Equal(t, uint64(77), r.v.N)
	case <-time.After(waitBound):
		t.Fatal("Load never returned")
	}
	require.NoError(t, m.Check())
	requireContents(t, m, map[uint32]uint64{2: 77, 3: 10}, 10)
}

// requireContents checks that keys [0, keys) hold exactly want (counts of
// sealed cells), that Len agrees, and that Range sees each key once.
func requireContents(t *testing.T, m *shmap.Map[uint32, cell], want map[uint32]uint64, keys uint32) {
	t.Helper()
	for k := range keys {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		w, wok := want[k]
		require.Equal(t, wok, ok, "key %d present", k)
		if ok {
			require.True(t, v.ok(), "key %d: torn value %+v", k, v)
			require.Equal(t, w, v.N, "key %d", k)
		}
	}
	require.Equal(t, len(want), m.Len())
	seen := map[uint32]int{}
	require.NoError(t, m.Range(func(k uint32, v cell) bool { seen[k]++; return true }))
	require.Len(t, seen, len(want))
	for k, n := range seen {
		require.Equal(t, 1, n, "key %d seen once", k)
	}
}

// requireFillsToCapacity stores new keys until the map is full: exactly
// Cap-Len of them must fit (no entry was lost to a crash), and the next
// gives ErrFull.
func requireFillsToCapacity(t *testing.T, m *shmap.Map[uint32, cell]) {
	t.Helper()
	room := m.Cap() - m.Len()
	for i := range room {
		require.NoError(t, m.Store(uint32(1_000_000+i), mkcell(1, 1)), "key %d of %d", i, room)
	}
	require.ErrorIs(t, m.Store(2_000_000, mkcell(1, 1)), shmap.ErrFull)
	require.NoError(t, m.Check())
}

// TestKillRandom runs three writer processes doing random operations
// while the test kills one of them with SIGKILL at a random point of its
// work, twelve times, starting a new writer each time. Afterwards the map
// passes Check, no value is torn, the counters hold every increment a
// writer reported and at most one more per kill, and the whole capacity is
// usable.
func TestKillRandom(t *testing.T) {
	const writers, kills = 3, 12
	m, dir, ctl := newProcMap(t, 96, shmap.Stripes(4))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	start := func(slot int) *testproc.Child {
		atomic.StoreUint64(&ctl[cPIDs+slot], 0)
		c := testproc.Start("chaos", childEnv(dir, "SLOT", slot)...)
		waitFor(t, "a chaos writer to start", func() bool { return atomic.LoadUint64(&ctl[cPIDs+slot]) != 0 })
		return c
	}
	cs := make([]*testproc.Child, writers)
	for i := range cs {
		cs[i] = start(i)
	}
	for range kills {
		slot := rng.IntN(writers)
		p0 := atomic.LoadUint64(&ctl[cProgress+slot])
		ahead := uint64(1 + rng.IntN(300))
		waitFor(t, "a chaos writer to make progress", func() bool { return atomic.LoadUint64(&ctl[cProgress+slot]) >= p0+ahead })
		require.NoError(t, syscall.Kill(int(atomic.LoadUint64(&ctl[cPIDs+slot])), syscall.SIGKILL))
		out, err := cs[slot].Wait()
		require.ErrorContains(t, err, "killed", out)
		cs[slot] = start(slot)
	}
	atomic.StoreUint64(&ctl[cStop], 1)
	for _, c := range cs {
		out, err := c.Wait()
		require.NoError(t, err, out)
	}

	require.NoError(t, m.Check())
	reported := uint64(0)
	for i := range writers {
		reported += atomic.LoadUint64(&ctl[cProgress+i])
	}
	counted := uint64(0)
	for k := range uint32(chaosCounters) {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		if ok {
			require.True(t, v.ok(), "counter %d torn: %+v", k, v)
			counted += v.N
		}
	}
	t.Logf("%d increments reported, %d counted", reported, counted)
	require.GreaterOrEqual(t, counted, reported, "no reported increment was lost")
	require.LessOrEqual(t, counted, reported+kills, "at most the one in flight per kill was added unreported")
	n := 0
	require.NoError(t, m.Range(func(k uint32, v cell) bool {
		n++
		require.True(t, v.ok(), "key %d torn: %+v", k, v)
		return true
	}))
	require.Equal(t, n, m.Len())
	requireFillsToCapacity(t, m)
}

// childBenchReader loads keys [0, KEYS) in batches of BATCH loads, one
// batch each time the generation word changes, until it reaches STOP.
func childBenchReader(dir string, ctl []uint64) error {
	m, err := shmap.Open[uint64, uint64]("bench", shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	keys, batch := uint64(envInt("KEYS")), envInt("BATCH")
	gen := uint64(0)
	atomic.AddUint64(&ctl[cReady], 1)
	deadline := time.Now().Add(testproc.Timeout - 10*time.Second)
	for {
		g := atomic.LoadUint64(&ctl[cGen])
		if g == gen {
			if atomic.LoadUint64(&ctl[cStop]) != 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return errors.New("benchmark never ended")
			}
			time.Sleep(20 * time.Microsecond)
			continue
		}
		gen = g
		k := uint64(0)
		for range batch {
			v, ok, err := m.Load(k)
			if err != nil || !ok || v != k {
				return fmt.Errorf("load %d: %d %v %v", k, v, ok, err)
			}
			if k++; k == keys {
				k = 0
			}
		}
		atomic.AddUint64(&ctl[cDone], 1)
	}
}
