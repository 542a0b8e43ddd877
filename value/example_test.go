package value_test

import (
	"fmt"
	"os"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

func Example() {
	dir, _ := os.MkdirTemp("", "shmpar-example")
	defer os.RemoveAll(dir)

	hits, err := value.Create[int64]("hits", shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hits.Close()

	// Any process that opens "hits" shares the counter.
	other, err := value.Open[int64]("hits", shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	hits.Add(2)
	other.Add(3)
	fmt.Println(hits.Load(), other.CompareAndSwap(5, 100), hits.Load())
	// Output: 5 true 100
}

func ExampleValue_Mutex() {
	dir, _ := os.MkdirTemp("", "shmpar-example")
	defer os.RemoveAll(dir)

	balance, err := value.Create[float64]("balance", shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer balance.Close()
	balance.Store(100)

	// A compound update (check, then change) takes the Value's lock.
	mu := balance.Mutex()
	if err := mu.Lock(); err != nil {
		fmt.Println(err)
		return
	}
	if b := balance.Load(); b >= 30 {
		balance.Store(b - 30)
	}
	mu.Unlock()
	fmt.Println(balance.Load())
	// Output: 70
}
