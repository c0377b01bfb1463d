package memory

// Items returns every record of every internal go-cache, whatever its
// expiry, keyed by family and key, for tests that inspect what the store
// holds.
func (s *Store) Items() map[string]any {
	names := []string{"codes", "sessions", "failures", "locks", "cooldowns", "hits", "buckets"}
	all := make(map[string]any)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j, c := range sh.families() {
			for k, item := range c.Items() {
				all[names[j]+"/"+k] = item.Object
			}
		}
		sh.mu.Unlock()
	}
	return all
}

// Sweep runs the janitor's work once, now.
func (s *Store) Sweep() { s.sweep() }
