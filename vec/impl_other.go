//go:build !amd64 || purego

package vec

// Without assembly (another architecture, or the purego build tag) every
// operation runs the pure-Go kernels of generic.go.

const implName = "go"

// impls lists the implementations this machine can run.
func impls() []string { return []string{"go"} }

// useImpl is the tests' switch; there is nothing to switch here.
func useImpl(string) {}
