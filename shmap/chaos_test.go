//go:build chaos && linux

package shmap_test

// Chaos scenarios of package shmap (issue 12), run by internal/chaos:
// randomized faults against maps, every wait of a trial bounded by
// trialBound. A hang is a wait that did not end within trialBound (its
// processes are killed); a crash is a child that died unasked (a panic,
// SIGBUS, any nonzero exit); a wrong result is an outcome shmap's
// documentation does not allow (a lost or doubled increment, a torn value,
// a key in the wrong state after a kill, an error without its sentinel, a
// map that fails Check or cannot fill to its capacity); a leak is a file
// left in the map's directory (or anything internal/chaos finds).
//
//	go test -tags chaos -run Chaos -v ./shmap
//
// Scenarios: kill-writers (SIGKILL of writers doing random operations, at
// random moments, with a reader checking every value it sees),
// kill-in-protocol (a writer, and then the process repairing after it,
// killed at a random step of the write protocol, with values of three
// words or of one; the key must end in the state doc.go gives that step),
// stop-writers (SIGSTOP and SIGCONT of writers: no operation may be lost or
// done twice) and damaged (random bytes of a map file changed: every
// operation returns a result or an error with its sentinel, never a panic,
// a fault or a hang).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

func init() { chaosRole = runChaosRole }

// trialBound bounds each wait of a trial; a process still running then is
// a hang.
const trialBound = 20 * time.Second

// chaosTimeout bounds a whole trial, a few waits of trialBound each: the
// runner's watchdog behind the trial's own bounds.
const chaosTimeout = 3 * time.Minute

// tally is a trial's view of the runner, with the waits the scenarios
// share: each wait that passes trialBound is a hang, each child that fails
// unasked a crash.
type tally struct{ tr *chaos.T }

// finished waits for ch (bounded by trialBound) and counts a crash if it
// failed; it reports whether ch ended well.
func (c *tally) finished(ch *testproc.Child, what string) (string, bool) {
	return c.tr.Finished(ch, trialBound, what)
}

// killed sends SIGKILL to ch and waits for it; a child that had already
// ended on its own is a crash.
func (c *tally) killed(ch *testproc.Child, what string) bool {
	if ch.Exited() {
		c.finished(ch, what)
		c.tr.Crash("%s: ended before it was killed", what)
		return false
	}
	_ = ch.Kill()
	_, err, ok := c.tr.Wait(ch, trialBound, what)
	if ok && (err == nil || !strings.Contains(err.Error(), "killed")) {
		c.tr.Crash("%s: ended (%v) before it was killed", what, err)
		return false
	}
	return ok
}

// until polls cond for up to trialBound; false (a hang, counted) if it
// never held.
func (c *tally) until(what string, cond func() bool) bool { return c.tr.Until(what, trialBound, cond) }

// runChaosRole runs the chaos scenarios' child roles; the verifying roles
// print their verdict as their last line.
func runChaosRole(role string) (bool, error) {
	dir := env("DIR")
	switch role {
	case "chaos-verify":
		if want := env("WANT"); want != "" {
			if env("WORD") != "" {
				fmt.Println(verifyWant(dir, want, func(v uint64) (uint64, bool) { return v, true }, func(n uint64) uint64 { return n }))
			} else {
				fmt.Println(verifyWant(dir, want, func(v cell) (uint64, bool) { return v.N, v.ok() }, func(n uint64) cell { return mkcell(n, 1) }))
			}
			return true, nil
		}
		fmt.Println(verify(dir))
	case "chaos-hookn":
		return true, hookN(dir)
	case "chaos-damaged":
		fmt.Println(damagedOps(dir))
	default:
		return false, nil
	}
	return true, nil
}

// ---- kill-writers and stop-writers ----

