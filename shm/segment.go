package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edsrzf/mmap-go"

	"github.com/shmpar/shmpar/internal/proc"
)

// Segment is an open, mapped segment. Its methods may be called from several
// goroutines; Close must not run while another goroutine still uses the
// slices returned by Data or Locks.
type Segment struct {
	name  string // segment name, or the memfd label
	path  string // what Path returns
	file  string // the file's name in its directory, "" when it has none (memfd)
	memfd bool
	meta  Meta
	ident os.FileInfo // fstat at open, to recognise the file later

	// foreign is set when the file is another user's or writable by group or
	// others (see AllowForeign) and was accepted anyway; a Ref to the
	// segment carries it, so that a worker attaches what its sender accepted.
	foreign bool

	mu     sync.Mutex
	f      *os.File
	mm     mmap.MMap
	data   []byte
	locks  []byte
	closed bool
}

// useTmpfile lets tests take the O_CREAT|O_EXCL path of Create.
var useTmpfile = true

// Create creates the named segment in the directory given by Dir (default
// DefaultDir()), reserves its whole size with fallocate, writes its header
// and trailer and maps it read-write. Only m.DType, m.Shape, m.Kind and
// m.Flags are used; the creator fields and the creation time are filled in.
// The data region and the lock area start zeroed.
//
// The file is built unnamed (O_TMPFILE) and linked to its name only when
// complete, so other processes never see a half-written segment and a crash
// leaves nothing behind; on file systems without O_TMPFILE it is created
// with O_CREAT|O_EXCL|O_NOFOLLOW instead. Either way, anything already at the
// name, a symbolic link included, gives ErrExist. The mode is 0600 unless
// Mode says otherwise. If the space cannot be reserved Create returns
// ErrNoSpace and leaves no file. On a file system without fallocate, the
// file is filled with zeros instead.
func Create(name string, m Meta, opts ...Option) (*Segment, error) {
	o := getOptions(opts)
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(o.dir, name))
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	s, err := create(name, path, m, o)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	return s, nil
}

func create(name, path string, m Meta, o options) (*Segment, error) {
	if o.persistent {
		m.Flags |= FlagPersistent
	}
	m, lay, err := prepare(m)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		return nil, existErrAt(fi) // fail before reserving space; the link decides
	}
	dir := filepath.Dir(path)
	f, err := (*os.File)(nil), errNoTmpfile
	if useTmpfile {
		f, err = createTmp(dir, o.mode)
	}
	tmp := err == nil
	if errors.Is(err, errNoTmpfile) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|openNoFollow, o.mode)
		if errors.Is(err, fs.ErrExist) {
			return nil, existErrAt(nil)
		}
	}
	if err != nil {
		return nil, createErr(err, dir)
	}
	named := !tmp // whether path now names f
	ok := false
	defer func() {
		if !ok {
			if named {
				removeIfSame(path, f)
			}
			f.Close()
		}
	}()
	if err := f.Chmod(o.mode); err != nil {
		return nil, err
	}
	if err := reserve(f, lay.size, dir); err != nil {
		return nil, err
	}
	if err := writeMeta(f, m, lay); err != nil {
		return nil, err
	}
	if tmp {
		if err := linkTmp(f, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return nil, existErrAt(nil)
			}
			return nil, createErr(err, dir)
		}
		named = true
	}
	s, err := mapFile(f, m, lay)
	if err != nil {
		return nil, err
	}
	s.name, s.path, s.file = name, path, path
	s.foreign = foreignReason(s.ident) != "" // made so on purpose (Mode)
	ok = true
	return s, nil
}

// CreateAnon creates an anonymous segment: a memfd with the same layout as a
// named segment, whose size is reserved and then sealed (no process can
// grow or shrink it). name is only a label, shown in /proc/PID/fd and as
// Name(); it may be empty, and otherwise must pass ValidateName. Share the
// segment with a child through File (exec.Cmd.ExtraFiles, then OpenFile in
// the child), or with any process of the same user through Path
// ("/proc/<pid>/fd/<fd>", then Attach or OpenFile on the opened file). The
// memory is freed when the last descriptor and mapping are gone.
func CreateAnon(name string, m Meta) (*Segment, error) {
	label := name
	if label == "" {
		label = "shmpar"
	} else if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("create anonymous segment: %w", err)
	}
	s, err := createAnon(label, m)
	if err != nil {
		return nil, fmt.Errorf("create anonymous segment %q: %w", label, err)
	}
	return s, nil
}

