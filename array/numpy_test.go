package array_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// python returns Debian's python3 if it can import numpy. Without it the
// interop tests skip, unless SHMPAR_REQUIRE_NUMPY=1 (set by .ci/run after it
// installs python3-numpy), when they fail.
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	err := exec.Command(py, "-c", "import numpy").Run()
	if err != nil {
		if os.Getenv("SHMPAR_REQUIRE_NUMPY") == "1" {
			t.Fatalf("SHMPAR_REQUIRE_NUMPY=1 but %s cannot import numpy: %v", py, err)
		}
		t.Skipf("%s with numpy is not installed (apt-get install python3-numpy): %v", py, err)
	}
	return py
}

// runPython runs a script with arguments, bounded to 60 s, and returns its
// stdout; a failing script fails the test with its output.
func runPython(t *testing.T, py, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{"-c", script}, args...)...).CombinedOutput()
	require.NoError(t, err, "python:\n%s", out)
	return string(out)
}

const numpyScript = `
import sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker

path, name = sys.argv[1], sys.argv[2]
a = np.load(path, mmap_mode="r+")
assert isinstance(a, np.memmap), type(a)   # zero-copy: a view of the file's pages
assert a.dtype == np.float64 and a.shape == (3, 4), (a.dtype, a.shape)
assert a[1, 2] == 6.0, a
print(float(a.sum()))
a[0, 0] = 100.0                            # Go must see this without a copy
a.flush()

# Python's own shared memory attaches to the same segment by name; the data
# starts at the page after the npy header.
shm = shared_memory.SharedMemory(name=name)
resource_tracker.unregister(shm._name, "shared_memory")  # Python 3.11 would unlink it at exit
v = np.ndarray((3, 4), dtype="<f8", buffer=shm.buf, offset=4096)
assert v[0, 0] == 100.0
v[2, 3] = -1.0
del v
shm.close()
`

func TestNumpyAttachesZeroCopy(t *testing.T) {
	py := python(t)
	name := fmt.Sprintf("shmpar-numpy-test-%d", os.Getpid())
	a, err := array.CreateShape[float64](name, []int{3, 4}) // in /dev/shm, where SharedMemory looks
	require.NoError(t, err)
	t.Cleanup(func() { a.Unlink(); a.Close() })
	for i := range a.Data() {
		a.Data()[i] = float64(i)
	}

	out := runPython(t, py, numpyScript, a.Path(), name)
	require.Equal(t, "66.0\n", out)
	require.Equal(t, 100.0, a.Data()[0], "numpy's write through np.load(mmap_mode='r+')")
	require.Equal(t, -1.0, a.Data()[11], "the write through multiprocessing.shared_memory")
	require.Equal(t, 6.0, a.Data()[6])
}

func TestNumpyReadsEveryDType(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	i16, err := array.CreateShape[int16]("i16", []int{2, 3, 2}, shm.Dir(dir))
	require.NoError(t, err)
	defer i16.Close()
	i16.Data()[11] = -300
	c64, err := array.Create[complex64]("c64", 2, shm.Dir(dir))
	require.NoError(t, err)
	defer c64.Close()
	c64.Data()[1] = 1 - 2i
	v, err := value.Create[uint32]("v", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	v.Store(4000000000)

	out := runPython(t, py, `
import sys, numpy as np
a = np.load(sys.argv[1], mmap_mode="r+")
print(a.dtype, a.shape, a[1, 2, 1])
c = np.load(sys.argv[2], mmap_mode="r")
print(c.dtype, c[1])
v = np.load(sys.argv[3], mmap_mode="r+")
print(v.dtype, v.shape, int(v[()]))
v[()] = 7
v.flush()
`, i16.Path(), c64.Path(), v.Path())
	require.Equal(t, "int16 (2, 3, 2) -300\ncomplex64 (1-2j)\nuint32 () 4000000000\n", out)
	require.Equal(t, uint32(7), v.Load(), "numpy's write to a 0-d Value")
}
