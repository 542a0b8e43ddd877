//go:build linux

package shm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"math"
	"os"

	"github.com/shmpar/shmpar/shm"
)

func ExampleCreate() {
	dir, err := os.MkdirTemp("", "shm-example") // by default: /dev/shm
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := shm.Create("grid", shm.Meta{DType: shm.Float64, Shape: []int{1000, 10}, Kind: shm.KindArray}, shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	defer s.Unlink()

	// Data is the mapped data region: writes are seen by every process that
	// maps the segment, and by numpy.load(s.Path(), mmap_mode="r+").
	binary.LittleEndian.PutUint64(s.Data()[8:], math.Float64bits(2.5)) // element [0, 1]
	m := s.Meta()
	fmt.Println(s.Name(), m.Kind, m.DType, m.Shape, m.Len(), "elements", len(s.Data()), "bytes")
	fmt.Println("lock area:", len(s.Locks()), "bytes")
	// Output:
	// grid array float64 [1000 10] 10000 elements 80000 bytes
	// lock area: 512 bytes
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "shm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// One process creates and fills a segment...
	w, err := shm.Create("counts", shm.Meta{DType: shm.Uint8, Shape: []int{4}}, shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	copy(w.Data(), []byte{1, 2, 3, 4})
	w.Close()

	// ...another opens it by name, checked before it is mapped.
	r, err := shm.Open("counts", shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println(r.Meta().DType, r.Data())

	_, err = shm.Open("missing", shm.Dir(dir))
	fmt.Println(errors.Is(err, shm.ErrNotExist))
	// Output:
	// uint8 [1 2 3 4]
	// true
}

func ExampleList() {
	dir, err := os.MkdirTemp("", "shm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	for _, c := range []struct {
		name string
		opts []shm.Option
	}{
		{"temperature", nil},
		{"checkpoint", []shm.Option{shm.Persistent()}},
	} {
		s, err := shm.Create(c.name, shm.Meta{DType: shm.Float32, Shape: []int{64, 64}, Kind: shm.KindArray}, append(c.opts, shm.Dir(dir))...)
		if err != nil {
			log.Fatal(err)
		}
		s.Close()
	}
	os.WriteFile(dir+"/notes.txt", []byte("not a segment"), 0o600) // skipped

	infos, err := shm.List(shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		fmt.Println(in.Name, in.Meta.DType, in.Meta.Shape, in.Size, "alive:", in.Alive, "flags:", in.Meta.Flags)
	}
	// Output:
	// checkpoint float32 [64 64] 24576 alive: true flags: persistent
	// temperature float32 [64 64] 24576 alive: true flags: 0
}

func ExampleCreateAnon() {
	s, err := shm.CreateAnon("scratch", shm.Meta{DType: shm.Int64, Shape: []int{100}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// Hand s.File() to a child through exec.Cmd.ExtraFiles (it calls
	// shm.OpenFile), or s.Path() to any process of this user (shm.Attach).
	fmt.Println(s.Name(), len(s.Data()), s.Path() != "")
	// Output: scratch 800 true
}

func ExampleAllowForeign() {
	dir, err := os.MkdirTemp("", "shm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A segment meant to be shared with the group: its members may write it,
	// and so truncate it under every mapping.
	s, err := shm.Create("shared", shm.Meta{DType: shm.Float64, Shape: []int{8}}, shm.Dir(dir), shm.Mode(0o660))
	if err != nil {
		log.Fatal(err)
	}
	s.Close()

	_, err = shm.Open("shared", shm.Dir(dir))
	fmt.Println(errors.Is(err, shm.ErrForeign))

	// A caller who trusts the group says so.
	o, err := shm.Open("shared", shm.Dir(dir), shm.AllowForeign())
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	fmt.Println(len(o.Data()), "bytes")
	// Output:
	// true
	// 64 bytes
}

func ExampleValidateName() {
	for _, name := range []string{"grid", "grid 2", "résumé", "a/b", "two\nlines", "\u202eevil"} {
		if err := shm.ValidateName(name); err != nil {
			fmt.Println(err)
		} else {
			fmt.Printf("%q is a valid name\n", name)
		}
	}
	// Output:
	// "grid" is a valid name
	// "grid 2" is a valid name
	// "résumé" is a valid name
	// invalid segment name "a/b": contains '/'
	// invalid segment name "two\nlines": contains the non-printable character U+000A at byte 3
	// invalid segment name "\u202eevil": contains the non-printable character U+202E at byte 0
}

func ExampleSweep() {
	dir, err := os.MkdirTemp("", "shm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := shm.Create("mine", shm.Meta{DType: shm.Uint8, Shape: []int{10}}, shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// This process made "mine" and is alive: nothing to sweep. A dry run
	// lists what a sweep would remove without removing it.
	would, err := shm.Sweep(shm.Dir(dir), shm.DryRun())
	if err != nil {
		log.Fatal(err)
	}
	removed, err := shm.Sweep(shm.Dir(dir))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(would), len(removed))
	// Output: 0 0
}
