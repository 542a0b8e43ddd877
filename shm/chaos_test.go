//go:build chaos && linux

package shm

// Chaos scenarios of package shm (issue 12), run by internal/chaos:
// randomized faults against segment files, each trial's child process
// bounded by trialBound. A hang is a child that did not finish within
// trialBound (it is killed); a crash is a child that died (SIGBUS, a panic,
// any nonzero exit); a wrong result is an outcome the package's
// documentation does not allow; a leak is a file or descriptor left behind.
//
//	go test -tags chaos -run Chaos -v ./shm
//	SHMPAR_CHAOS_SECONDS=S  length of the racing scenario (default 3: four
//	                        trials' worth)
//
// The tmpfs scenarios need root (to mount) and are skipped with the reason
// otherwise.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/internal/chaos"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
)

func init() { chaosRole = runChaosRole }

// trialBound bounds one trial; a child still running then is a hang.
const trialBound = 20 * time.Second

// chaosTimeout bounds a whole trial: the runner's watchdog behind the
// trial's own bound on each child (trialBound).
const chaosTimeout = 2 * time.Minute

// chaosSeconds is how long the racing scenarios run.
func chaosSeconds(t *testing.T) time.Duration {
	if s := os.Getenv("SHMPAR_CHAOS_SECONDS"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, "SHMPAR_CHAOS_SECONDS")
		return time.Duration(f * float64(time.Second))
	}
	return 3 * time.Second
}

// chaosChild runs role in a child with env, bounded by trialBound, and
// records a hang or a crash. ok is true when the child finished; out is its
// stdout.
func chaosChild(tr *chaos.T, role string, env ...string) (out string, ok bool) {
	return tr.Finished(testproc.Start(role, env...), trialBound, fmt.Sprintf("%s %v", role, env))
}

// fileSum is a checksum of a file's bytes, to see that a target is untouched.
func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// wantErr returns "ok" when err matches every sentinel in want, else a
// description of what was wrong.
func wantErr(op string, err error, want ...error) string {
	if err == nil {
		return "wrong: " + op + " succeeded"
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			return fmt.Sprintf("wrong: %s: %v does not match %v", op, err, w)
		}
	}
	return "ok"
}

// runChaosRole runs the chaos scenarios' child roles. Every role prints its
// verdict as its last line and exits 0; dying is a crash.
func runChaosRole(role string) (bool, error) {
	dir, name, op := os.Getenv("SHM_DIR"), os.Getenv("SHM_NAME"), os.Getenv("SHM_OP")
	switch role {
	case "chaos-planted": // op on a name where something that is not a segment was planted
		fmt.Println(plantedOp(dir, name, op, os.Getenv("SHM_KIND")))
	case "chaos-damaged":
		fmt.Println(damagedOp(dir, name, os.Getenv("SHM_INTACT") != ""))
	case "chaos-open-fill":
		s, err := Open(name, Dir(dir))
		switch {
		case errors.Is(err, ErrNoSpace):
			fmt.Println("ok nospace")
		case err != nil:
			fmt.Println("wrong:", err)
		default:
			fillPattern(s.Data(), 5)
			if err := checkPattern(s.Data(), 5); err != nil {
				fmt.Println("wrong:", err)
			} else {
				fmt.Println("ok wrote")
			}
			s.Close()
		}
	case "chaos-create-until-full":
		fmt.Println(createUntilFull(dir))
	case "chaos-lowfd":
		fmt.Println(lowFD(dir))
	case "chaos-churn":
		fmt.Println(churn(dir))
	case "chaos-sweeper":
		fmt.Println(sweepUntilStdinCloses(dir))
	case "chaos-sweep-once":
		fmt.Println("ready")
		_, err := Sweep(Dir(dir))
		fmt.Println("ok", err)
	default:
		return false, nil
	}
	return true, nil
}

// Planted: something that is not a segment at a name.

var plantKinds = []string{"link-to-segment", "link-dangling", "link-to-dir", "link-to-text", "link-loop",
	"fifo", "socket", "dir", "chardev"}

var plantOps = []string{"open", "create", "unlink", "attach", "list", "sweep"}

