package memory

import "github.com/otpguard/otpguard/store"

// familyNames names the record families in the order shard.families
// returns them.
var familyNames = []string{
	"codes", "sessions", "customer-sessions", "integration-sessions",
	"pair-failures", "pair-locks", "customer-failures", "customer-locks", "subject-pairs",
	"cooldowns", "hits", "buckets",
}

// Items returns every record of every internal go-cache, whatever its
// expiry, keyed by family and key (for example "pair-locks/" + subject +
// "\x00" + integration), for tests that inspect what the store holds.
func (s *Store) Items() map[string]any {
	all := make(map[string]any)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j, c := range sh.families() {
			for k, item := range (*c).Items() {
				all[familyNames[j]+"/"+k] = item.Object
			}
		}
		sh.mu.Unlock()
	}
	return all
}

// Sweep runs the janitor's work once, now.
func (s *Store) Sweep() { s.sweep() }

// IndexLen returns the number of entries, live or not, in the session index
// of the customer (store.ScopeCustomer) or integration id; -1 when there is
// no index.
func (s *Store) IndexLen(scope store.LockScope, id string) int {
	family, err := indexFamily(scope)
	if err != nil {
		panic(err)
	}
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := family(sh).Get(id)
	if !ok {
		return -1
	}
	return len(v.(*sessionIndex).hashes)
}
