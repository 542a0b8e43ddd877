//go:build linux

package testproc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// futexWait is the op of a FUTEX_WAIT on a word that may be shared between
// processes (no FUTEX_PRIVATE_FLAG), the only wait package futex makes.
const futexWait = 0

// FutexSleepers returns how many threads of process pid are blocked in a
// shared FUTEX_WAIT on the word at address addr of that process's address
// space, as /proc/PID/task/TID/syscall shows them. It is how a test sees
// that a waiter is really asleep in the kernel, and not still spinning or
// about to sleep, before it wakes, cancels or kills something.
func FutexSleepers(pid int, addr uintptr) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("futex sleepers of process %d: %w", pid, err)
	}
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/syscall")
		if err != nil {
			continue // the thread ended meanwhile
		}
		// "NR ARG0 ARG1 ..." while blocked in a system call; "running" or
		// "-1 SP PC" otherwise.
		f := strings.Fields(string(b))
		if len(f) < 3 || f[0] != strconv.Itoa(syscall.SYS_FUTEX) {
			continue
		}
		a0, err0 := strconv.ParseUint(f[1], 0, 64)
		op, err1 := strconv.ParseUint(f[2], 0, 64)
		if err0 == nil && err1 == nil && uintptr(a0) == addr && op == futexWait {
			n++
		}
	}
	return n, nil
}

// MappedAt returns the address at which process pid maps the start of the
// file at path (the first mapping of offset 0 of that file), so that a test
// can name a word of a shared file in another process's address space. The
// file is matched by device and inode, not by name: a file created unnamed
// and linked later shows in the map under another name.
func MappedAt(pid int, path string) (uintptr, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("mapping of %s in process %d: %w", path, pid, err)
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ino := strconv.FormatUint(st.Ino, 10)
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[3] != dev || fields[4] != ino {
			continue
		}
		if off, err := strconv.ParseUint(fields[2], 16, 64); err != nil || off != 0 {
			continue
		}
		start, _, _ := strings.Cut(fields[0], "-")
		a, err := strconv.ParseUint(start, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("mapping of %s in process %d: bad address %q", path, pid, start)
		}
		return uintptr(a), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("process %d does not map %s", pid, path)
}