// verify checks the map "m" of dir after a run of chaos writers: it passes
// Check; no value is torn; the counters hold at least the REPORTED
// increments and at most KILLS more (one in flight per kill); Range sees
// Len keys, each once; and exactly Cap-Len new keys fit.
func verify(dir string) string {
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		return "wrong: open: " + err.Error()
	}
	defer m.Close()
	if err := m.Check(); err != nil {
		return "wrong: check: " + err.Error()
	}
	reported, kills := uint64(envInt("REPORTED")), uint64(envInt("KILLS"))
	counted := uint64(0)
	for k := range uint32(chaosCounters) {
		v, ok, err := m.Load(k)
		if err != nil {
			return "wrong: load: " + err.Error()
		}
		if ok && !v.ok() {
			return fmt.Sprintf("wrong: counter %d torn: %+v", k, v)
		}
		counted += v.N
	}
	if counted < reported || counted > reported+kills {
		return fmt.Sprintf("wrong: %d increments counted, %d reported, %d kills", counted, reported, kills)
	}
	seen := map[uint32]bool{}
	var bad string
	if err := m.Range(func(k uint32, v cell) bool {
		if seen[k] || !v.ok() {
			bad = fmt.Sprintf("key %d seen twice or torn (%+v)", k, v)
			return false
		}
		seen[k] = true
		return true
	}); err != nil {
		return "wrong: range: " + err.Error()
	}
	if bad != "" {
		return "wrong: " + bad
	}
	if len(seen) != m.Len() {
		return fmt.Sprintf("wrong: Range saw %d keys, Len says %d", len(seen), m.Len())
	}
	if msg := fillToCapacity(m, func(n uint64) cell { return mkcell(n, 1) }); msg != "" {
		return "wrong: " + msg
	}
	return fmt.Sprintf("ok %d increments counted, %d reported", counted, reported)
}

// fillToCapacity stores new keys (values made by mk) until the map is
// full: exactly Cap-Len must fit, the next must give ErrFull, and the map
// must pass Check.
func fillToCapacity[V any](m *shmap.Map[uint32, V], mk func(uint64) V) string {
	room := m.Cap() - m.Len()
	for i := range room {
		if err := m.Store(uint32(1_000_000+i), mk(1)); err != nil {
			return fmt.Sprintf("new key %d of %d: %v", i, room, err)
		}
	}
	if err := m.Store(2_000_000, mk(1)); !errors.Is(err, shmap.ErrFull) {
		return fmt.Sprintf("a key past the capacity: %v, want ErrFull", err)
	}
	if err := m.Check(); err != nil {
		return "check after filling: " + err.Error()
	}
	return ""
}

// writers runs chaos writers (role "chaos" of proc_test.go) in slots of
// the control segment ctl.
type writers struct {
	c    *tally
	dir  string
	ctl  []uint64
	kids []*testproc.Child
}

func (w *writers) start(slot int) bool {
	atomic.StoreUint64(&w.ctl[cPIDs+slot], 0)
	w.kids[slot] = testproc.Start("chaos", childEnv(w.dir, "SLOT", slot)...)
	return w.c.until("a chaos writer to start", func() bool { return atomic.LoadUint64(&w.ctl[cPIDs+slot]) != 0 })
}

// ahead waits until the writer in slot has done n more rounds.
func (w *writers) ahead(slot int, n uint64) bool {
	p0 := atomic.LoadUint64(&w.ctl[cProgress+slot])
	return w.c.until("a chaos writer to make progress", func() bool { return atomic.LoadUint64(&w.ctl[cProgress+slot]) >= p0+n })
}

// stop tells the writers to stop and waits for them; it returns the rounds
// they reported.
func (w *writers) stop() (uint64, bool) {
	atomic.StoreUint64(&w.ctl[cStop], 1)
	ok := true
	for _, k := range w.kids {
		if k != nil {
			_, good := w.c.finished(k, "chaos writer")
			ok = ok && good
		}
	}
	reported := uint64(0)
	for i := range w.kids {
		reported += atomic.LoadUint64(&w.ctl[cProgress+i])
	}
	return reported, ok
}

// killAll kills whatever is still running after a trial went wrong.
func (w *writers) killAll() {
	for _, k := range w.kids {
		if k != nil && !k.Exited() {
			k.Kill()
			k.Wait()
		}
	}
}

// newChaosMap creates the map "m" in a fresh directory with a random
// capacity (room for every key the writers use) and stripe count, and
// closes it: the test process keeps no map open, so that nothing in it can
// hang. The trial closes the control segment (closeCtl) when it ends.
func newChaosMap(t *testing.T, rng *rand.Rand) (dir string, ctl []uint64, closeCtl func()) {
	dir = t.TempDir()
	ctl, closeCtl = trialCtl(t, dir)
	m, err := shmap.Create[uint32, cell]("m", chaosCounters+chaosChurn+rng.IntN(200), shmap.Dir(dir), shmap.Stripes(1+rng.IntN(8)))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	return dir, ctl, closeCtl
}

