//go:build linux

package reexec

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Children are started from one goroutine locked to its OS thread for the
// life of the program: PDEATHSIG fires when the thread that forked the
// child exits, not the process (golang/go#27505), and the Go runtime may
// retire threads. This thread never exits, so SIGKILL reaches the children
// only when this process dies.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// Start starts cmd, which SysProcAttr has prepared, from the spawning
// thread.
func Start(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go spawnLoop(spawner.reqs)
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawner.reqs <- r
	return <-r.err
}

func spawnLoop(reqs chan spawnReq) {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for r := range reqs {
		r.err <- r.cmd.Start()
	}
}

// SysProcAttr makes a child die by SIGKILL when this process does.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
