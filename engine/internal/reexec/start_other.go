//go:build !linux

package reexec

import (
	"errors"
	"os/exec"
	"syscall"
)

// Start returns errors.ErrUnsupported: children that die with their parent
// need Linux's PDEATHSIG.
func Start(cmd *exec.Cmd) error { return errors.ErrUnsupported }

// SysProcAttr returns nil.
func SysProcAttr() *syscall.SysProcAttr { return nil }