// trialCtl is newCtl for one trial: the control segment is closed by the
// returned function, not when the test ends, so that no descriptor outlives
// the trial.
func trialCtl(t *testing.T, dir string) ([]uint64, func()) {
	seg, err := shm.Create("ctl", shm.Meta{DType: shm.Uint64, Shape: []int{ctlWords}}, shm.Dir(dir))
	require.NoError(t, err)
	ctl, err := shm.View[uint64](seg)
	if err != nil {
		seg.Close()
		require.NoError(t, err)
	}
	return ctl, func() { seg.Close() }
}

// writersTrial is one trial of kill-writers or stop-writers: it starts
// writers (how many: nWriters) and a reader on a new map, lets fault strike
// the writers, stops them, and verifies the map with a child. fault reports
// how many writers it killed (each may have lost the increment in flight),
// a description, and false if a wait of its own went wrong (counted).
func writersTrial(t *testing.T, tr *chaos.T, name string, nWriters func(*rand.Rand) int, fault func(c *tally, w *writers, rng *rand.Rand) (kills int, desc string, ok bool)) {
	c, rng := &tally{tr: tr}, tr.Rand
	dir, ctl, closeCtl := newChaosMap(t, rng)
	defer closeCtl()
	w := &writers{c: c, dir: dir, ctl: ctl, kids: make([]*testproc.Child, nWriters(rng))}
	reader := testproc.Start("reader", childEnv(dir, "KEYS", chaosCounters)...)
	ok := c.until("the reader to start", func() bool { return atomic.LoadUint64(&ctl[cReady]) == 1 })
	for i := range w.kids {
		ok = ok && w.start(i)
	}
	kills, desc := 0, ""
	if ok {
		kills, desc, ok = fault(c, w, rng)
	}
	reported, stopped := w.stop()
	if out, good := c.finished(reader, "reader"); good && !strings.HasPrefix(out, "loads ") {
		tr.Wrong("reader said %q", out)
	}
	if !ok || !stopped {
		w.killAll()
		return
	}
	out, good := c.finished(testproc.Start("chaos-verify", childEnv(dir, "REPORTED", reported, "KILLS", kills)...), "verify")
	if good {
		tr.Verdict(out, desc)
	}
	tr.Leftovers(dir, name, "m", "ctl")
}

// TestChaosKillWriters runs one to three writer processes doing random
// operations (chaos role: an Update of a counter, then a random operation
// on a churn key) and a reader process checking every counter it loads,
// kills writers with SIGKILL at random moments one to five times,
// restarting each, and then verifies the map.
func TestChaosKillWriters(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shmap/kill-writers", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			writersTrial(t, tr, "kill-writers", func(rng *rand.Rand) int { return 1 + rng.IntN(3) },
				func(c *tally, w *writers, rng *rand.Rand) (int, string, bool) {
					kills, ok := 1+rng.IntN(5), true
					for i := 0; i < kills && ok; i++ {
						slot := rng.IntN(len(w.kids))
						ok = w.ahead(slot, uint64(1+rng.IntN(300))) && c.killed(w.kids[slot], "chaos writer") && w.start(slot)
					}
					return kills, fmt.Sprintf("%d writers, %d kills", len(w.kids), kills), ok
				})
		},
	})
}

// TestChaosStopWriters stops writers with SIGSTOP at random moments, for a
// random while, and lets them continue: the others (and a reader) wait for
// a stripe a stopped writer holds, or go on, and in the end every
// increment every writer reported is in the map, exactly.
func TestChaosStopWriters(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shmap/stop-writers", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			writersTrial(t, tr, "stop-writers", func(rng *rand.Rand) int { return 2 + rng.IntN(2) },
				func(c *tally, w *writers, rng *rand.Rand) (int, string, bool) {
					stops, ok := 1+rng.IntN(4), true
					for i := 0; i < stops && ok; i++ {
						slot := rng.IntN(len(w.kids))
						if ok = w.ahead(slot, uint64(1+rng.IntN(300))); !ok {
							break
						}
						pid := int(atomic.LoadUint64(&w.ctl[cPIDs+slot])) // the writer's own report
						_ = syscall.Kill(pid, syscall.SIGSTOP)
						ok = c.until("a writer to be stopped", func() bool { return procState(pid) == "T" })
						time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond) // how long the fault lasts, not a wait for state
						_ = syscall.Kill(pid, syscall.SIGCONT)
					}
					return 0, fmt.Sprintf("%d writers, %d stops", len(w.kids), stops), ok
				})
		},
	})
}

// procState returns the state letter of process pid ("R", "S", "T", ...)
// from /proc/PID/stat, or "" if it cannot be read.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// ---- kill-in-protocol ----