func plantedOp(dir, name, op, kind string) string {
	link := strings.HasPrefix(kind, "link")
	switch op {
	case "open":
		_, err := Open(name, Dir(dir))
		if link {
			return wantErr(op, err, ErrSymlink)
		}
		return wantErr(op, err, ErrBadMagic)
	case "attach":
		_, err := Attach(filepath.Join(dir, name))
		if link {
			return wantErr(op, err, ErrSymlink)
		}
		return wantErr(op, err, ErrBadMagic)
	case "create":
		_, err := Create(name, small, Dir(dir))
		if link {
			return wantErr(op, err, ErrExist, ErrSymlink)
		}
		return wantErr(op, err, ErrExist)
	case "unlink":
		err := Unlink(name, Dir(dir))
		if link {
			return wantErr(op, err, ErrSymlink)
		}
		return wantErr(op, err, ErrBadMagic)
	case "list":
		infos, err := List(Dir(dir))
		if err != nil || len(infos) != 0 {
			return fmt.Sprintf("wrong: list: %v, %v", infoNames(infos), err)
		}
	case "sweep":
		removed, err := Sweep(Dir(dir))
		if err != nil || len(removed) != 0 {
			return fmt.Sprintf("wrong: sweep: %v, %v", infoNames(removed), err)
		}
	}
	return "ok"
}

// plant puts kind at dir/name; what the planted thing leads to is in
// targetDir. It returns false when kind cannot be made here.
func plant(t *testing.T, dir, name, targetDir, kind string) bool {
	path := filepath.Join(dir, name)
	switch kind {
	case "link-to-segment":
		return os.Symlink(filepath.Join(targetDir, "target"), path) == nil
	case "link-dangling":
		return os.Symlink(filepath.Join(targetDir, "nowhere"), path) == nil
	case "link-to-dir":
		return os.Symlink(targetDir, path) == nil
	case "link-to-text":
		return os.Symlink(filepath.Join(targetDir, "text"), path) == nil
	case "link-loop":
		return os.Symlink(name, path) == nil
	case "fifo":
		return syscall.Mkfifo(path, 0o600) == nil
	case "socket":
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		return unix.Bind(fd, &unix.SockaddrUnix{Name: path}) == nil
	case "dir":
		return os.Mkdir(path, 0o700) == nil
	case "chardev": // a copy of /dev/null's device number
		return os.Geteuid() == 0 && unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) == nil
	}
	t.Fatalf("unknown kind %q", kind)
	return false
}

func TestChaosPlanted(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shm/planted", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			dir, targetDir := t.TempDir(), t.TempDir()
			target, err := Create("target", small, Dir(targetDir))
			require.NoError(t, err)
			fillPattern(target.Data(), 9)
			require.NoError(t, target.Close())
			require.NoError(t, os.WriteFile(filepath.Join(targetDir, "text"), []byte("not a segment\n"), 0o600))
			before := []string{fileSum(filepath.Join(targetDir, "target")), fileSum(filepath.Join(targetDir, "text"))}
			kind, op := plantKinds[rng.IntN(len(plantKinds))], plantOps[rng.IntN(len(plantOps))]
			if !plant(t, dir, "grid", targetDir, kind) {
				tr.Count("not-makeable", 1) // a chardev needs root
				return
			}
			fi, err := os.Lstat(filepath.Join(dir, "grid"))
			require.NoError(t, err)
			ctx := kind + " " + op
			out, ok := chaosChild(tr, "chaos-planted", "SHM_DIR="+dir, "SHM_NAME=grid", "SHM_OP="+op, "SHM_KIND="+kind)
			if ok {
				tr.Verdict(out, ctx)
			}
			after := []string{fileSum(filepath.Join(targetDir, "target")), fileSum(filepath.Join(targetDir, "text"))}
			if !slices.Equal(before, after) {
				tr.Wrong("%s: a target was changed", ctx)
			}
			if _, err := os.Lstat(filepath.Join(targetDir, "nowhere")); err == nil {
				tr.Wrong("%s: the dangling link's target was created", ctx)
			}
			if cur, err := os.Lstat(filepath.Join(dir, "grid")); err != nil || cur.Mode().Type() != fi.Mode().Type() {
				tr.Wrong("%s: the planted %s was removed or replaced", ctx, kind)
			}
			tr.Leftovers(dir, ctx, "grid")
		},
	})
}

