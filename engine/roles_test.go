package engine_test

import (
	"fmt"

	"github.com/shmpar/shmpar/engine"
)

// roles are the child processes the tests start (the test binary run again
// with SHMPAR_TEST_CHILD set).
var roles = map[string]func() int{}

// runNoMain is a program that forgot engine.Main: it starts a team. In the
// coordinator Start must fail with ErrNoMain; in the re-executed workers
// (which run this again) Start must end the process at once.
func runNoMain() int {
	_, err := engine.Start(engine.Config{Workers: 2})
	fmt.Printf("start error: %v\n", err)
	return 0
}