// hookPoints are the named steps of the write protocol (and its repair)
// where a test may stop a process; a child stopped at one reports its
// index+1 in ctl[cAt].
var hookPoints = []string{
	"alloc:bit", "alloc:marked", "insert:filled", "insert:linked", "insert:published",
	"update:journaled", "update:half", "update:written",
	"delete:journaled", "delete:relinked", "delete:unlinked", "delete:freed",
	"free:marked", "repair:half", "create:segment",
}

// beforeCommit are the points at which a killed Store of a new key has not
// happened; at every other point of an operation it has (see doc.go).
var beforeCommit = []string{"alloc:bit", "alloc:marked", "insert:filled"}

// hookN runs one operation (OP: store or delete of KEY, value VAL) and
// stops at the N-th hook point it passes, whatever its name, reporting the
// point and waiting to be killed; if it passes fewer, it prints
// "completed". With WORD set the map holds uint64 values, else cells.
func hookN(dir string) error {
	seg, ctl, err := openCtl(dir)
	if err != nil {
		return err
	}
	defer seg.Close()
	if env("WORD") != "" {
		return hookNOp(dir, ctl, func(n uint64) uint64 { return n })
	}
	return hookNOp(dir, ctl, func(n uint64) cell { return mkcell(n, 1) })
}

func hookNOp[V any](dir string, ctl []uint64, mk func(uint64) V) error {
	m, err := shmap.Open[uint32, V]("m", shmap.Dir(dir))
	if err != nil {
		return err
	}
	defer m.Close()
	n, passed := envInt("N"), 0
	shmap.SetTestHook(func(p string) {
		if passed++; passed != n {
			return
		}
		i := slices.Index(hookPoints, p)
		if i < 0 {
			panic("unknown hook point " + p)
		}
		atomic.StoreUint64(&ctl[cPID], uint64(os.Getpid()))
		atomic.StoreUint64(&ctl[cAt], uint64(i+1))
		time.Sleep(testproc.Timeout)
	})
	k := uint32(envInt("KEY"))
	switch env("OP") {
	case "store":
		err = m.Store(k, mk(uint64(envInt("VAL"))))
	case "delete":
		err = m.Delete(k)
	default:
		return fmt.Errorf("unknown op %q", env("OP"))
	}
	if err != nil {
		return err
	}
	fmt.Println("completed")
	return nil
}

// hooked runs a hookN child and, if it stops at a hook point, kills it
// there. It returns the point ("" if the operation completed) and false
// on a hang or crash (counted).
func (c *tally) hooked(dir string, ctl []uint64, word string, op string, key, val, n int) (string, bool) {
	atomic.StoreUint64(&ctl[cAt], 0)
	ch := testproc.Start("chaos-hookn", childEnv(dir, "OP", op, "KEY", key, "VAL", val, "N", n, "WORD", word)...)
	what := fmt.Sprintf("%s of key %d stopped at hook %d", op, key, n)
	if !c.until(what, func() bool { return atomic.LoadUint64(&ctl[cAt]) != 0 || ch.Exited() }) {
		ch.Kill()
		ch.Wait()
		return "", false
	}
	if at := atomic.LoadUint64(&ctl[cAt]); at != 0 {
		return hookPoints[at-1], c.killed(ch, what)
	}
	out, ok := c.finished(ch, what)
	if ok && strings.TrimSpace(out) != "completed" {
		c.tr.Wrong("%s: said %q", what, out)
		return "", false
	}
	return "", ok
}

