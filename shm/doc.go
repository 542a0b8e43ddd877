// Package shm creates, opens, lists and removes shared-memory segments: files
// that several processes map at once, so that a kernel in one process sees
// the data another wrote, with no copy.
//
// A named segment is a file in a directory, /dev/shm unless $SHMPAR_DIR or
// the Dir option says otherwise; a directory on disk makes it a persistent
// file (a checkpoint). An anonymous segment (CreateAnon) is a memfd, shared
// with child processes by descriptor or by its /proc/PID/fd path, and freed
// when the last process lets go of it.
//
// # Format
//
// Every segment is a valid numpy .npy file (format 1.0) whose data starts at
// byte 4096, so numpy.load(path, mmap_mode="r+") attaches to it zero-copy.
// shmpar's own metadata sits in a trailer page after the data, where numpy
// does not look. docs/FORMAT.md gives every byte.
//
//	offset 0     +--------------------------------------------+
//	             | "\x93NUMPY" 1 0 <uint16 4086>               |  npy 1.0 preamble
//	             | {'descr': '<f8', 'fortran_order': False,    |  header dict, padded
//	             |  'shape': (1000, 10), }      ...spaces...\n |  with spaces
//	4096         +--------------------------------------------+  DataOffset
//	             | data: prod(shape) * itemsize bytes, C order |  Segment.Data()
//	             | ... zero padding to a multiple of 4096      |
//	T            +--------------------------------------------+  trailer, 4096 bytes
//	T+0          | magic "SHMPAR\0\1", version, dtype, kind,   |  fixed fields,
//	             | flags, ndim, shape[8], data offset/length,  |  CRC-32C at T+128
//	             | creator pid/start, created, CRC             |
//	T+256        | lock area, LockAreaSize = 512 bytes, zeroed |  Segment.Locks()
//	T+768        | zero                                        |
//	T+4096       +--------------------------------------------+  end of file
//
// Open checks a file in a fixed order before mapping it, and each failure has
// its own error: not a regular file (ErrBadMagic); a foreign file (ErrForeign,
// see below); not an npy file, or an npy file shmpar did not write
// (ErrBadMagic); a malformed header (ErrCorrupt); a shape too large
// (ErrTooLarge); a file shorter than the header says (ErrTruncated) or
// longer (ErrCorrupt); no shmpar trailer (ErrBadMagic); another format
// version (ErrVersion); a bad checksum or a trailer that disagrees with the
// header (ErrCorrupt); pages without storage that cannot be reserved
// (ErrNoSpace, see the caveat on full file systems). A damaged file is an error, never a
// crash. A symbolic link at the name is never followed (ErrSymlink), and a
// file the system will not let the caller open is ErrPermission, naming its
// owner and mode.
//
// Shapes with a zero dimension are allowed, as numpy allows them: the data
// region is empty and the file is the header and trailer pages alone.
//
// # Concurrency
//
// A *Segment may be used from several goroutines, but Close must not run
// while the slices from Data or Locks are still in use. The bytes of a
// segment are shared by every process that maps it and this package puts no
// order on their reads and writes: synchronize with the lock package's
// primitives placed in Locks, or with sync/atomic on aligned words. The data
// region starts on a 4096-byte boundary and the lock area on a 64-byte one,
// so any element type and any atomic word is aligned.
//
// # Caveats
//
//   - Full file systems. Create reserves the whole size (fallocate) so that a
//     full file system fails at Create with ErrNoSpace instead of killing a
//     writer with SIGBUS later; on /dev/shm that reservation is real memory.
//     Open, OpenFile and Attach make sure of the same for a file they did not
//     make: a sparse copy of a segment (cp --sparse, rsync -S) has pages
//     with no storage, and writing one on a full file system faults. They
//     allocate what is missing (fallocate, which changes neither data nor
//     size) or fail with ErrNoSpace, saying how much is missing. On tmpfs a
//     block count equal to the size proves nothing is missing (one fstatfs);
//     elsewhere fallocate over the whole file costs microseconds on extent
//     file systems. On a file system without fallocate, a file with a hole
//     is refused. What is not covered: storage taken away after Open, by a
//     process that may write the file punching a hole in it
//     (fallocate PUNCH_HOLE) or truncating it (see below).
//   - A named segment truncated by another process while it is mapped makes
//     the next access to the lost pages fault (SIGBUS, which Go reports as a
//     fatal error). Opening checks the size, but nothing can stop a later
//     truncate by a process that may write the file. Anonymous segments are
//     sealed against resizing and do not have this problem.
//
// # Foreign files
//
// Whoever may write a named segment's file may truncate it, and so kill
// every process that maps it. Open, OpenFile and Attach therefore refuse,
// with ErrForeign, a file that is not a memfd and that belongs to another
// user than the caller's effective uid, or whose mode lets group or others
// write it (0620, 0602, 0666, ...; only the mode bits are read, not ACLs).
// AllowForeign accepts such a file for callers who trust its writers (a
// segment shared between users on purpose, Mode(0o660)); a Ref to a segment
// accepted that way, or created with such a Mode, carries the opt-in, so
// the worker that attaches it through AttachRef accepts it too. Root is no
// exception: another user's file is foreign to root. What is guaranteed:
//
//   - A file that passed the check belonged to the caller and was writable
//     by no one else at the moment it was opened; a later chmod or chown by
//     the caller's own user (or root) is not seen.
//   - In a world-writable sticky directory such as /dev/shm, another user
//     can take a name first (squatting). Create then fails with ErrExist
//     wrapping ErrForeign, naming the owner, and Open fails with ErrForeign
//     (or ErrPermission when the squatter's file is mode 0600 and the caller
//     is not root): the squatter's file is never handed back as the caller's
//     segment. A symbolic link at the name is never followed (ErrSymlink).
//   - List reports foreign files (Info.Foreign); Sweep leaves them alone
//     unless given AllowForeign. Unlink removes what the directory's
//     permissions allow.
//   - Segments in /dev/shm outlive their creator until unlinked or until
//     reboot; a process killed before Unlink leaks them. Sweep removes the
//     ones whose creator is dead (see Sweep below).
//   - Linux only. Elsewhere the package compiles, but Create, CreateAnon,
//     Open, OpenFile and Attach return errors.ErrUnsupported.
//
// # Sweep and removal
//
// Sweep removes a segment when its creator is dead (pid and start time, so
// a reused pid is not mistaken for it), it is not marked FlagPersistent, it
// is not damaged, its name passes ValidateName, and it is not foreign
// (unless AllowForeign). A creator pid of 0 ("unknown" in the format), or a
// creator that cannot be looked up (/proc unreadable), counts as alive:
// Sweep removes only what it can prove abandoned.
//
// Linux cannot unlink a name only if it still names a given file, so
// removing "the file that was checked" takes these steps, in Sweep, Unlink
// and Segment.Unlink alike:
//
//  1. Open the file at the name and check it, keeping it open (so that its
//     inode number cannot be given to another file until step 4).
//  2. Rename the name, atomically, to a private name in the same directory,
//     ".shmpar-rm.PID.START.INO.NAME": the remover's pid and start time, the
//     inode it checked, the name (ValidateName refuses this prefix, so no
//     segment is ever created under it).
//  3. Look at what the private name holds. If it is the checked inode,
//     unlink the private name: done.
//  4. Otherwise another file took the name between steps 1 and 2: rename it
//     back, unless the name was taken once more meanwhile (then it stays at
//     the private name, see below).
//
// Steps run one at a time per process. What is guaranteed when several
// processes remove one name at once (Sweeps, Unlinks, a segment's own
// Unlink):
//
//   - The checked file is removed by exactly one of them. Every other is
//     told another remover won: ErrNotExist (Sweep does not count the file
//     and reports nothing), whether it finds the name gone at step 1 or 2
//     or finds its private name emptied at step 3 or 4.
//   - Sweep never removes a live segment, and neither does the checked
//     removal of another file that had the name before it. (Unlink by name
//     removes the segment that is at the name, live or not.)
//   - A live segment that took the name is away from it, at step 4, for the
//     few microseconds between two renames: an Open of the name then gets
//     ErrNotExist, as it does between steps 2 and 3, and a Create of the
//     name succeeds.
//   - A segment's own Segment.Unlink removes its file wherever it is, at its
//     name or at the private name where a remover holds it (it takes it
//     from there by the same steps; that remover is told another won). It
//     returns ErrNotExist only when the file has no name left (another
//     process removed it, by Unlink of the name or by rm) or, for a segment
//     already closed, when three looks find it neither at its name nor at a
//     private name.
//   - If a Create takes the name while a live segment is away (step 4), the
//     new segment keeps the name and the old one cannot go back: it stays at
//     the private name, and the remover's call returns ErrNotExist saying
//     where. The old segment's own Unlink removes it there, as above; a
//     Sweep removes it there once it is abandoned; a segment Sweep keeps
//     (persistent, unknown creator) is put back by the first Sweep after its
//     remover is gone and its name is free, and until the name is free that
//     Sweep reports it, naming both files. This takes two changes to one
//     name within microseconds of each other.
//   - Once every remover has returned, nothing is left at a private name
//     but what the previous point describes.
//
// Sweep removes an abandoned segment it finds at a private name as it
// would at its name, whoever holds it there (it is reported under its
// name, with its private Path). A crash (the remover killed) leaves:
//
//   - before step 2: nothing changed;
//   - between steps 2 and 3, or during step 4: a file at the private name,
//     which List shows under that name and Open of the old name does not
//     find. The next Sweep in that directory, by any process, once the
//     remover is dead, finishes the job: the checked inode is unlinked
//     (Sweep returns it, with its old Name and its private Path), and any
//     other file is renamed back to its name, or, when the name is taken,
//     removed if it is abandoned and otherwise left there with an error
//     from each Sweep until the name is free. Without a later Sweep the
//     private file stays, as a segment leaked by a killed creator does;
//   - after step 3: the removal is complete.
//
// # Names
//
// A segment name is one printable file name (ValidateName gives the exact
// rule: valid UTF-8, no control, format or separator character but the
// ASCII space, no '/', at most MaxNameLen bytes), so it never leaves its
// directory and printing it never forges a line. Names of files that other
// tools made are not checked by List: quote them before printing.
//
// # Contents
//
// Segment and its calls (Create, CreateAnon, Open, OpenFile, Unlink; List
// and Sweep for a directory; the options Dir, Mode, Persistent,
// AllowForeign, DryRun; Attach, Ref and AttachRef, the process-wide
// mapping cache that typed views crossing to workers use); Meta, DType,
// Kind and Flags, the metadata of the file format; View, a segment's data as
// a typed slice; Number and Element, the one definition of the element
// types a segment holds, which array, value and engine use; one sentinel
// error per failure (errors.go). Errors name the operation and the file
// ("open segment /dev/shm/grid: segment does not exist (...)") and wrap
// the sentinel, without a package prefix.
//
// # Imports
//
// shm is a leaf: besides the standard library it imports only
// golang.org/x/sys, github.com/edsrzf/mmap-go and internal/proc. It must not
// import any other shmpar package; lock, array, value, queue and engine
// build on it.
package shm
