package registry

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// MaxName is the longest name Add accepts, in bytes.
const MaxName = 200

// Registry maps names to registered values of type T.
type Registry[T any] struct {
	what string // "engine: kernel", for panic messages
	mu   sync.Mutex
	m    atomic.Pointer[map[string]T]
}

// New returns an empty registry; what names its entries in panic messages
// ("engine: kernel", "pool: function").
func New[T any](what string) *Registry[T] { return &Registry[T]{what: what} }

// Add registers v under name. It panics — registration is a programmer's
// act at init time — if name is empty, longer than MaxName or already
// registered.
func (r *Registry[T]) Add(name string, v T) {
	if name == "" || len(name) > MaxName {
		panic(fmt.Sprintf("%s name %q: must be 1 to %d bytes", r.what, name, MaxName))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	m := make(map[string]T)
	if old != nil {
		if _, dup := (*old)[name]; dup {
			panic(fmt.Sprintf("%s %q registered twice", r.what, name))
		}
		for k, x := range *old {
			m[k] = x
		}
	}
	m[name] = v
	r.m.Store(&m)
}

// Lookup returns the value registered under name.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	m := r.m.Load()
	if m == nil {
		var zero T
		return zero, false
	}
	v, ok := (*m)[name]
	return v, ok
}