// Damaged: a segment with random damage.

func damagedOp(dir, name string, intact bool) string {
	s, err := Open(name, Dir(dir))
	refusedBadMagic := errors.Is(err, ErrBadMagic)
	if err != nil {
		if intact {
			return "wrong: refused a file whose checked bytes are intact: " + err.Error()
		}
		known := false
		for _, e := range []error{ErrBadMagic, ErrCorrupt, ErrTruncated, ErrVersion, ErrTooLarge} {
			known = known || errors.Is(err, e)
		}
		if !known {
			return "wrong: an error with no sentinel: " + err.Error()
		}
	} else {
		m := s.Meta()
		if int64(len(s.Data())) != m.DataBytes() || len(s.Locks()) != LockAreaSize {
			return fmt.Sprintf("wrong: data %d bytes, meta says %d", len(s.Data()), m.DataBytes())
		}
		fillPattern(s.Data(), 4) // touches every page: a fault here is a crash
		if err := checkPattern(s.Data(), 4); err != nil {
			return "wrong: " + err.Error()
		}
		for i := range s.Locks() {
			s.Locks()[i] = 0
		}
		s.Close()
	}
	if _, err := List(Dir(dir)); err != nil {
		return "wrong: list: " + err.Error()
	}
	err = Unlink(name, Dir(dir))
	switch {
	case refusedBadMagic && !errors.Is(err, ErrBadMagic):
		return fmt.Sprintf("wrong: Open said not a segment, Unlink said %v", err)
	case !refusedBadMagic && err != nil:
		return "wrong: a damaged segment must be removable: " + err.Error()
	}
	return "ok"
}

// damage applies a random kind of damage to the segment file at path,
// whose trailer starts at trailer. intact reports whether every byte Open
// checks is unchanged.
func damage(rng *rand.Rand, path string, trailer int64) (kind string, intact bool) {
	b, _ := os.ReadFile(path)
	flip := func(lo, hi int64) {
		for range 1 + rng.IntN(8) {
			b[lo+rng.Int64N(hi-lo)] ^= byte(1 + rng.IntN(255))
		}
	}
	switch k := rng.IntN(8); k {
	case 0:
		kind = "flip header"
		flip(0, DataOffset)
	case 1:
		kind = "flip trailer fields"
		flip(trailer, trailer+132)
	case 2:
		kind = "truncate"
		b = b[:rng.Int64N(int64(len(b)))]
	case 3:
		kind = "extend"
		b = append(b, make([]byte, 1+rng.IntN(8192))...)
	case 4:
		kind = "zero trailer"
		clear(b[trailer:])
	case 5:
		kind = "overwrite"
		off := rng.Int64N(int64(len(b)))
		for i := off; i < min(off+1+rng.Int64N(64), int64(len(b))); i++ {
			b[i] = byte(rng.Uint32())
		}
	case 6:
		kind, intact = "flip data", true
		if trailer > DataOffset {
			flip(DataOffset, trailer)
		}
	case 7:
		kind = "another shape"
		shape := []int{1 + rng.IntN(1<<20)}
		copy(b, encodeHeader(Uint8, shape))
	}
	os.WriteFile(path, b, 0o600)
	return kind, intact
}

func TestChaosDamaged(t *testing.T) {
	dtypes := []DType{Uint8, Int16, Float32, Float64, Complex128}
	chaos.Run(t, chaos.Scenario{
		Name: "shm/damaged", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			dir := t.TempDir()
			shape := []int{1 + rng.IntN(3000)}
			if rng.IntN(2) == 0 {
				shape = append(shape, 1+rng.IntN(40))
			}
			s, err := Create("seg", Meta{DType: dtypes[rng.IntN(len(dtypes))], Shape: shape, Kind: KindArray}, Dir(dir))
			require.NoError(t, err)
			trailer := int64(len(s.mm) - TrailerSize)
			require.NoError(t, s.Close())
			kind, intact := damage(rng, filepath.Join(dir, "seg"), trailer)
			out, ok := chaosChild(tr, "chaos-damaged", "SHM_DIR="+dir, "SHM_NAME=seg", "SHM_INTACT="+map[bool]string{true: "1"}[intact])
			if ok {
				tr.Verdict(out, kind)
			}
			tr.Leftovers(dir, kind, "seg") // refused files stay; nothing else may appear
		},
	})
}

