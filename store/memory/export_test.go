package memory

// familyNames names the record families in the order shard.families
// returns them.
var familyNames = []string{"codes", "sessions", "pair-failures", "pair-locks", "customer-failures", "customer-locks", "cooldowns", "hits", "buckets"}

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
