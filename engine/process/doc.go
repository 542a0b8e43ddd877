// Package process runs a function in a new process, like Python's
// multiprocessing.Process.
//
// Go cannot send a function to another process, so a function is
// registered by name at package initialization — every process of the
// program registers the same ones — and Register returns a typed handle
// through which the program starts it:
//
//	var greet = process.Register("greet", func(ctx context.Context, who string) error {
//		fmt.Println("hello,", who, "from", engine.ProcessName())
//		return nil
//	})
//
//	func main() {
//		engine.Main() // first: in the new process this runs greet and exits
//		p, err := greet.Start(ctx, "world", process.Name("greeter"))
//		...
//		err = p.Wait()
//	}
//
// The new process is the program run again (/proc/self/exe); engine.Main,
// the first call in main, finds that it was started to run a function,
// runs it and exits. ps, top and pgrep show it as "PROGRAM: NAME" (its
// argv[0], and its kernel name in 15 bytes), NAME being the Name option or
// the function's name numbered. Start returns once the function runs there (its
// arguments decoded), and the *Process it returns waits for it (Wait: the
// function's error, or its panic and stack, or the exit status and signal
// of a process that died), kills it (Kill) or asks it to stop (Terminate,
// which cancels the function's context). Arguments cross with encoding/gob,
// so a queue, pipe end, array or value passed in them is the same shared
// object in both processes.
//
// # Lifetime
//
// A process dies with the one that started it, even when that one is
// killed with SIGKILL (PDEATHSIG from a thread that never exits, and a
// lifeline pipe whose EOF the child watches), as if Python's daemon flag
// were always set: a program that wants a process's result waits for it.
// The context passed to Start bounds the process's life, as with
// exec.CommandContext. A program that forgets engine.Main would have the
// new process run main again and start processes in turn; instead Start,
// reached there, ends that process at once, and the parent's Start returns
// engine.ErrNoMain.
//
// In the new process the default log/slog logger writes text records to
// stderr with the process's name and pid, and engine.ProcessName returns
// the name.
//
// # Concurrency
//
// Register runs at initialization. A *Func and a *Process are safe for
// concurrent use.
//
// # Imports
//
// process imports engine (its sentinels and PanicError, the names users
// test errors against) and engine's internal packages: reexec for the
// re-exec role and the spawning thread, codec for the arguments, registry
// and remote. engine does not import it: the role is registered from this
// package's init.
package process