// Sparse copies on a full tmpfs.

func TestChaosSparseTmpfs(t *testing.T) {
	requireRoot(t, "mount a tmpfs")
	chaos.Run(t, chaos.Scenario{
		Name: "shm/sparse-tmpfs", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			srcDir := t.TempDir()
			n := 4096 * (1 + rng.IntN(400))
			src, err := Create("src", Meta{DType: Uint8, Shape: []int{n}}, Dir(srcDir))
			require.NoError(t, err)
			require.NoError(t, src.Close())
			dir := tinyTmpfs(t, fmt.Sprintf("size=%dk", 64*(1+rng.IntN(32))))
			if err := copySparse(src.Path(), filepath.Join(dir, "sparse")); err != nil {
				tr.Count("did-not-fit", 1) // the header and trailer did not fit
				return
			}
			switch rng.IntN(3) {
			case 0: // room left
			case 1:
				fillTo(dir, rng.Float64())
			case 2:
				fillTo(dir, 1)
			}
			var st unix.Stat_t
			require.NoError(t, unix.Stat(filepath.Join(dir, "sparse"), &st))
			var sfs unix.Statfs_t
			require.NoError(t, unix.Statfs(dir, &sfs))
			missing, free := st.Size-st.Blocks*512, int64(sfs.Bavail)*sfs.Bsize
			out, ok := chaosChild(tr, "chaos-open-fill", "SHM_DIR="+dir, "SHM_NAME=sparse")
			if ok {
				tr.Verdict(out, "sparse copy")
				wrote := strings.Contains(out, "ok wrote")
				if wrote != (free >= missing) {
					tr.Wrong("%d bytes missing, %d free: the child said %q", missing, free, strings.TrimSpace(out))
				}
			}
			os.Remove(filepath.Join(dir, "filler"))
			tr.Leftovers(dir, "sparse copy", "sparse")
			unix.Unmount(dir, unix.MNT_DETACH)
		},
	})
}

// copySparse copies the header page and trailer of the segment file src to
// a new file dst of the same size, leaving the data a hole.
func copySparse(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(len(b))); err != nil {
		return err
	}
	if _, err := f.WriteAt(b[:DataOffset], 0); err != nil {
		os.Remove(dst)
		return err
	}
	if _, err := f.WriteAt(b[len(b)-TrailerSize:], int64(len(b)-TrailerSize)); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// fillTo writes a file "filler" in dir taking frac of its free space.
func fillTo(dir string, frac float64) {
	var sfs unix.Statfs_t
	if unix.Statfs(dir, &sfs) != nil {
		return
	}
	n := int64(float64(int64(sfs.Bavail)*sfs.Bsize) * frac)
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		return
	}
	defer f.Close()
	block := bytes.Repeat([]byte{1}, 4096)
	for off := int64(0); off < n; off += 4096 {
		if _, err := f.Write(block); err != nil {
			return
		}
	}
}

// A tiny tmpfs: out of blocks and out of inodes.

func createUntilFull(dir string) string {
	if os.Getenv("SHM_NO_TMPFILE") != "" {
		useTmpfile = false
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	var made []string
	var segs []*Segment
	failures := 0
	for i := 0; i < 40 && failures < 4; i++ {
		name := "s" + strconv.Itoa(i)
		s, err := Create(name, Meta{DType: Uint8, Shape: []int{1 + rng.IntN(256<<10)}}, Dir(dir))
		if err != nil {
			if !errors.Is(err, ErrNoSpace) {
				return "wrong: create: " + err.Error()
			}
			failures++
			continue
		}
		fillPattern(s.Data(), 6) // every page reserved: no fault
		if err := checkPattern(s.Data(), 6); err != nil {
			return "wrong: " + err.Error()
		}
		made = append(made, name)
		segs = append(segs, s)
	}
	for _, s := range segs {
		s.Close()
	}
	return "ok " + strings.Join(made, " ")
}

func TestChaosTinyTmpfs(t *testing.T) {
	requireRoot(t, "mount a tmpfs")
	chaos.Run(t, chaos.Scenario{
		Name: "shm/tiny-tmpfs", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			opts := fmt.Sprintf("size=%dk,nr_inodes=%d", 16*(1+rng.IntN(64)), 2+rng.IntN(8))
			dir := tinyTmpfs(t, opts)
			env := []string{"SHM_DIR=" + dir}
			if rng.IntN(2) == 0 {
				env = append(env, "SHM_NO_TMPFILE=1")
				opts += " O_CREAT"
			}
			out, ok := chaosChild(tr, "chaos-create-until-full", env...)
			if ok {
				tr.Verdict(out, opts)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				made := strings.Fields(strings.TrimPrefix(lines[len(lines)-1], "ok"))
				tr.Leftovers(dir, opts, made...)
			}
			unix.Unmount(dir, unix.MNT_DETACH)
		},
	})
}