func createAnon(label string, m Meta) (*Segment, error) {
	m, lay, err := prepare(m)
	if err != nil {
		return nil, err
	}
	f, err := memfdCreate(label)
	if err != nil {
		return nil, fdLimit(err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if err := f.Truncate(lay.size); err != nil {
		return nil, err
	}
	if err := reserve(f, lay.size, "memory"); err != nil {
		return nil, err
	}
	if err := sealSize(f); err != nil {
		return nil, err
	}
	if err := writeMeta(f, m, lay); err != nil {
		return nil, err
	}
	s, err := mapFile(f, m, lay)
	if err != nil {
		return nil, err
	}
	s.name, s.path, s.memfd = label, fdPath(f), true
	ok = true
	return s, nil
}

// prepare checks m, fills in the creator and creation time, and returns the
// file layout.
func prepare(m Meta) (Meta, layout, error) {
	n, err := checkMeta(m)
	if err != nil {
		return Meta{}, layout{}, err
	}
	lay := layoutFor(n)
	if lay.size > int64(maxInt) {
		return Meta{}, layout{}, fmt.Errorf("%w: %d bytes do not fit in this platform's address space", ErrTooLarge, lay.size)
	}
	m = m.clone()
	self := proc.Self()
	m.CreatorPID, m.CreatorStart = self.PID, self.Start
	m.Created = time.Unix(0, time.Now().UnixNano()) // as Open will read it back
	return m, lay, nil
}

// reserve makes f size bytes long with all its blocks allocated, so that
// writing through the mapping can never fail for want of space (SIGBUS).
func reserve(f *os.File, size int64, where string) error {
	err := fallocate(f, size)
	if err != nil && isNotSupported(err) {
		err = fillZeros(f, size)
	}
	if err != nil && isNoSpace(err) {
		return fmt.Errorf("%w: cannot reserve %d bytes in %s: %w", ErrNoSpace, size, where, err)
	}
	return err
}

// reserveOpen makes sure that every page of the segment file f (fi is its
// fstat) has storage, as Create's reserve does for a new file, so that
// writing through the mapping can never fault for want of space (SIGBUS).
// A file made by Create is fully allocated already, but a sparse copy of one
// (cp --sparse, rsync -S, a restore from a backup) is not.
//
// On tmpfs, which counts exactly the pages a file holds, a block count equal
// to the size proves that nothing is missing, at the cost of one fstatfs;
// with a larger count (huge pages reach past the end) lseek(SEEK_HOLE), exact
// on tmpfs, decides. Otherwise fallocate allocates whatever is missing,
// never changing the data or the size; where everything is allocated it
// costs microseconds on extent file systems (it walks the extent tree), but
// tens of milliseconds per GiB on tmpfs (it visits every page), hence the
// tmpfs test first. On a file system without fallocate a file with a hole is
// refused; one without holes passes.
func reserveOpen(f *os.File, fi os.FileInfo) error {
	if fullyAllocated(f, fi) {
		return nil
	}
	size := fi.Size()
	err := fallocate(f, size)
	switch {
	case err == nil:
		return nil
	case isNotSupported(err):
		if hole, herr := firstHole(f); herr == nil && hole < size {
			return fmt.Errorf("%w: byte %d of the file has no storage (it is sparse), and its file system cannot reserve it (no fallocate): writing there could fault", ErrNoSpace, hole)
		}
		return nil
	case isNoSpace(err):
		missing := ""
		if n, ok := allocatedBytes(fi); ok && n < size {
			missing = fmt.Sprintf("%d of its %d bytes have", size-n, size)
		} else {
			missing = "some of its pages have"
		}
		return fmt.Errorf("%w: %s no storage (a sparse copy?), and the file system has no room for them; writing there would fault: %w", ErrNoSpace, missing, err)
	}
	return fmt.Errorf("reserve the file's storage: %w", err)
}

// fillZeros allocates f's blocks by writing zeros, for file systems without
// fallocate. It runs before the segment has a valid header, so it cannot
// overwrite anyone's data.
func fillZeros(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	zeros := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// writeMeta writes the npy header and the trailer.
func writeMeta(f *os.File, m Meta, lay layout) error {
	if _, err := f.WriteAt(encodeHeader(m.DType, m.Shape), 0); err != nil {
		return fmt.Errorf("write npy header: %w", noSpace(err))
	}
	if _, err := f.WriteAt(encodeTrailer(m), lay.trailerOff); err != nil {
		return fmt.Errorf("write trailer: %w", noSpace(err))
	}
	return nil
}

func noSpace(err error) error {
	if isNoSpace(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

func existErr() error { return fmt.Errorf("%w (%w)", ErrExist, syscall.EEXIST) }

// existErrAt is existErr saying what is at the name when fi (from Lstat)
// tells: a symbolic link (the error then wraps ErrSymlink too).
func existErrAt(fi os.FileInfo) error {
	if fi != nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %w, and Create never replaces one (%w)", ErrExist, ErrSymlink, syscall.EEXIST)
	}
	if fi == nil {
		return existErr()
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%w: %w: the file at the name belongs to uid %d, not to you (uid %d); in a shared directory such as /dev/shm another user can take a name first (%w)",
			ErrExist, ErrForeign, uid, os.Geteuid(), syscall.EEXIST)
	}
	return existErr()
}

// createErr turns an error from creating or linking the file of a new
// segment in dir into one that wraps the sentinel for its cause.
func createErr(err error, dir string) error {
	switch {
	case isNoSpace(err):
		return fmt.Errorf("%w: cannot create a file in %s (no inode or no space left): %w", ErrNoSpace, dir, err)
	case errors.Is(err, fs.ErrPermission):
		where := dir
		if note := ownerNote(dir); note != "" {
			where += " (" + strings.TrimPrefix(note, " ") + ")"
		}
		return fmt.Errorf("%w: cannot create a file in %s: %w", ErrPermission, where, err)
	}
	return fdLimit(err)
}

// removeIfSame removes path if it still names the open file f.
func removeIfSame(path string, f *os.File) {
	fi, err1 := f.Stat()
	cur, err2 := os.Lstat(path)
	if err1 == nil && err2 == nil && os.SameFile(fi, cur) {
		os.Remove(path)
	}
}

// mapFile maps f, whose contents have been checked against m and lay, and
// returns a Segment that owns f.
func mapFile(f *os.File, m Meta, lay layout) (*Segment, error) {
	ident, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mm, err := mmap.MapRegion(f, int(lay.size), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", lay.size, err)
	}
	dataEnd := DataOffset + int(lay.dataBytes)
	locks := int(lay.trailerOff) + lockAreaOff
	return &Segment{
		meta:  m,
		ident: ident,
		f:     f,
		mm:    mm,
		data:  mm[DataOffset:dataEnd:dataEnd],
		locks: mm[locks : locks+LockAreaSize : locks+LockAreaSize],
	}, nil
}

// Open opens and maps the named segment in the directory given by Dir
// (default DefaultDir()). Before mapping anything it checks the file in the
// order docs/FORMAT.md gives: npy magic, version and header, the file size
// the header implies (ErrTruncated if shorter), then the trailer's magic,
// version, checksum and agreement with the header. A symbolic link at the
// name is refused. The error says what was wrong and names the file.
func Open(name string, opts ...Option) (*Segment, error) {
	o := getOptions(opts)
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(o.dir, name))
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", name, err)
	}
	s, err := openPath(path, false, o.allowForeign)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", path, err)
	}
	s.name = name
	return s, nil
}

