package process

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChildEnv(t *testing.T) {
	e := childEnv{life: 3, args: 4, report: 5, ppid: 4321}
	got, err := parseChildEnv(formatChildEnv(e))
	require.NoError(t, err)
	require.Equal(t, e, got)
	for _, bad := range []string{"", "v2;life=3", "v1;life=x", "v1;life=3;args=4;report=5", "v1;life=3;args=4;report=5;ppid=9;idx=1", "v1;life=1;args=4;report=5;ppid=9"} {
		_, err := parseChildEnv(bad)
		require.Error(t, err, "%q", bad)
	}
}
