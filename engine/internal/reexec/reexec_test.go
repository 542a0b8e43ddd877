package reexec

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFields(t *testing.T) {
	f, err := ParseFields("worker", "v1;a=1;b=-2", "a", "b", "c")
	require.NoError(t, err)
	require.Equal(t, 1, f.Get("a", 9))
	require.Equal(t, -2, f.Get("b", 9))
	require.Equal(t, 9, f.Get("c", 9))
	for _, bad := range []string{"", "v2;a=1", "v1;a=x", "v1;a", "v1;d=1", "v1;a=1;;"} {
		_, err := ParseFields("worker", bad, "a", "b")
		require.Error(t, err, "%q", bad)
	}
}

func TestEnviron(t *testing.T) {
	roles = append(roles, Role{Name: "test", Env: "SHMPAR_REEXEC_TEST_ROLE", Run: func(string) int { return 0 }})
	defer func() { roles = roles[:len(roles)-1] }()
	t.Setenv("SHMPAR_REEXEC_TEST_ROLE", "v1")
	t.Setenv("GOMAXPROCS", "7")
	t.Setenv("GORACE", "halt_on_error=1")
	env := Environ([]string{"GOMAXPROCS=1", "SHMPAR_REEXEC_TEST_ROLE=v1;x=1"}, []string{"K=v"})
	require.Equal(t, 1, count(env, "GOMAXPROCS="), "replaced, not repeated")
	require.Contains(t, env, "GOMAXPROCS=1")
	require.Contains(t, env, "SHMPAR_REEXEC_TEST_ROLE=v1;x=1")
	require.Equal(t, 1, count(env, "SHMPAR_REEXEC_TEST_ROLE="))
	require.Equal(t, "K=v", env[len(env)-1], "extra comes last")
	i := slices.IndexFunc(env, func(s string) bool { return strings.HasPrefix(s, "GORACE=") })
	require.GreaterOrEqual(t, i, 0)
	require.Contains(t, env[i], "halt_on_error=1")
	if raceEnabled {
		require.Contains(t, env[i], "atexit_sleep_ms=0")
	}
}

func count(env []string, prefix string) int {
	n := 0
	for _, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			n++
		}
	}
	return n
}

func TestTail(t *testing.T) {
	var out strings.Builder
	tl := &Tail{W: &out}
	big := strings.Repeat("x", TailMax) + "end\n\n"
	n, err := tl.Write([]byte(big))
	require.NoError(t, err)
	require.Equal(t, len(big), n)
	require.Equal(t, big, out.String(), "passed through whole")
	require.True(t, strings.HasSuffix(tl.String(), "xend"))
	require.Len(t, tl.String(), TailMax-2)
	require.Empty(t, Note("worker", ""))
	require.Equal(t, "\nworker stderr (tail):\nboom", Note("worker", "boom"))
}

func TestNameAndRole(t *testing.T) {
	require.Equal(t, "main", Name())
	require.Empty(t, Current())
	Guard("Start") // no role variable set: returns
	require.NotEqual(t, os.Getpid(), 0)
}

func TestNames(t *testing.T) {
	require.Equal(t, "myprog", programOf("/usr/local/bin/myprog"))
	require.Equal(t, "my: prog", programOf("./my: prog"), "outside a child, the whole base name")
	require.Equal(t, "shmpar", programOf(""))
	name := "worker"
	current.Store(&name)
	defer current.Store(nil)
	require.Equal(t, "myprog", programOf("myprog: worker 1"), "a child's argv[0] names its program first")
	require.Equal(t, "myprog", programOf("myprog"))

	require.Equal(t, "myprog: worker", commOf("myprog: worker"))
	require.Equal(t, "myprog: worker ", commOf("myprog: worker 12"), "15 bytes")
	require.Equal(t, "prog: Wörker 1", commOf("prog: Wörker 12"), "15 bytes (ö takes 2)")
	require.Equal(t, "aaaaaaaaaaaaaa", commOf("aaaaaaaaaaaaaaé"), "cut before a rune it would split")
}
