package registry

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAddLookup(t *testing.T) {
	r := New[int]("test: thing")
	_, ok := r.Lookup("a")
	require.False(t, ok, "an empty registry has nothing")
	r.Add("a", 1)
	r.Add("b", 2)
	v, ok := r.Lookup("a")
	require.True(t, ok)
	require.Equal(t, 1, v)
	v, ok = r.Lookup("b")
	require.True(t, ok)
	require.Equal(t, 2, v)
	_, ok = r.Lookup("c")
	require.False(t, ok)
}

func TestAddPanics(t *testing.T) {
	r := New[int]("test: thing")
	r.Add("a", 1)
	require.PanicsWithValue(t, `test: thing "a" registered twice`, func() { r.Add("a", 2) })
	require.PanicsWithValue(t, `test: thing name "": must be 1 to 200 bytes`, func() { r.Add("", 2) })
	long := strings.Repeat("x", MaxName+1)
	require.Panics(t, func() { r.Add(long, 2) })
	r.Add(long[:MaxName], 3)
	v, _ := r.Lookup("a")
	require.Equal(t, 1, v, "a refused registration changes nothing")
}
