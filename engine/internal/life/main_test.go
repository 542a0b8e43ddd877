package life

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m, child) }

// mapWord maps the first page of f and returns its first word.
func mapWord(f *os.File) (*atomic.Uint32, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return (*atomic.Uint32)(unsafe.Pointer(&b[0])), nil
}

// child arms the life word in the file it got as descriptor 3, says so,
// and then waits for its stdin to close: it exits with status 0 then, or
// dies when the test kills it.
func child(role string) error {
	if role != "arm" {
		return fmt.Errorf("unknown role %q", role)
	}
	word, err := mapWord(os.NewFile(3, "life"))
	if err != nil {
		return err
	}
	if err := Arm(word); err != nil {
		return err
	}
	fmt.Println("armed")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
