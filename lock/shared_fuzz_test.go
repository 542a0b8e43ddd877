package lock

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseShared checks the parser of encoded Shared handles, which reads
// bytes from other processes: it never panics, it rejects with ErrInvalid,
// and what it accepts encodes back to the same bytes.
func FuzzParseShared(f *testing.F) {
	const ref = "shmpar-ref/1 raw uint8 4242.77.1700000000000000000 /proc/4242/fd/7"
	f.Add([]byte(sharedMagic + " mutex 0 " + ref))
	f.Add([]byte(sharedMagic + " cond 64 " + ref))
	f.Add([]byte(sharedMagic + " barrier 256 " + ref))
	f.Add([]byte(sharedMagic + " rlock 0 shmpar-ref/1 array float64 1.2.3 /dev/shm/x"))
	f.Add([]byte(sharedMagic + " mutex 08 " + ref))
	f.Add([]byte("shmpar-ref/1 raw uint8 1.2.3 /x"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseShared(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("parse %q: error %v does not wrap ErrInvalid", b, err)
			}
			return
		}
		if !knownShared(r.what) || r.off < 0 || r.off >= 512 {
			t.Fatalf("parse %q: accepted %+v", b, r)
		}
		if got := r.format(); !bytes.Equal(got, b) {
			t.Fatalf("parse %q, format: %q", b, got)
		}
	})
}
