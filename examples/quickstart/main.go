// Command quickstart is the README's first program: a shared array, a team of
// worker processes that scales it in parallel, and a deterministic sum.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
)

// ScaleArgs are the kernels' arguments.
type ScaleArgs struct {
	X *array.Array[float64] // crosses to the workers as its name: no copy
	S float64
}

// Kernels are registered by name at initialization, so that every process
// of the program has them; the program runs them through the handles.
var (
	scale = engine.Register("scale", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
		x := a.X.Data()
		for i := lo; i < hi; i++ {
			x[i] *= a.S
		}
		return nil
	}, engine.Idempotent()) // safe to run again if a worker dies mid-chunk
	sum = engine.RegisterReduce("sum", func(c *engine.Ctx, a ScaleArgs, lo, hi int) (float64, error) {
		s := 0.0
		for _, v := range a.X.Data()[lo:hi] {
			s += v
		}
		return s, nil
	})
)

func main() {
	engine.Main() // first: in a worker process this serves jobs and never returns

	const n = 1 << 20
	x, err := array.CreateAnon[float64](n) // a memfd: nothing to clean up in /dev/shm
	if err != nil {
		log.Fatal(err)
	}
	defer x.Close()
	for i := range x.Data() {
		x.Data()[i] = float64(i % 100)
	}

	team, err := engine.Start() // one worker process per usable CPU
	if err != nil {
		log.Fatal(err)
	}
	defer team.Close()

	ctx := context.Background()
	if err := scale.For(ctx, team, n, ScaleArgs{X: x, S: 0.5}); err != nil { // like OpenMP's parallel for
		log.Fatal(err)
	}
	s, err := sum.Reduce(ctx, team, n, ScaleArgs{X: x}, engine.Sum[float64](),
		engine.Deterministic(0)) // bitwise the same at any team size
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d workers, sum = %.1f\n", team.Workers(), s)
}
