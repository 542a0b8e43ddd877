//go:build !race

package lock

// raceEnabled reports whether the test binary was built with -race, which
// makes every atomic operation several times slower.
const raceEnabled = false
