//go:build linux

package shmap_test

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

func Example() {
	dir, _ := os.MkdirTemp("", "shmap-example")
	defer os.RemoveAll(dir)

	// One process creates the map: string keys of up to 16 bytes, int64
	// values, room for 1000 keys.
	scores, err := shmap.Create[string, int64]("scores", 1000, shmap.Dir(dir), shmap.MaxKeyLen(16))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer scores.Close()
	scores.Store("alice", 3)
	scores.Store("bob", 5)

	// Any other process (here the same one) opens it by name and sees the
	// same keys, with no server in between.
	other, err := shmap.Open[string, int64]("scores", shmap.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	v, ok, _ := other.Load("alice")
	fmt.Println(v, ok, other.Len())

	// Python's "d[k] += 1", as one step no other process interleaves with.
	n, _ := other.Update("bob", func(old int64, _ bool) int64 { return old + 1 })
	fmt.Println(n)

	var keys []string
	scores.Range(func(k string, _ int64) bool { keys = append(keys, k); return true })
	slices.Sort(keys)
	fmt.Println(keys)

	// Opening with other types is an error, not garbage.
	_, err = shmap.Open[string, float64]("scores", shmap.Dir(dir))
	fmt.Println(errors.Is(err, shmap.ErrValueType))
	// Output:
	// 3 true 2
	// 6
	// [alice bob]
	// true
}

// A map has a fixed capacity: a new key in a full map is refused, never
// stored over another.
func ExampleMap_Store() {
	m, err := shmap.CreateAnon[uint32, [4]float64](2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	fmt.Println(m.Store(1, [4]float64{1}))
	fmt.Println(m.Store(2, [4]float64{2}))
	err = m.Store(3, [4]float64{3})
	fmt.Println(errors.Is(err, shmap.ErrFull))
	fmt.Println(m.Store(2, [4]float64{2.5}), m.Len())
	// Output:
	// <nil>
	// <nil>
	// true
	// <nil> 2
}

// CompareAndSwap makes a lock-free counter that many processes increment.
func ExampleMap_CompareAndSwap() {
	hits, err := shmap.CreateAnon[[16]byte, uint64](100)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hits.Close()
	page := [16]byte{'/', 'i', 'n', 'd', 'e', 'x'}
	for range 3 {
		for {
			old, _, _ := hits.LoadOrStore(page, 0)
			if ok, _ := hits.CompareAndSwap(page, old, old+1); ok {
				break
			}
		}
	}
	n, _, _ := hits.Load(page)
	fmt.Println(n)
	// Output: 3
}

// A map shared between users is created with a mode that lets the group
// write it; such a file is foreign, and Open takes it only when told to.
func ExampleAllowForeign() {
	dir, _ := os.MkdirTemp("", "shmap-example")
	defer os.RemoveAll(dir)
	m, err := shmap.Create[uint64, uint64]("shared", 100, shmap.Dir(dir), shmap.Mode(0o660))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	m.Store(1, 10)

	_, err = shmap.Open[uint64, uint64]("shared", shmap.Dir(dir))
	fmt.Println(errors.Is(err, shm.ErrForeign))
	other, err := shmap.Open[uint64, uint64]("shared", shmap.Dir(dir), shmap.AllowForeign())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	fmt.Println(other.Load(1))
	// Output:
	// true
	// 10 true <nil>
}

// Inspect describes a map found on disk without knowing its types, as
// shmctl inspect prints it.
func ExampleInspect() {
	m, err := shmap.CreateAnon[string, [2]float64](1000, shmap.MaxKeyLen(24))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	m.Store("alice", [2]float64{1, 2})
	m.Store("bob", [2]float64{3, 4})
	info, err := shmap.Inspect(m.Segment())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s keys of at most %d bytes, %s values of %d bytes\n", info.KeyType, info.KeySize, info.ValueType, info.ValueSize)
	fmt.Println(info.Len, "of", info.Capacity, "keys")
	// Output:
	// string keys of at most 24 bytes, [2]float64 values of 16 bytes
	// 2 of 1000 keys
}
