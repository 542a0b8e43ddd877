package process_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/queue"
)

// GreetArgs are the arguments of the example process function: the queue
// crosses to the new process as a reference to its shared memory.
type GreetArgs struct {
	Who string
	Out *queue.Typed[string]
}

// The example functions, registered at package initialization so that the
// new processes (this program run again) have them too.
var (
	greet = process.Register("example-greet", func(ctx context.Context, a GreetArgs) error {
		return a.Out.Put(ctx, "hello, "+a.Who+", from "+engine.ProcessName())
	})
	grumble = process.Register("example-fail", func(ctx context.Context, a GreetArgs) error {
		return fmt.Errorf("no greeting for %s", a.Who)
	})
)

// A function runs in a new process and sends its result back through a
// queue, like Python's Process(target=f, args=(q,)).start(); p.join().
// (A program calls engine.Main() first in main; this test binary does in
// TestMain.)
func ExampleFunc_Start() {
	ctx := context.Background()
	q, err := queue.CreateAnon(4096)
	if err != nil {
		panic(err)
	}
	defer q.Close()
	out := queue.NewTyped[string](q, nil)

	p, err := greet.Start(ctx, GreetArgs{Who: "world", Out: out}, process.Name("greeter"))
	if err != nil {
		panic(err)
	}
	fmt.Println("wait:", p.Wait())
	msg, err := out.Get(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg)
	// Output:
	// wait: <nil>
	// hello, world, from greeter
}

// The error a process's function returns crosses back to Wait inside an
// *Error, with the exit status.
func ExampleProcess_Wait() {
	p, err := grumble.Start(context.Background(), GreetArgs{Who: "nobody"}, process.Name("grumpy"))
	if err != nil {
		panic(err)
	}
	err = p.Wait()
	var pe *process.Error
	if errors.As(err, &pe) {
		fmt.Println("process:", pe.Name)
		fmt.Println("error:", pe.Err)
		fmt.Println("exit code:", pe.ExitCode)
	}
	// Output:
	// process: grumpy
	// error: no greeting for nobody
	// exit code: 1
}
