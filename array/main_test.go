package array_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"os"
	"testing"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
)

// TestMain lets the test binary play a second process (see testproc). What
// gob decoding attached stays in shm's Attach cache until its file is gone;
// it is released before the leak check.
func TestMain(m *testing.M) {
	testproc.Main(m, child, testproc.AfterRun(func() { shm.ReleaseUnlinked() }))
}

func child(role string) error {
	dir := os.Getenv("SHMPAR_TEST_DIR")
	name := os.Getenv("SHMPAR_TEST_NAME")
	switch role {
	case "fill": // write i*3 into every element
		a, err := array.Open[float64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for i := range a.Data() {
			a.Data()[i] = float64(i) * 3
		}
		return nil
	case "check": // expect the parent's pattern i+0.5 and report the sum
		a, err := array.Open[float64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for i, x := range a.Data() {
			if x != float64(i)+0.5 {
				return fmt.Errorf("element %d is %v, want %v", i, x, float64(i)+0.5)
			}
		}
		fmt.Println("ok", a.Len())
		return nil
	case "decode-fill": // decode the gob-encoded array in $SHMPAR_TEST_GOB and write i*7
		var a *array.Array[float64]
		b, err := base64.StdEncoding.DecodeString(os.Getenv("SHMPAR_TEST_GOB"))
		if err != nil {
			return err
		}
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&a); err != nil {
			return err
		}
		for i := range a.Data() {
			a.Data()[i] = float64(i) * 7
		}
		fmt.Println("ok")
		return nil
	case "locked-inc": // 100,000 non-atomic increments of element 0 under the array's Mutex
		a, err := array.Open[int64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for range 100_000 {
			if err := a.Mutex().Lock(); err != nil {
				return err
			}
			a.Data()[0]++
			if err := a.Mutex().Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}