// TestChaosKillInProtocol prepares a small map (keys 0 to 4, key 4 deleted
// again in half the trials so that an insert takes a freed entry), then
// runs one operation (a Store of a new key, a Store over a key, or a
// Delete) and kills it at a random step of the write protocol; in half the
// trials the next writer (a Store of another new key), which repairs first
// on a map of one stripe, is killed at a random step too, possibly in the
// middle of the repair. A verifier then checks every key: the operations
// killed before their commit point did not happen, the others did, no
// other key changed, and the map fills to its capacity. A third of the
// trials use one-word values, whose overwrite has no journal.
func TestChaosKillInProtocol(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shmap/kill-in-protocol", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			c, rng := &tally{tr: tr}, tr.Rand
			dir := t.TempDir()
			ctl, closeCtl := trialCtl(t, dir)
			defer closeCtl()
			word := ""
			if rng.IntN(3) == 0 {
				word = "1" // one-word values: an overwrite is one store, with no journal
			}
			capacity, stripes, freed := 8+rng.IntN(8), 1+rng.IntN(2), rng.IntN(2) == 0
			var want map[uint32]uint64
			if word != "" {
				want = prepareMap(t, dir, capacity, stripes, freed, func(n uint64) uint64 { return n })
			} else {
				want = prepareMap(t, dir, capacity, stripes, freed, func(n uint64) cell { return mkcell(n, 0) })
			}

			// points is how many hook points the operation passes at most;
			// stopping at one more lets it complete.
			op, key, points := "store", 9, 5
			switch rng.IntN(3) {
			case 1:
				key, points = rng.IntN(4), 3 // over an existing key
				if word != "" {
					points = 1
				}
			case 2:
				op, key, points = "delete", rng.IntN(4), 6
			}
			n1 := 1 + rng.IntN(points+1)
			p1, ok := c.hooked(dir, ctl, word, op, key, 77, n1)
			if !ok {
				return
			}
			desc := fmt.Sprintf("%s of key %d killed at %q", op, key, p1)
			if word != "" {
				desc = "one-word values: " + desc
			}
			if p1 == "" || !slices.Contains(beforeCommit, p1) {
				if op == "store" {
					want[uint32(key)] = 77
				} else {
					delete(want, uint32(key))
				}
			}
			if rng.IntN(2) == 0 {
				n2 := 1 + rng.IntN(5)
				p2, ok := c.hooked(dir, ctl, word, "store", 20, 5, n2)
				if !ok {
					return
				}
				desc += fmt.Sprintf(", then the store of key 20 killed at %q", p2)
				if p2 == "" || p2 == "insert:linked" || p2 == "insert:published" {
					want[20] = 5
				}
			}
			var pairs []string
			for k, v := range want {
				pairs = append(pairs, fmt.Sprintf("%d=%d", k, v))
			}
			sort.Strings(pairs)
			out, good := c.finished(testproc.Start("chaos-verify", childEnv(dir, "WANT", strings.Join(pairs, ","), "WORD", word)...), desc)
			if good {
				c.tr.Verdict(out, desc)
			}
			c.tr.Leftovers(dir, desc, "m", "ctl")
		},
	})
}

// prepareMap creates the map "m" of the kill-in-protocol scenario in dir:
// keys 0 to 4 with counts 10 to 14, key 4 deleted again if freed. It
// returns the keys and counts it holds.
func prepareMap[V any](t *testing.T, dir string, capacity, stripes int, freed bool, mk func(uint64) V) map[uint32]uint64 {
	m, err := shmap.Create[uint32, V]("m", capacity, shmap.Dir(dir), shmap.Stripes(stripes))
	require.NoError(t, err)
	defer m.Close()
	want := map[uint32]uint64{}
	for k := range uint32(5) {
		require.NoError(t, m.Store(k, mk(uint64(10+k))))
		want[k] = uint64(10 + k)
	}
	if freed {
		require.NoError(t, m.Delete(4))
		delete(want, 4)
	}
	return want
}

// verifyWant checks keys [0, 32) of the map "m" of dir against want
// ("k=n,k=n": each key present with count n, every other key absent), then
// Len and the capacity. num reads a value's count and whether it is whole;
// mk makes a value.
func verifyWant[V any](dir, spec string, num func(V) (uint64, bool), mk func(uint64) V) string {
	m, err := shmap.Open[uint32, V]("m", shmap.Dir(dir))
	if err != nil {
		return "wrong: open: " + err.Error()
	}
	defer m.Close()
	want := map[uint32]uint64{}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		ki, _ := strconv.Atoi(k)
		vi, _ := strconv.Atoi(v)
		want[uint32(ki)] = uint64(vi)
	}
	if err := m.Check(); err != nil {
		return "wrong: check: " + err.Error()
	}
	for k := range uint32(32) {
		v, ok, err := m.Load(k)
		if err != nil {
			return "wrong: load: " + err.Error()
		}
		w, wok := want[k]
		n, whole := num(v)
		switch {
		case ok != wok:
			return fmt.Sprintf("wrong: key %d present %v, want %v", k, ok, wok)
		case ok && (!whole || n != w):
			return fmt.Sprintf("wrong: key %d holds %+v, want count %d", k, v, w)
		}
	}
	if m.Len() != len(want) {
		return fmt.Sprintf("wrong: Len %d, want %d", m.Len(), len(want))
	}
	if msg := fillToCapacity(m, mk); msg != "" {
		return "wrong: " + msg
	}
	return "ok"
}

