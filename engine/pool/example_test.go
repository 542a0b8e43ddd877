package pool_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/pool"
)

// Rect is the input of the starmap-style example: several arguments in one
// struct (a flat struct of numbers is copied byte for byte between
// processes; any gob-encodable struct works).
type Rect struct {
	W, H float64
}

// Greeting is an input with strings: it crosses as gob.
type Greeting struct {
	Name  string
	Times int
}

// Functions are registered by name at package initialization, so that the
// worker processes (this program run again) have them too; the program
// calls them through the handles.
var (
	square = pool.Register("example-square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	}, pool.Idempotent())
	area = pool.Register("example-area", func(ctx context.Context, r Rect) (float64, error) {
		return r.W * r.H, nil
	})
	greet = pool.Register("example-greet", func(ctx context.Context, g Greeting) (string, error) {
		if g.Times < 0 {
			return "", errors.New("negative count")
		}
		return strings.Repeat("hello "+g.Name+"! ", g.Times), nil
	})
)

// Map runs a function on every input in parallel and returns the results
// in input order, like Python's Pool(2).map. (A program calls engine.Main()
// first in main; this test binary does in TestMain.)
func ExampleFunc_Map() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2)) // a team of 2 worker processes
	if err != nil {
		panic(err)
	}
	defer p.Close()

	squares, err := square.Map(ctx, p, []int{1, 2, 3, 4, 5})
	fmt.Println(squares, err)

	// A failed task does not stop the others.
	out, err := greet.Map(ctx, p, []Greeting{{"Ada", 1}, {"Bob", -1}})
	fmt.Printf("%q\n", out)
	var te *pool.TaskError
	if errors.As(err, &te) {
		fmt.Println("task", te.Index, "failed:", te.Err)
	}
	// Output:
	// [1 4 9 16 25] <nil>
	// ["hello Ada! " ""]
	// task 1 failed: negative count
}

// Several arguments travel in one struct (Python's Pool.starmap). A pool
// may share a team with For and Reduce (On).
func ExampleFunc_Map_starmap() {
	ctx := context.Background()
	team, err := engine.Start(engine.Workers(2))
	if err != nil {
		panic(err)
	}
	defer team.Close()
	p, err := pool.On(team)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	areas, err := area.Map(ctx, p, []Rect{{2, 3}, {4, 5}, {0.5, 8}})
	fmt.Println(areas, err)
	// Output:
	// [6 20 4] <nil>
}

// naturals yields 1, 2, 3, ... forever.
func naturals() iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 1; yield(i); i++ {
		}
	}
}

// Imap streams: it reads the inputs as the workers have room and yields the
// results in order, so an endless input is fine; breaking out of the loop
// stops the call (Python's Pool.imap).
func ExampleFunc_Imap() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	sum := 0
	for sq, err := range square.Imap(ctx, p, naturals()) {
		if err != nil {
			panic(err)
		}
		if sum += sq; sum > 1000 {
			break
		}
		fmt.Print(sq, " ")
	}
	fmt.Println()
	// Output:
	// 1 4 9 16 25 36 49 64 81 100 121 144 169
}

// ImapUnordered yields results as they complete, each with the index of its
// input (Python's Pool.imap_unordered).
func ExampleFunc_ImapUnordered() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	squares := make([]int, 6)
	for r, err := range square.ImapUnordered(ctx, p, slices.Values([]int{0, 1, 2, 3, 4, 5})) {
		if err != nil {
			panic(err)
		}
		squares[r.Index] = r.Value
	}
	fmt.Println(squares)
	// Output:
	// [0 1 4 9 16 25]
}

// Submit starts one task and returns a Future at once (Python's
// Pool.apply_async, concurrent.futures' submit); AsCompleted yields futures
// as they finish (concurrent.futures.as_completed).
func ExampleFunc_Submit() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	f := square.Submit(ctx, p, 12)
	v, err := f.Wait(ctx)
	fmt.Println(v, err)

	var futures []*pool.Future[int]
	for x := range 4 {
		futures = append(futures, square.Submit(ctx, p, x))
	}
	total := 0
	for f, err := range pool.AsCompleted(ctx, futures...) {
		if err != nil {
			panic(err)
		}
		v, _ := f.Result()
		total += v
	}
	fmt.Println(total)
	// Output:
	// 144 <nil>
	// 14
}

// Apply runs one task and waits for it (Python's Pool.apply).
func ExampleFunc_Apply() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(1))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	v, err := square.Apply(ctx, p, 7)
	fmt.Println(v, err)
	// Output:
	// 49 <nil>
}

// The worker processes' globals, set by the initializer below. (The
// coordinator's are its own: a worker re-runs the program, it does not
// inherit the coordinator's memory.)
var greeting string

var (
	// setGreeting runs once in each worker process, before its first task.
	setGreeting = pool.RegisterInit("example-set-greeting", func(ctx context.Context, g string) error {
		greeting = g
		return nil
	})
	hello = pool.Register("example-hello", func(ctx context.Context, name string) (string, error) {
		return greeting + ", " + name, nil
	})
)

// An initializer runs once in each worker process, like Python's
// Pool(initializer=f, initargs=(…,)): the place to attach a shared array or
// open a file once instead of in every task.
func ExampleInitializer() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2), pool.Initializer(setGreeting, "Hello"))
	if err != nil {
		panic(err) // an initializer that fails in a worker fails New
	}
	defer p.Close()
	out, err := hello.Map(ctx, p, []string{"Ada", "Bob"})
	fmt.Println(out, err)
	fmt.Printf("in the coordinator: %q\n", greeting)
	// Output:
	// [Hello, Ada Hello, Bob] <nil>
	// in the coordinator: ""
}

// Progress reports how far a long Map has come (joblib's verbose=, tqdm);
// ProgressBar draws it on a terminal. The callback gets (0, n) first, then
// at most every ProgressInterval, and (n, n) when every task ran.
func ExampleProgress() {
	ctx := context.Background()
	p, err := pool.New(pool.Workers(2))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	var last [2]int
	report := func(done, total int) { last = [2]int{done, total} }
	_, err = square.Map(ctx, p, []int{1, 2, 3, 4, 5}, pool.Progress(report))
	fmt.Println(last, err)

	// On a terminal: square.Map(ctx, p, xs, pool.Progress(pool.ProgressBar(os.Stderr)))
	// Output:
	// [5 5] <nil>
}