// Low descriptor limits.

func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries) - 1 // the one ReadDir used
}

func lowFD(dir string) string {
	limit, _ := strconv.Atoi(os.Getenv("SHM_LIMIT"))
	// The runtime's network poller opens its descriptors on first use:
	// open them now, so they are in the baseline.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	base := openFDs()
	rl.Cur = uint64(base + limit)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return "wrong: setrlimit: " + err.Error()
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 2))
	var held []*Segment
	emfile := 0
	check := func(op string, err error) string {
		if err == nil {
			return ""
		}
		if !errors.Is(err, syscall.EMFILE) {
			return fmt.Sprintf("wrong: %s: %v", op, err)
		}
		if !strings.Contains(err.Error(), "ulimit -n") {
			return fmt.Sprintf("wrong: %s: no hint in %v", op, err)
		}
		emfile++
		return ""
	}
	for i := 0; i < 60 && emfile < 6; i++ {
		var s *Segment
		var err error
		op := []string{"create", "open", "attach", "anon", "openfile", "list", "sweep", "unlink"}[rng.IntN(8)]
		switch op {
		case "create":
			s, err = Create("c"+strconv.Itoa(i), small, Dir(dir))
		case "open", "attach", "unlink":
			var names []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if len(names) == 0 {
				continue
			}
			name := names[rng.IntN(len(names))]
			switch op {
			case "open":
				s, err = Open(name, Dir(dir))
			case "attach":
				_, err = Attach(filepath.Join(dir, name))
			default:
				err = Unlink(name, Dir(dir))
				if errors.Is(err, ErrNotExist) {
					err = nil
				}
			}
		case "anon":
			s, err = CreateAnon("lowfd", small)
		case "openfile":
			if len(held) > 0 {
				s, err = OpenFile(held[rng.IntN(len(held))].File())
			}
		case "list":
			_, err = List(Dir(dir))
		case "sweep":
			_, err = Sweep(Dir(dir))
		}
		if msg := check(op, err); msg != "" {
			return msg
		}
		if s != nil {
			held = append(held, s)
		}
	}
	for _, s := range held {
		s.Close()
	}
	releaseAll()
	if n := openFDs(); n != base {
		return fmt.Sprintf("leak: %d descriptors open after closing everything, %d before", n, base)
	}
	s, err := Create("after", small, Dir(dir))
	if err != nil {
		return "wrong: create after closing everything: " + err.Error()
	}
	s.Close()
	return fmt.Sprintf("ok %d EMFILE", emfile)
}

func TestChaosLowFDLimit(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shm/low-fd-limit", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			dir := t.TempDir()
			limit := 1 + rng.IntN(12)
			out, ok := chaosChild(tr, "chaos-lowfd", "SHM_DIR="+dir, "SHM_LIMIT="+strconv.Itoa(limit))
			if ok {
				tr.Verdict(out, fmt.Sprintf("%d spare descriptors", limit))
				var n int
				if _, err := fmt.Sscanf(strings.TrimSpace(out), "ok %d EMFILE", &n); err == nil {
					tr.Count("emfile", n) // operations that failed with EMFILE, each with a clear error
				}
			}
			for _, e := range dirNames(t, dir) {
				if strings.HasPrefix(e, privatePrefix) {
					tr.Leak("%q left in the directory", e)
				}
			}
		},
	})
}

