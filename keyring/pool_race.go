//go:build race

package keyring

import "sync"

// statePool recycles a key's HMAC states. Under the race detector
// sync.Pool drops a quarter of what it is given, on purpose, so that a
// state would be allocated afresh at random; this build keeps the states in
// a plain free list instead, so that the allocations of a call, which
// tests pin (the guard's paths, the keyring's own), do not depend on
// chance. The other builds use sync.Pool (pool.go).
type statePool struct {
	New  func() any
	mu   sync.Mutex
	free []any
}

// Get returns a recycled state, or a new one.
func (p *statePool) Get() any {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		x := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return x
	}
	p.mu.Unlock()
	return p.New()
}

// Put recycles x.
func (p *statePool) Put(x any) {
	p.mu.Lock()
	p.free = append(p.free, x)
	p.mu.Unlock()
}
