package value_test

import (
	"testing"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// BenchmarkAdd compares Value.Add (one atomic instruction on the shared word)
// with the same update under the Value's robust Mutex.
func BenchmarkAdd(b *testing.B) {
	v, err := value.Create[int64]("bench", shm.Dir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	b.Run("atomic", func(b *testing.B) {
		for b.Loop() {
			v.Add(1)
		}
	})
	b.Run("float64-cas", func(b *testing.B) {
		f, err := value.Create[float64]("benchf", shm.Dir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			f.Add(1)
		}
	})
	b.Run("mutex", func(b *testing.B) {
		mu := v.Mutex()
		for b.Loop() {
			if err := mu.Lock(); err != nil {
				b.Fatal(err)
			}
			v.Store(v.Load() + 1)
			if err := mu.Unlock(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