// Sweep racing creators.

// chaosPool is the set of names the racing scenarios fight over.
var chaosPool = []string{"a", "b", "c", "d"}

// churn creates, checks and removes segments under the pool's names until
// $SHM_UNTIL (Unix nanoseconds), and also leaves dead segments there and
// replaces them, so that a sweeper in another process races its every step.
// A live segment of this process that loses its name is a wrong result.
func churn(dir string) string {
	until, _ := strconv.ParseInt(os.Getenv("SHM_UNTIL"), 10, 64)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	trials, windows, lost, wrong := 0, 0, 0, []string{}
	for time.Now().UnixNano() < until && len(wrong) < 5 {
		name := chaosPool[rng.IntN(len(chaosPool))]
		switch rng.IntN(3) {
		case 0: // leave a dead segment
			s, err := Create(name, small, Dir(dir))
			if err != nil {
				continue
			}
			m := s.Meta()
			m.CreatorStart++
			copy(s.mm[len(s.mm)-TrailerSize:], encodeTrailer(m))
			s.Close()
			continue
		case 1: // replace a dead segment, as a program restarting would:
			// open it, see its creator is dead, remove that very file
			// (Unlink by name would remove whatever segment is there).
			if d, err := Open(name, Dir(dir)); err == nil {
				m := d.Meta()
				if alive, _ := proc.Alive(proc.ID{PID: m.CreatorPID, Start: m.CreatorStart}); !alive {
					if err := d.Unlink(); err != nil && !errors.Is(err, ErrNotExist) {
						wrong = append(wrong, "unlink a dead segment: "+err.Error())
					}
				}
				d.Close()
			}
		}
		s, err := Create(name, small, Dir(dir))
		if err != nil {
			if !errors.Is(err, ErrExist) {
				wrong = append(wrong, "create: "+err.Error())
			}
			continue
		}
		trials++
		fillPattern(s.Data(), 3)
		for range rng.IntN(20) {
			if cur, err := os.Lstat(filepath.Join(dir, name)); err != nil || !os.SameFile(cur, s.ident) {
				windows++
				// The documented window: a remover that took it puts it back
				// within microseconds, unless a Create took the name
				// meanwhile (the package doc's Sweep section): then it
				// stays at the private name, for its Unlink below. Wait
				// for one or the other, bounded.
				back := false
				err := testproc.Poll("a live segment to be back at its name", func() bool {
					cur, err := os.Lstat(filepath.Join(dir, name))
					if err == nil && os.SameFile(cur, s.ident) {
						back = true
						return true
					}
					_, aside := s.findAside(dir, name)
					return err == nil && aside
				})
				if err != nil {
					wrong = append(wrong, "live segment "+name+" lost its name")
					break
				}
				if !back {
					lost++ // its Unlink must still remove it
					break
				}
			}
		}
		if err := s.Unlink(); err != nil {
			wrong = append(wrong, "unlink own live segment: "+err.Error())
		}
		s.Close()
	}
	if len(wrong) > 0 {
		return fmt.Sprintf("wrong: %d of %d: %s", len(wrong), trials, strings.Join(wrong, "; "))
	}
	return fmt.Sprintf("ok %d %d %d", trials, windows, lost)
}

func sweepUntilStdinCloses(dir string) string {
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	sweeps := 0
	for {
		select {
		case <-stop:
			return fmt.Sprintf("ok %d sweeps", sweeps)
		default:
		}
		if _, err := Sweep(Dir(dir)); err != nil {
			return "wrong: sweep: " + err.Error()
		}
		sweeps++
	}
}