// openPath opens, checks and maps the file at path. follow allows a
// symbolic link (the /proc/PID/fd/N links of Attach); allowForeign accepts
// a foreign file.
func openPath(path string, follow, allowForeign bool) (*Segment, error) {
	flags := os.O_RDWR
	if !follow {
		flags |= openNoFollow
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, openPathErr(err, path)
	}
	if openedHook != nil {
		openedHook(path)
	}
	s, err := openFile(f, allowForeign)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.path = path
	if !s.memfd && (!follow || s.file == "") {
		// The name the caller gave, not the one /proc shows now: a remover
		// may hold the file at a private name for a moment (see
		// removeChecked), and Unlink must not go by that name.
		s.file = path
	}
	return s, nil
}

// openErr turns an error from opening, checking or removing the file at a
// segment's name into one that wraps the sentinel for its cause. The path is
// in the message around it already.
func openErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in the message
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%w)", ErrNotExist, err)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%w: a directory", ErrBadMagic)
	case isLoop(err):
		return fmt.Errorf("%w: segments are never opened through one (%w)", ErrSymlink, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	case errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("%w: not a regular file (a socket?) (%w)", ErrBadMagic, err)
	}
	return fdLimit(err)
}

// fdLimit adds a hint to an error from running out of file descriptors.
func fdLimit(err error) error {
	if errors.Is(err, syscall.EMFILE) {
		return fmt.Errorf("%w (each open segment holds a descriptor: close some, or raise the limit, ulimit -n)", err)
	}
	return err
}

