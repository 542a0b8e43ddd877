package value_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// TestMain lets the test binary play a second process (see testproc). What
// gob decoding attached stays in shm's Attach cache until its file is gone;
// it is released before the leak check.
func TestMain(m *testing.M) {
	testproc.Main(m, child, testproc.AfterRun(func() { shm.ReleaseUnlinked() }))
}

func child(role string) error {
	dir := os.Getenv("SHMPAR_TEST_DIR")
	switch role {
	case "add-int": // 1,000,000 atomic Add(1)
		v, err := value.Open[int64]("n", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 1_000_000 {
			v.Add(1)
		}
		return nil
	case "add-float": // 100,000 atomic Add(0.5): exact in float64
		v, err := value.Open[float64]("f", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 100_000 {
			v.Add(0.5)
		}
		return nil
	case "add-int16": // 30,000 Add(1) on a 16-bit value (a CAS loop on the containing word)
		v, err := value.Open[uint16]("h", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 30_000 {
			v.Add(1)
		}
		return nil
	case "locked": // 100,000 compound read-modify-writes under the Value's Mutex
		v, err := value.Open[int64]("m", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 100_000 {
			if err := v.Mutex().Lock(); err != nil {
				return err
			}
			v.Store(v.Load() + 1) // not atomic on its own: the lock makes it so
			if err := v.Mutex().Unlock(); err != nil {
				return err
			}
		}
		return nil
	case "add-foreign": // open $SHMPAR_TEST_NAME, allowing foreign files when asked, and Add(1)
		var opts []shm.Option
		if os.Getenv("SHMPAR_TEST_ALLOW") != "" {
			opts = append(opts, shm.AllowForeign())
		}
		v, err := value.Open[int64](os.Getenv("SHMPAR_TEST_NAME"), append(opts, shm.Dir(dir))...)
		if err != nil {
			return err
		}
		defer v.Close()
		v.Add(1)
		return nil
	case "store":
		v, err := value.Open[float64]("s", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		fmt.Println(v.Load())
		v.Store(2.75)
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}
