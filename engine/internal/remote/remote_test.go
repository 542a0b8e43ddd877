package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSentinelsCross(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	SetSentinels(errA, errB, context.Canceled)
	require.Equal(t, uint32(1), Code(fmt.Errorf("x: %w", errA)))
	require.Equal(t, uint32(3), Code(fmt.Errorf("x: %w", context.Canceled)))
	require.Zero(t, Code(errors.New("other")))
	for _, code := range []uint32{0, 4, 1 << 31} {
		require.Nil(t, Sentinel(code), "code %d", code)
	}
	e := New("x: b", Code(fmt.Errorf("x: %w", errB)))
	require.Equal(t, "x: b", e.Error())
	require.ErrorIs(t, e, errB)
	require.NotErrorIs(t, e, errA)
}

func TestClip(t *testing.T) {
	require.Equal(t, "short", Clip("short"))
	c := Clip(strings.Repeat("x", MaxText+10))
	require.True(t, strings.HasSuffix(c, "(truncated)"))
	require.Less(t, len(c), MaxText+100)
}