// openPathErr is openErr for a failed open of path, adding who owns the
// file when permission was refused.
func openPathErr(err error, path string) error {
	err = openErr(err)
	if errors.Is(err, ErrPermission) {
		if note := ownerNote(path); note != "" {
			return fmt.Errorf("%w:%s", err, note)
		}
	}
	return err
}

// foreignReason says why the file fi describes is foreign, or returns "":
// it belongs to another user, or its mode lets group or others write it.
// Anyone who may write a file may truncate it, and a truncated file faults
// (SIGBUS) every process that maps it at the lost pages.
func foreignReason(fi os.FileInfo) string {
	me := os.Geteuid()
	if uid, ok := fileOwner(fi); ok && uid != me {
		return fmt.Sprintf("owned by uid %d, not by you (uid %d): its owner can truncate it under your mapping", uid, me)
	}
	perm := fi.Mode().Perm()
	who := ""
	switch perm & 0o022 {
	case 0:
		return ""
	case 0o020:
		who = "group"
	case 0o002:
		who = "others"
	default:
		who = "group and others"
	}
	return fmt.Sprintf("mode %04o lets %s write it, and truncate it under your mapping", perm, who)
}

// ownerNote describes who owns the file at path and its mode, for a
// permission error: " owned by uid 65534 with mode 0600; you are uid 1000".
// It is "" when that cannot be told.
func ownerNote(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return ""
	}
	uid, ok := fileOwner(fi)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" owned by uid %d with mode %04o; you are uid %d", uid, fi.Mode().Perm(), os.Geteuid())
}

// OpenFile checks and maps the segment open as f, for instance a memfd
// inherited through exec.Cmd.ExtraFiles (os.NewFile(3, "segment")). The
// Segment uses its own duplicate of the descriptor: the caller keeps f and
// should close it. f must be open for reading and writing. A file that is
// not a memfd is checked like a named one: a foreign file is refused
// (ErrForeign) unless opts hold AllowForeign. Other options are ignored.
func OpenFile(f *os.File, opts ...Option) (*Segment, error) {
	o := getOptions(opts)
	if f == nil {
		return nil, errors.New("open segment file: nil *os.File")
	}
	nf, err := dupFile(f)
	if err != nil {
		return nil, fmt.Errorf("open segment file %s: %w", f.Name(), fdLimit(err))
	}
	s, err := openFile(nf, o.allowForeign)
	if err != nil {
		nf.Close()
		return nil, fmt.Errorf("open segment file %s: %w", f.Name(), err)
	}
	if s.file != "" {
		s.path = s.file
	} else {
		s.path = fdPath(nf)
	}
	if s.name == "" {
		s.name = f.Name()
	}
	return s, nil
}

