package testproc

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	Main(m, func(role string) error {
		switch role {
		case "echo":
			fmt.Print(os.Getenv("WORD"), " ", os.Getpid())
			return nil
		case "fail":
			return errors.New("as asked")
		}
		return fmt.Errorf("unknown role %q", role)
	})
}

func TestRunIsAnotherProcess(t *testing.T) {
	var word string
	var pid int
	_, err := fmt.Sscan(Run(t, "echo", "WORD=hello"), &word, &pid)
	require.NoError(t, err)
	require.Equal(t, "hello", word)
	require.NotEqual(t, os.Getpid(), pid)
}

func TestFailingChild(t *testing.T) {
	out, err := Start("fail").Wait()
	require.Error(t, err)
	require.Contains(t, out, "child: as asked")
}

func TestChildPID(t *testing.T) {
	c := Start("echo", "WORD=pid")
	out, err := c.Wait()
	require.NoError(t, err)
	var word string
	var pid int
	_, err = fmt.Sscan(out, &word, &pid)
	require.NoError(t, err)
	require.Equal(t, pid, c.PID())
}
