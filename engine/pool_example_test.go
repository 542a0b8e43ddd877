package engine_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/shmpar/shmpar/engine"
)

// Rect is the input of the StarMap-style example: several arguments in one
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

func init() {
	// Functions are registered by name at init, so that the worker
	// processes (this program run again) have them too.
	engine.RegisterFunc("example-square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	}, engine.Idempotent())
	engine.RegisterFunc("example-area", func(ctx context.Context, r Rect) (float64, error) {
		return r.W * r.H, nil
	})
	engine.RegisterFunc("example-greet", func(ctx context.Context, g Greeting) (string, error) {
		if g.Times < 0 {
			return "", errors.New("negative count")
		}
		return strings.Repeat("hello "+g.Name+"! ", g.Times), nil
	})
}

// Map runs a function on every input in parallel and returns the results
// in input order, like Python's Pool.map.
func ExampleMap() {
	ctx := context.Background()
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer team.Close()
	pool, err := engine.NewPool(team)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	squares, err := engine.Map[int, int](ctx, pool, "example-square", []int{1, 2, 3, 4, 5})
	fmt.Println(squares, err)

	// A failed task does not stop the others.
	out, err := engine.Map[Greeting, string](ctx, pool, "example-greet", []Greeting{{"Ada", 1}, {"Bob", -1}})
	fmt.Printf("%q\n", out)
	var te *engine.TaskError
	if errors.As(err, &te) {
		fmt.Println("task", te.Index, "failed:", te.Err)
	}
	// Output:
	// [1 4 9 16 25] <nil>
	// ["hello Ada! " ""]
	// task 1 failed: negative count
}

// Several arguments travel in one struct (Python's Pool.starmap).
func ExampleMap_starMap() {
	ctx := context.Background()
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer team.Close()
	pool, err := engine.NewPool(team)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	areas, err := engine.Map[Rect, float64](ctx, pool, "example-area", []Rect{{2, 3}, {4, 5}, {0.5, 8}})
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
func ExampleImap() {
	ctx := context.Background()
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer team.Close()
	pool, err := engine.NewPool(team)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	sum := 0
	for sq, err := range engine.Imap[int, int](ctx, pool, "example-square", naturals()) {
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
func ExampleImapUnordered() {
	ctx := context.Background()
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer team.Close()
	pool, err := engine.NewPool(team)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	squares := make([]int, 6)
	for r, err := range engine.ImapUnordered[int, int](ctx, pool, "example-square", slices.Values([]int{0, 1, 2, 3, 4, 5})) {
		if err != nil {
			panic(err)
		}
		squares[r.Index] = r.Value
	}
	fmt.Println(squares)
	// Output:
	// [0 1 4 9 16 25]
}

// ApplyAsync starts one task and returns a Future at once (Python's
// Pool.apply_async); AsCompleted yields futures as they finish
// (concurrent.futures.as_completed).
func ExampleApplyAsync() {
	ctx := context.Background()
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer team.Close()
	pool, err := engine.NewPool(team)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	f := engine.ApplyAsync[int, int](ctx, pool, "example-square", 12)
	v, err := f.Wait(ctx)
	fmt.Println(v, err)

	var futures []*engine.Future[int]
	for x := range 4 {
		futures = append(futures, engine.ApplyAsync[int, int](ctx, pool, "example-square", x))
	}
	total := 0
	for f, err := range engine.AsCompleted(ctx, futures...) {
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
