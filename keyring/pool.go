//go:build !race

package keyring

import "sync"

// statePool recycles a key's HMAC states.
type statePool = sync.Pool
