package array_test

import (
	"fmt"
	"os"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/shm"
)

func Example() {
	dir, _ := os.MkdirTemp("", "shmpar-example")
	defer os.RemoveAll(dir)

	// One process creates the array...
	a, err := array.Create[float64]("signal", 4, shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	copy(a.Data(), []float64{1, 2, 3, 4})

	// ...and any other process (here the same one) opens it by name and sees
	// the same memory.
	b, err := array.Open[float64]("signal", shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Data()[0] = 10
	fmt.Println(a.Data(), b.Shape())

	// Opening with the wrong element type is an error, not garbage.
	_, err = array.Open[int32]("signal", shm.Dir(dir))
	fmt.Println(err != nil)
	// Output:
	// [10 2 3 4] [4]
	// true
}

func ExampleCreateShape() {
	dir, _ := os.MkdirTemp("", "shmpar-example")
	defer os.RemoveAll(dir)

	grid, err := array.CreateShape[float32]("grid", []int{2, 3}, shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer grid.Close()
	rows, cols := grid.Shape()[0], grid.Shape()[1]
	for i := range rows {
		for j := range cols {
			grid.Data()[i*cols+j] = float32(10*i + j)
		}
	}
	fmt.Println(grid.Len(), grid.Data())
	// Output: 6 [0 1 2 10 11 12]
}
