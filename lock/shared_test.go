//go:build linux

package lock

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/stretchr/testify/require"
)

// sharedSet is one of each Shared primitive, as a process's arguments would
// hold them.
type sharedSet struct {
	Mu  *SharedMutex
	RW  *SharedRWMutex
	Sem *SharedSemaphore
	Ev  *SharedEvent
	Bar *SharedBarrier
	C   *SharedCond
	RL  *SharedRLock
}

func newSharedSet(t *testing.T) *sharedSet {
	t.Helper()
	var s sharedSet
	var err error
	s.Mu, err = NewMutex()
	require.NoError(t, err)
	s.RW, err = NewRWMutex()
	require.NoError(t, err)
	s.Sem, err = NewSemaphore(0, 0)
	require.NoError(t, err)
	s.Ev, err = NewEvent()
	require.NoError(t, err)
	s.Bar, err = NewBarrier(2)
	require.NoError(t, err)
	s.C, err = NewCond()
	require.NoError(t, err)
	s.RL, err = NewRLock()
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, c := range []interface{ Close() error }{s.Mu, s.RW, s.Sem, s.Ev, s.Bar, s.C, s.RL} {
			require.NoError(t, c.Close())
		}
	})
	return &s
}

// Steps of the shareduse child, in the order it takes them; it stores the
// last one done at offFlag.
const (
	stepDecoded = 1 + iota
	stepLocked
	stepEvent
	stepBarrier
	stepRLock
	stepRWMutex
	stepCond
)

func init() {
	// shareduse FILE: decode a gob-encoded sharedSet from FILE and use every
	// primitive in it with the parent, as TestSharedCrossProcess expects.
	children["shareduse"] = func(mem []byte, args []string) error {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		var s sharedSet
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		flag := memU32(mem, offFlag)
		step := func(n uint32, err error) error {
			if err != nil {
				return fmt.Errorf("step %d: %w", n, err)
			}
			flag.Store(n)
			return nil
		}
		if err := step(stepDecoded, s.Sem.Release()); err != nil {
			return err
		}
		if err := s.Mu.LockContext(ctx); err != nil { // the parent holds it
			return err
		}
		*(*uint64)(unsafePointer(mem, offCounter)) += 1
		if err := step(stepLocked, s.Mu.Unlock()); err != nil {
			return err
		}
		if err := step(stepEvent, s.Ev.WaitContext(ctx)); err != nil {
			return err
		}
		if _, err := s.Bar.WaitContext(ctx); err != nil {
			return err
		}
		flag.Store(stepBarrier)
		tok, err := s.RL.LockContext(ctx, 0)
		if err != nil {
			return err
		}
		if _, err := s.RL.Lock(tok); err != nil {
			return err
		}
		memU64(mem, offAux).Store(uint64(s.RL.Depth(tok)))
		if err := errors.Join(s.RL.Unlock(tok), s.RL.Unlock(tok)); err != nil {
			return err
		}
		flag.Store(stepRLock)
		if err := s.RW.RLockContext(ctx); err != nil {
			return err
		}
		if err := step(stepRWMutex, s.RW.RUnlock()); err != nil {
			return err
		}
		if err := s.C.L.Lock(); err != nil {
			return err
		}
		for memU32(mem, offGo).Load() == 0 {
			if err := s.C.WaitContext(ctx, s.C.L); err != nil {
				return err
			}
		}
		return step(stepCond, s.C.L.Unlock())
	}
}

// futexWordOf returns where process pid maps the futex word at p, which
// lies in the segment at path that this process maps too.
func futexWordOf(t *testing.T, pid int, path string, p unsafe.Pointer) uintptr {
	t.Helper()
	mine, err := testproc.MappedAt(os.Getpid(), path)
	require.NoError(t, err)
	var theirs uintptr
	testproc.WaitFor(t, "the child to map "+path, func() bool {
		theirs, err = testproc.MappedAt(pid, path)
		return err == nil
	})
	return theirs + uintptr(p) - mine
}

