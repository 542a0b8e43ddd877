package reexec

import (
	"os"
)

// nameProcess gives this process's threads the kernel name name (cut to
// 15 bytes). A thread may rename any thread of its process through
// /proc/self/task/TID/comm (the prctl PR_SET_NAME the kernel offers names
// only the calling thread, and the Go code here may not run on the main
// thread, whose name ps shows). Errors are ignored: a name is a courtesy.
func nameProcess(name string) {
	comm := []byte(commOf(name))
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		_ = os.WriteFile("/proc/self/task/"+t.Name()+"/comm", comm, 0)
	}
}
