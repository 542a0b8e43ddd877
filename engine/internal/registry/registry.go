// Package registry holds the functions a program registers by name during
// its initialization: the kernels of package engine, the pool's functions
// and the functions processes run. Go cannot send a function to another
// process, so every process of the program registers the same ones and a
// message names one; the name is the only part of a registration that
// crosses.
//
// A Registry is safe for concurrent use. Lookups take no lock (the map is
// copied on every Add), so the hot path of a worker costs one atomic load
// and a map access. It imports only the standard library.
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
