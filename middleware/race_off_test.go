//go:build !race

package middleware_test

// raceEnabled reports whether the race detector is on: it makes sync.Pool
// drop objects at random, so allocation counts do not hold under it.
const raceEnabled = false
