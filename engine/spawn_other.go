//go:build !linux

package engine

import (
	"errors"
	"os/exec"
	"syscall"
)

func startCmd(cmd *exec.Cmd) error { return errors.ErrUnsupported }

func sysProcAttr() *syscall.SysProcAttr { return nil }
