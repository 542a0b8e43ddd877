package queue

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/proc"
)

// TestPeersGone checks the writer-liveness rule of the peer table case by
// case, with owner words of a live process (this one's parent), a dead one
// (the parent's pid with another start time, as after pid reuse) and this
// process.
func TestPeersGone(t *testing.T) {
	st, err := proc.StartTime(os.Getppid())
	require.NoError(t, err)
	live := ownerWord(proc.ID{PID: os.Getppid(), Start: st})
	dead := ownerWord(proc.ID{PID: os.Getppid(), Start: st + 1})
	require.True(t, alive(live))
	require.False(t, alive(dead))
	require.True(t, alive(self))
	require.False(t, alive(0))

	type slot struct {
		owner uint64
		n     uint32
	}
	for _, tc := range []struct {
		name       string
		slots      []slot
		pin        uint64
		untracked  uint32
		deadWriter bool
		cheap      bool // gone(false)
		full       bool // gone(true)
	}{
		{name: "empty table: nobody ever wrote"},
		{name: "only this process, holding a writer handle", slots: []slot{{self, 1}}},
		{name: "only this process, wrote and closed", slots: []slot{{self, wrote}}},
		{name: "a live writer", slots: []slot{{live, 1}}},
		{name: "a dead writer", slots: []slot{{dead, 1}}, full: true},
		{name: "a dead writer that put", slots: []slot{{dead, wrote | 2}}, full: true},
		{name: "a writer that put and closed", slots: []slot{{live, wrote}}, cheap: true, full: true},
		{name: "a consumer that never wrote", slots: []slot{{live, 0}}},
		{name: "a dead writer, and this process a writer", slots: []slot{{dead, 1}, {self, 1}}},
		{name: "a dead writer and a live one", slots: []slot{{dead, 1}, {live, 1}}},
		{name: "a dead writer, a consumer", slots: []slot{{live, 0}, {dead, 1}}, full: true},
		{name: "a dead writer, an untracked one", slots: []slot{{dead, 1}}, untracked: 1},
		{name: "a dead writer, a live pin", slots: []slot{{dead, 1}}, pin: live},
		{name: "a dead writer, a dead pin", slots: []slot{{dead, 1}}, pin: dead, full: true},
		{name: "a reused slot of a writer", deadWriter: true, cheap: true, full: true},
		{name: "a reused slot of a writer, a live writer", slots: []slot{{live, 1}}, deadWriter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, peerHdrSize+4*peerSlotSize)
			p, err := peersAt(b, true)
			require.NoError(t, err)
			require.Len(t, p.slots, 4)
			for i, s := range tc.slots {
				p.slots[i].owner.Store(s.owner)
				p.slots[i].n[1].Store(s.n)
			}
			p.h.pin[1].Store(tc.pin)
			p.h.untracked[1].Store(tc.untracked)
			if tc.deadWriter {
				p.h.deadWriters[1].Store(1)
			}
			require.Equal(t, tc.cheap, p.gone(1, false), "gone without /proc")
			require.Equal(t, tc.full, p.gone(1, true), "gone with /proc")
			require.False(t, p.gone(0, true), "ring 0 has no writer")
		})
	}
}

// TestPeersRegister checks registration: one slot per process, counts per
// ring, a dead process's slot reused with what it leaves kept in the
// header, and untracked writers when the table is full.
func TestPeersRegister(t *testing.T) {
	st, err := proc.StartTime(os.Getppid())
	require.NoError(t, err)
	live := ownerWord(proc.ID{PID: os.Getppid(), Start: st})
	dead := ownerWord(proc.ID{PID: os.Getppid(), Start: st + 1})

	b := make([]byte, peerHdrSize+2*peerSlotSize)
	p, err := peersAt(b, false)
	require.NoError(t, err)
	i := p.register(0)
	require.Equal(t, 0, i)
	require.Equal(t, i, p.register(0), "one slot per process")
	require.Equal(t, uint32(2), p.slots[0].n[0].Load())
	p.markWrote(0, i)
	p.unregister(0, i)
	require.Equal(t, uint32(wrote|1), p.slots[0].n[0].Load())

	// A dead process holding slot 1 with a writer handle and two undone
	// tasks: a new process (this one, after its own slot is taken away)
	// reuses it, with its counts at zero (Join counts the dead process's
	// tasks as held by nobody alive).
	p.slots[0].owner.Store(live)
	p.slots[1].owner.Store(dead)
	p.slots[1].n[0].Store(wrote | 1)
	p.slots[1].n[1].Store(2)
	require.Equal(t, 1, p.register(0))
	require.Equal(t, self, p.slots[1].owner.Load())
	require.Equal(t, uint32(1), p.slots[1].n[0].Load())
	require.Equal(t, uint32(0), p.slots[1].n[1].Load())
	require.Equal(t, uint32(1), p.h.deadWriters[0].Load())

	// Full of live processes: untracked.
	p.slots[1].owner.Store(live)
	require.Equal(t, -1, p.register(0))
	require.Equal(t, uint32(1), p.h.untracked[0].Load())
	require.False(t, p.gone(0, true))
	p.unregister(0, -1)
	require.Equal(t, uint32(0), p.h.untracked[0].Load())

	_, err = peersAt(make([]byte, peerHdrSize+peerSlotSize-1), false)
	require.Error(t, err)
}