func TestChaosSweepRacesCreators(t *testing.T) {
	race := chaosSeconds(t) / 4
	chaos.Run(t, chaos.Scenario{
		Name: "shm/sweep-races-creators", Trials: 8, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			dir, err := os.MkdirTemp("", "shm-chaos-")
			if err != nil {
				tr.Crash("trial directory: %v", err)
				return
			}
			defer os.RemoveAll(dir)
			until := time.Now().Add(race).UnixNano()
			sweeper := testproc.Start("chaos-sweeper", "SHM_DIR="+dir)
			var churners []*testproc.Child
			for range 2 {
				churners = append(churners, testproc.Start("chaos-churn", "SHM_DIR="+dir, "SHM_UNTIL="+strconv.FormatInt(until, 10)))
			}
			for _, ch := range churners {
				out, err := ch.Wait()
				switch {
				case err != nil:
					tr.Crash("churn: %v: %s", err, ch.Stderr())
				default:
					line := strings.TrimSpace(out)
					var n, w, l int
					if _, err := fmt.Sscanf(line, "ok %d %d %d", &n, &w, &l); err != nil {
						tr.Wrong("churn: %s", line)
					}
					tr.Count("creates", n)
					// A live segment seen away from its name: the
					// documented window; lost: a Create took the name
					// meanwhile, and the segment's own Unlink removed it
					// from the private name.
					tr.Count("windows", w)
					tr.Count("lost", l)
				}
			}
			if err := sweeper.CloseStdin(); err != nil {
				tr.Crash("sweeper: close stdin: %v", err)
			}
			out, err := sweeper.Wait()
			if err != nil {
				tr.Crash("sweeper: %v: %s", err, sweeper.Stderr())
			} else {
				tr.Verdict(out, "sweeper")
				var sweeps int
				if _, err := fmt.Sscanf(strings.TrimSpace(out), "ok %d", &sweeps); err == nil {
					tr.Count("sweeps", sweeps)
				}
			}
			// What is left: only dead segments, which one more Sweep removes.
			if _, err := Sweep(Dir(dir)); err != nil {
				tr.Wrong("final sweep: %v", err)
			}
			tr.Leftovers(dir, "after the final sweep")
		},
	})
}

// A sweeper killed at a random moment.

func TestChaosSweeperKilled(t *testing.T) {
	chaos.Run(t, chaos.Scenario{
		Name: "shm/sweeper-killed", Trials: 40, Timeout: chaosTimeout,
		Trial: func(tr *chaos.T) {
			rng := tr.Rand
			dir := t.TempDir()
			var live []*Segment
			var liveNames []string
			for i := range 1 + rng.IntN(4) {
				name := "live" + strconv.Itoa(i)
				s, err := Create(name, small, Dir(dir))
				require.NoError(t, err)
				fillPattern(s.Data(), 8)
				live, liveNames = append(live, s), append(liveNames, name)
			}
			for i := range 20 + rng.IntN(180) {
				makeDead(t, dir, "dead"+strconv.Itoa(i), nil)
			}
			ch := testproc.Start("chaos-sweep-once", "SHM_DIR="+dir)
			if line, err := nextLine(ch); err != nil || line != "ready" {
				tr.Crash("sweeper did not start: %q %v", line, err)
			} else {
				time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond) // a random moment, not a wait for state
				ch.Kill()
			}
			ch.Wait()
			for _, e := range dirNames(t, dir) {
				if strings.HasPrefix(e, privatePrefix) {
					tr.Count("midway", 1) // a kill left a file at a private name, for the next Sweep to finish
					break
				}
			}
			// Any process's next Sweep finishes the job.
			if _, err := Sweep(Dir(dir)); err != nil {
				tr.Wrong("sweep after the kill: %v", err)
			}
			for i, s := range live {
				o, err := Open(liveNames[i], Dir(dir))
				if err != nil {
					tr.Wrong("live segment %s: %v", liveNames[i], err)
					continue
				}
				if !os.SameFile(o.ident, s.ident) || checkPattern(o.Data(), 8) != nil {
					tr.Wrong("live segment %s replaced or changed", liveNames[i])
				}
				o.Close()
				s.Close()
			}
			tr.Leftovers(dir, "after a killed sweep", liveNames...)
		},
	})
}

// nextLine returns the child's next line of stdout, bounded by trialBound.
func nextLine(ch *testproc.Child) (string, error) {
	deadline := time.Now().Add(trialBound)
	for time.Now().Before(deadline) {
		if out := ch.Stdout(); strings.Contains(out, "\n") {
			return strings.SplitN(out, "\n", 2)[0], nil
		}
		if ch.Exited() {
			return "", errors.New("exited")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return "", errors.New("timed out")
}