func TestSharedCrossProcess(t *testing.T) {
	s := newShared(t)
	set := newSharedSet(t)
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(set))
	file := filepath.Join(t.TempDir(), "args.gob")
	require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o600))
	ctx := deadline(t, 20*time.Second)

	require.NoError(t, set.Mu.Lock())
	k := startChild(t, s, "shareduse", file)
	require.NoError(t, set.Sem.AcquireContext(ctx), "the child's Release")

	// The child sleeps on the Mutex this process holds: the same word.
	testproc.WaitAsleep(t, 1, k.PID(), futexWordOf(t, k.PID(), set.Mu.Path(), unsafe.Pointer(set.Mu.key())))
	require.Equal(t, uint32(stepDecoded), s.u32(offFlag).Load())
	require.NoError(t, set.Mu.Unlock())
	testproc.WaitFor(t, "the child to lock and unlock", func() bool { return s.u32(offFlag).Load() == stepLocked })
	require.Equal(t, uint64(1), *s.plain(offCounter))

	testproc.WaitAsleep(t, 1, k.PID(), futexWordOf(t, k.PID(), set.Ev.Path(), unsafe.Pointer(set.Ev.key())))
	set.Ev.Set()
	_, err := set.Bar.WaitContext(ctx)
	require.NoError(t, err)
	testproc.WaitFor(t, "the child's rlock", func() bool { return s.u32(offFlag).Load() >= stepRLock })
	require.Equal(t, uint64(2), s.u64(offAux).Load(), "depth seen by the child")

	require.NoError(t, set.C.L.Lock())
	s.u32(offGo).Store(1)
	require.NoError(t, set.C.L.Unlock())
	set.C.Broadcast()
	k.WaitOK(t)
	require.Equal(t, uint32(stepCond), s.u32(offFlag).Load())

	// Everything was left unlocked by the child, in this process's view.
	require.Zero(t, set.Mu.Owner())
	require.Zero(t, set.RL.Owner())
	require.Zero(t, set.C.L.Owner())
	require.NoError(t, set.RW.LockContext(ctx))
	require.NoError(t, set.RW.Unlock())
}