// openFile checks and maps the open file f; on error the caller closes f.
func openFile(f *os.File, allowForeign bool) (*Segment, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file (%s)", ErrBadMagic, fi.Mode().Type())
	}
	memfd, label, file := describeFD(f)
	foreign := false
	if !memfd { // a memfd is sealed against resizing: nobody can truncate it
		if reason := foreignReason(fi); reason != "" {
			if !allowForeign {
				return nil, fmt.Errorf("%w: %s; open it with AllowForeign only if you trust them", ErrForeign, reason)
			}
			foreign = true
		}
	}
	m, lay, err := validate(f, fi.Size())
	if err != nil {
		return nil, err
	}
	if lay.size > int64(maxInt) {
		return nil, fmt.Errorf("%w: %d bytes do not fit in this platform's address space", ErrTooLarge, lay.size)
	}
	if err := reserveOpen(f, fi); err != nil {
		return nil, err
	}
	s, err := mapFile(f, m, lay)
	if err != nil {
		return nil, err
	}
	// A file cut short between the check and the mapping would fault.
	if s.ident.Size() != fi.Size() {
		s.mm.Unmap()
		return nil, fmt.Errorf("%w: file changed size from %d to %d bytes while being opened", ErrTruncated, fi.Size(), s.ident.Size())
	}
	if dir, base := filepath.Split(file); file != "" {
		if p, ok := parsePrivate(base); ok {
			// Held aside by a remover at this moment: the file's name is
			// the one it is being removed from, or will go back to.
			file = filepath.Join(dir, p.name)
		}
	}
	s.memfd, s.name, s.file, s.foreign = memfd, label, file, foreign
	if file != "" {
		s.name = filepath.Base(file)
	}
	return s, nil
}

// Name returns the segment's name (for an anonymous segment, its label).
func (s *Segment) Name() string { return s.name }

// Anonymous reports whether the segment is anonymous (a memfd, from
// CreateAnon or reached through another process's descriptor): it has no
// name in any directory, and Name is only its label.
func (s *Segment) Anonymous() bool { return s.memfd }

// Path returns the path of the segment's file. For an anonymous segment it
// is "/proc/<pid>/fd/<fd>", which other processes of the same user can open
// (Attach) while this Segment is open.
func (s *Segment) Path() string { return s.path }

// Meta returns the segment's metadata. The Shape is a copy.
func (s *Segment) Meta() Meta { return s.meta.clone() }

// Data returns the data region: Meta().DataBytes() bytes, starting on a
// 4096-byte boundary, aliasing the shared mapping (writes are seen by every
// process that maps the segment). Its capacity equals its length. It is nil
// after Close, and must not be used after Close.
func (s *Segment) Data() []byte { return s.data }

// Locks returns the segment's lock area: LockAreaSize zero-initialised
// bytes inside the trailer, starting on a 64-byte boundary, aliasing the
// shared mapping, for the lock package's primitives. nil after Close.
func (s *Segment) Locks() []byte { return s.locks }

// File returns the segment's open file, to hand to a child process through
// exec.Cmd.ExtraFiles. It is owned by the Segment: do not close it.
func (s *Segment) File() *os.File { return s.f }

// Close unmaps the segment and closes its file. It is idempotent. The
// slices from Data and Locks must not be used afterwards; the segment
// itself stays until it is unlinked (a named one) or until no process has
// it open (an anonymous one).
func (s *Segment) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.data, s.locks = nil, nil
	err := s.mm.Unmap()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close segment %s: %w", s.path, err)
	}
	return nil
}

func (s *Segment) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Unlink removes the segment's name, like Unlink(s.Name()), but only while
// that name still refers to this segment's file (otherwise ErrNotExist):
// another segment created under the name meanwhile is never removed (see
// the package doc, Sweep, for how). When another process's remover holds
// the file at a private name, Unlink removes it there; it returns
// ErrNotExist when the file is gone (see the package doc for the exact
// guarantee).
// The mapping stays valid until Close; processes that have it open keep
// it. For an anonymous segment there is no name and Unlink does nothing.
func (s *Segment) Unlink() error {
	if s.file == "" {
		return nil
	}
	if err := s.unlink(); err != nil {
		return fmt.Errorf("unlink segment %s: %w", s.file, err)
	}
	return nil
}