// ---- damaged ----

// damagedOps opens the damaged map "m" and uses it: every call must
// return, and every error must carry a sentinel that says what was wrong.
// Values read from a damaged map may be anything; what may not happen is a
// panic, a fault, a hang or an unexplained error.
func damagedOps(dir string) string {
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	if err != nil {
		for _, s := range []error{shmap.ErrNotMap, shmap.ErrVersion, shmap.ErrCorrupt, shmap.ErrKeyType, shmap.ErrValueType,
			shm.ErrBadMagic, shm.ErrCorrupt, shm.ErrTruncated, shm.ErrVersion, shm.ErrTooLarge} {
			if errors.Is(err, s) {
				return "ok refused"
			}
		}
		return "wrong: open: an error with no sentinel: " + err.Error()
	}
	defer m.Close()
	known := func(err error, also ...error) bool {
		return err == nil || errors.Is(err, shmap.ErrCorrupt) || slices.ContainsFunc(also, func(e error) bool { return errors.Is(err, e) })
	}
	for k := range uint32(64) {
		if _, _, err := m.Load(k); !known(err) {
			return "wrong: load: " + err.Error()
		}
		switch k % 4 {
		case 1:
			if err := m.Store(k, mkcell(uint64(k), 2)); !known(err, shmap.ErrFull) {
				return "wrong: store: " + err.Error()
			}
		case 2:
			if err := m.Delete(k); !known(err) {
				return "wrong: delete: " + err.Error()
			}
		case 3:
			if _, err := m.Update(k, func(old cell, _ bool) cell { return mkcell(old.N+1, 2) }); !known(err, shmap.ErrFull) {
				return "wrong: update: " + err.Error()
			}
		}
	}
	if err := m.Range(func(uint32, cell) bool { return true }); !known(err) {
		return "wrong: range: " + err.Error()
	}
	_ = m.Len()
	if err := m.Check(); !known(err) {
		return "wrong: check: " + err.Error()
	}
	if err := m.Clear(); !known(err) {
		return "wrong: clear: " + err.Error()
	}
	return "ok"
}

// TestChaosDamaged fills a map, changes random bytes of its file (in the
// map's header, its locks and journals, its buckets, its entries, or
// anywhere, or cuts the file short), and has a child open it and use it.
func TestChaosDamaged(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shmap/damaged", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			c, rng := &tally{tr: tr}, tr.Rand
			dir := t.TempDir()
			capacity := 16 + rng.IntN(200)
			m, err := shmap.Create[uint32, cell]("m", capacity, shmap.Dir(dir), shmap.Stripes(1+rng.IntN(8)))
			require.NoError(t, err)
			for k := range rng.IntN(capacity + 1) {
				require.NoError(t, m.Store(uint32(k*7), mkcell(uint64(k), 0)))
			}
			info, err := shmap.Inspect(m.Segment())
			require.NoError(t, err)
			data := len(m.Segment().Data())
			require.NoError(t, m.Close())
			path := filepath.Join(dir, "m")
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			const dataOff = 4096 // shm's header page
			flip := func(lo, hi int) {
				for range 1 + rng.IntN(8) {
					b[lo+rng.IntN(hi-lo)] ^= byte(1 + rng.IntN(255))
				}
			}
			var kind string
			switch rng.IntN(6) {
			case 0:
				kind = "flip map header"
				flip(dataOff, dataOff+256)
			case 1:
				kind = "flip locks and journals"
				flip(dataOff+256, dataOff+320+64*info.Stripes)
			case 2:
				kind = "flip table"
				flip(dataOff+320+64*info.Stripes, dataOff+data)
			case 3:
				kind = "flip anywhere"
				flip(0, len(b))
			case 4:
				kind = "overwrite table run"
				off := dataOff + 320 + rng.IntN(data-320)
				for i := off; i < min(off+1+rng.IntN(256), dataOff+data); i++ {
					b[i] = byte(rng.Uint32())
				}
			case 5:
				kind = "truncate"
				b = b[:rng.IntN(len(b))]
			}
			require.NoError(t, os.WriteFile(path, b, 0o600))
			out, good := c.finished(testproc.Start("chaos-damaged", childEnv(dir)...), kind)
			if good {
				c.tr.Verdict(out, kind)
			}
			c.tr.Leftovers(dir, kind, "m")
		},
	})
}
