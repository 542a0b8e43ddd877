package shm

import "errors"

// Sentinel errors. Every error returned by this package that has one of these
// causes wraps it, so test with errors.Is; the message around it names the
// file and says what exactly was wrong.
var (
	// ErrExist is returned when Create finds a file already at the name. The
	// error also matches os.ErrExist.
	ErrExist = errors.New("segment already exists")

	// ErrNotExist is returned when Open, Unlink or Segment.Unlink find no file
	// at the name. The error also matches os.ErrNotExist.
	ErrNotExist = errors.New("segment does not exist")

	// ErrBadName is returned when a segment name is empty, "." or "..",
	// longer than MaxNameLen bytes, not valid UTF-8, or holds a character
	// that is not printable ('/', NUL, a control character such as a
	// newline, ...): see ValidateName for the exact rule.
	ErrBadName = errors.New("invalid segment name")

	// ErrBadMagic is returned when a file is not a shmpar segment: it is not
	// an npy file at all, or it is an npy file that shmpar did not write (its
	// data is not at DataOffset, or its trailer has no shmpar magic).
	ErrBadMagic = errors.New("not a shmpar segment")

	// ErrVersion is returned when a segment's trailer has a format version
	// this package does not read.
	ErrVersion = errors.New("unsupported segment format version")

	// ErrCorrupt is returned when a segment's npy header or trailer is
	// malformed, its checksum does not match, the two disagree, or the file is
	// longer than its header says.
	ErrCorrupt = errors.New("corrupt segment")

	// ErrTruncated is returned when a segment file is shorter than its npy
	// header says it must be. Opening it would risk SIGBUS, so it is refused.
	ErrTruncated = errors.New("segment file truncated")

	// ErrTooLarge is returned when a shape has a negative dimension, its size
	// in bytes overflows, or it exceeds MaxDataBytes.
	ErrTooLarge = errors.New("segment too large")

	// ErrNoSpace is returned when Create or CreateAnon cannot reserve the
	// segment's space (ENOSPC, EDQUOT or ENOMEM from fallocate) or cannot
	// create its file at all (ENOSPC or EDQUOT from open or link: on tmpfs,
	// no inode left, the nr_inodes limit); nothing is left behind. Open,
	// OpenFile and Attach return it for a sparse file (a cp --sparse copy of
	// a segment) whose missing pages the file system has no room for, or
	// cannot reserve (no fallocate): writing to them would fault. The error
	// also matches the errno.
	ErrNoSpace = errors.New("no space for segment")

	// ErrSymlink is returned when a symbolic link is at a segment's name:
	// Open, Unlink and Sweep never follow one (the link could lead anywhere,
	// into another user's files), and Create does not replace one (the error
	// also wraps ErrExist).
	ErrSymlink = errors.New("segment name is a symbolic link")

	// ErrForeign is returned when Open, OpenFile or Attach find a foreign
	// segment file and the caller did not pass AllowForeign: the file belongs
	// to another user, or its mode lets group or others write it, so they
	// could truncate it under the caller's mapping (SIGBUS). Create's
	// ErrExist also wraps it when the file at the name belongs to another
	// user (a name squatted in a shared directory such as /dev/shm).
	ErrForeign = errors.New("foreign segment")

	// ErrPermission is returned when the system refuses access to a segment
	// or its directory (EACCES or EPERM): another user's segment of mode
	// 0600, a directory the caller may not write, another user's file in a
	// sticky directory such as /dev/shm. The message names the owner and the
	// mode where it can read them. The error also matches fs.ErrPermission.
	ErrPermission = errors.New("no permission for segment")

	// ErrInvalid is returned when a Meta passed to Create or CreateAnon is
	// not valid: an unknown DType, Kind or flag, or more than MaxDims
	// dimensions.
	ErrInvalid = errors.New("invalid segment metadata")
)