func TestSharedSameProcess(t *testing.T) {
	// Decoded in the process that made it, a handle is another mapping of
	// the same memory.
	mu, err := NewMutex()
	require.NoError(t, err)
	defer mu.Close()
	b, err := mu.GobEncode()
	require.NoError(t, err)
	var d SharedMutex
	require.NoError(t, d.GobDecode(b))
	require.NotEqual(t, unsafe.Pointer(mu.Mutex), unsafe.Pointer(d.Mutex), "a second mapping")
	require.NoError(t, mu.Lock())
	ok, err := d.TryLock()
	require.NoError(t, err)
	require.False(t, ok, "the decoded Mutex is the same lock")
	require.NoError(t, d.Unlock())
	require.Zero(t, mu.Owner())
	require.NoError(t, d.Close(), "a decoded handle closes nothing")
	_, err = d.GobEncode()
	require.ErrorContains(t, err, "closed")
	require.NoError(t, mu.Lock(), "closing the decoded handle left the creator's mapped")
	require.NoError(t, mu.Unlock())

	sem, err := NewSemaphore(2, 3)
	require.NoError(t, err)
	defer sem.Close()
	bar, err := NewBarrier(3)
	require.NoError(t, err)
	defer bar.Close()
	require.Equal(t, 2, sem.Value())
	require.Equal(t, 3, sem.Bound())
	require.Equal(t, 3, bar.Parties())
	_, err = NewSemaphore(4, 3)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = NewBarrier(0)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestSharedClose(t *testing.T) {
	mu, err := NewMutex()
	require.NoError(t, err)
	path := mu.Path()
	b, err := mu.GobEncode()
	require.NoError(t, err)
	require.NoError(t, mu.Close())
	require.NoError(t, mu.Close(), "idempotent")
	require.Nil(t, mu.Mutex, "no pointer into the unmapped segment")
	_, err = mu.GobEncode()
	require.ErrorContains(t, err, "encode mutex: nil or closed")

	// The memfd is gone with the creator's descriptor: decoding fails
	// with a clear error, not a crash.
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	var d SharedMutex
	err = d.GobDecode(b)
	require.Error(t, err)
	require.True(t, errors.Is(err, fs.ErrNotExist) || errors.Is(err, shm.ErrNotExist), "%v", err)
	require.ErrorContains(t, err, "decode mutex")
	require.Nil(t, d.Mutex)
}

func TestSharedDecodeErrors(t *testing.T) {
	mu, err := NewMutex()
	require.NoError(t, err)
	defer mu.Close()
	good, err := mu.GobEncode()
	require.NoError(t, err)
	ref := string(good[len(sharedMagic+" mutex 0 "):])

	arr, err := shm.CreateAnon("not-a-lock", shm.Meta{DType: shm.Float64, Shape: []int{4}, Kind: shm.KindArray})
	require.NoError(t, err)
	defer arr.Close()
	arrRef, err := shm.RefOf(arr).MarshalBinary()
	require.NoError(t, err)

	for _, tc := range []struct {
		name, in, want string
		sentinel       error
	}{
		{"empty", "", "no \"shmpar-lock/1\" magic", ErrInvalid},
		{"foreign", "hello world", "no \"shmpar-lock/1\" magic", ErrInvalid},
		{"other type", sharedMagic + " event 0 " + ref, "the bytes encode a *lock.SharedEvent, not a *lock.SharedMutex", ErrInvalid},
		{"unknown type", sharedMagic + " spinlock 0 " + ref, "unknown primitive \"spinlock\"", ErrInvalid},
		{"negative offset", sharedMagic + " mutex -8 " + ref, "bad offset", ErrInvalid},
		{"non-canonical offset", sharedMagic + " mutex 08 " + ref, "bad offset", ErrInvalid},
		{"offset past the area", sharedMagic + " mutex 512 " + ref, "bad offset", ErrInvalid},
		{"misaligned", sharedMagic + " mutex 3 " + ref, "not 8-byte aligned", ErrMisaligned},
		{"no room", sharedMagic + " mutex 508 " + ref, "at offset 508 of a 512-byte buffer", ErrOutOfRange},
		{"bad ref", sharedMagic + " mutex 0 shmpar-ref/1 raw", "decode segment reference", ErrInvalid},
		{"array segment", sharedMagic + " mutex 0 " + string(arrRef), "not a lock's", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d SharedMutex
			err := d.GobDecode([]byte(tc.in))
			require.ErrorIs(t, err, tc.sentinel)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "decode mutex")
			require.Nil(t, d.Mutex)
		})
	}
	// An offset where a Barrier does not fit in the area.
	var b SharedBarrier
	err = b.GobDecode([]byte(sharedMagic + " barrier 384 " + ref))
	require.ErrorIs(t, err, ErrOutOfRange)
	require.Nil(t, b.Barrier)
}

func TestSharedPrimitiveGobError(t *testing.T) {
	// A primitive itself, in arguments, fails with an error that names the
	// handle to pass instead.
	type args struct{ Mu *Mutex }
	var m Mutex
	err := gob.NewEncoder(new(bytes.Buffer)).Encode(args{Mu: &m})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, "pass a *lock.SharedMutex (lock.NewMutex) instead")
	for _, p := range []interface{ GobEncode() ([]byte, error) }{
		&m, new(RWMutex), new(Semaphore), new(Event), new(Barrier), new(Cond), new(RLock),
	} {
		_, err := p.GobEncode()
		require.ErrorIs(t, err, errors.ErrUnsupported, "%T", p)
		require.ErrorContains(t, err, fmt.Sprintf("a %s is the lock's memory", strings.Replace(fmt.Sprintf("%T", p), "*lock.", "*lock.", 1)))
	}
}
