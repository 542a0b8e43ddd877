package vec

// Impls lists the implementations this machine can run, best first.
var Impls = impls

// UseImpl switches every operation to the named implementation ("avx512",
// "avx2" or "go") and returns a function that switches back.
func UseImpl(name string) (restore func()) {
	old := implName
	useImpl(name)
	return func() { useImpl(old) }
}