func (s *Segment) unlink() error {
	// Another process's remover (Sweep, Unlink) that took this segment's
	// name by mistake holds the file at its private name for a moment (step
	// 4 of the package doc's Sweep section), or for good when the name was
	// taken again meanwhile. The file is then taken from there: it is this
	// segment's, wherever it is. While the segment is open its link count
	// tells whether the file is anywhere at all.
	dir, name := filepath.Split(s.file)
	err := s.unlinkFrom(s.file)
	misses := 0
	for round := 0; errors.Is(err, ErrNotExist) && round < maxUnlinkRounds; round++ {
		if private, ok := s.findAside(dir, name); ok {
			err = s.unlinkFrom(private)
			if errors.Is(err, errNotOurs) {
				// The segment is closed and its inode number now another
				// file's: its own file is gone.
				if misses++; misses >= 3 {
					return err
				}
			}
			if errors.Is(err, ErrNotExist) {
				err = s.unlinkFrom(s.file) // moved on meanwhile: back at its name?
			}
			continue
		}
		// Neither at its name nor aside: removed (no link left), or moved
		// between the looks. A file that stays linked and is not found
		// three times over has another name (mv): not ours to chase.
		if linked, _ := s.linked(); !linked {
			return err
		}
		if misses++; misses >= 3 {
			return err
		}
		err = s.unlinkFrom(s.file)
	}
	return err
}

// maxUnlinkRounds bounds how often a segment's Unlink follows a file that
// keeps moving between its name and private names: each round follows a
// remover's rename, which takes microseconds.
const maxUnlinkRounds = 1000

// unlinkFrom removes the segment's file from path (its name, or the private
// name a remover holds it at) while path leads to it; otherwise the error
// wraps ErrNotExist.
func (s *Segment) unlinkFrom(path string) error {
	// Hold the file open while it is removed (see removeChecked): s may
	// be closed.
	f, err := os.OpenFile(path, os.O_RDONLY|openNoFollow|syscall.O_NONBLOCK, 0)
	if err != nil {
		return openErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, s.ident) {
		return errReplaced
	}
	// Once s is closed and the file gone, its inode number may be given to
	// a new file at the same name: the identity in the trailer tells them
	// apart.
	if m, _, err := validate(f, fi.Size()); err == nil && idOf(m) != idOf(s.meta) {
		return errNotOurs
	}
	return removeChecked(path, fi)
}

// errNotOurs is errReplaced, when the file has the segment's inode number
// but another segment's identity.
var errNotOurs = fmt.Errorf("%w: the name now belongs to another file; not removed", ErrNotExist)

// findAside returns the private name in dir at which a remover holds the
// segment's file, which it is removing from name.
func (s *Segment) findAside(dir, name string) (string, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if p, ok := parsePrivate(e.Name()); !ok || p.name != name {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, s.ident) {
			if asideHook != nil {
				asideHook(path)
			}
			return path, true
		}
	}
	return "", false
}

// linked reports whether the segment's file still has a name; known is
// false when that cannot be told (s is closed: it counts as linked).
func (s *Segment) linked() (linked, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true, false
	}
	fi, err := s.f.Stat()
	if err != nil {
		return true, false
	}
	return nlink(fi) > 0, true
}

// Unlink removes the named segment from the directory given by Dir (default
// DefaultDir()). Processes that have it open keep their mapping. It refuses
// (ErrBadMagic) to remove a file that is not a shmpar segment, but removes a
// damaged one (truncated, corrupt, of another format version). Like Sweep,
// it removes the name only while it refers to the file it checked.
func Unlink(name string, opts ...Option) error {
	o := getOptions(opts)
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("unlink segment: %w", err)
	}
	path := filepath.Join(o.dir, name)
	if err := unlink(path); err != nil {
		return fmt.Errorf("unlink segment %s: %w", path, err)
	}
	return nil
}

func unlink(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|openNoFollow|syscall.O_NONBLOCK, 0) // a FIFO must not block
	if err != nil {
		return openErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (%s); not removed", ErrBadMagic, fi.Mode().Type())
	}
	if _, _, err := validate(f, fi.Size()); errors.Is(err, ErrBadMagic) {
		return fmt.Errorf("not removed: %w", err)
	}
	return removeChecked(path, fi) // f stays open until it returns
}
