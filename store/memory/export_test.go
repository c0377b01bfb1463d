package memory

import (
	"unsafe"

	"github.com/otpguard/otpguard/store"
)

// familyNames names the record families in the order shard.families
// returns them.
var familyNames = []string{
	"sessions", "sessions", "integration-sessions",
	"codes", "pair-failures", "pair-locks", "customer-failures", "customer-locks", "subject-pairs",
	"cooldowns", "hits", "buckets",
}

// Items returns every record of every internal go-cache, whatever its
// expiry, keyed by family and key (for example "pair-locks/" + subject +
// "\x00" + integration), for tests that inspect what the store holds. A
// session is listed under the key it was created with, and each customer
// with records in its chain as "customer-sessions/" + its ID, with the
// records.
func (s *Store) Items() map[string]any {
	all := make(map[string]any)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j, c := range sh.families() {
			for k, item := range (*c).Items() {
				if r, ok := item.Object.(*sessionRecord); ok {
					k = r.hexKey()
				}
				all[familyNames[j]+"/"+k] = item.Object
			}
		}
		for _, head := range sh.cust {
			for r := head; r != nil; r = r.nextCust {
				k := "customer-sessions/" + r.customerID()
				recs, _ := all[k].([]*sessionRecord)
				all[k] = append(recs, r)
			}
		}
		sh.mu.Unlock()
	}
	return all
}

// Sweep runs the janitor's work once, now.
func (s *Store) Sweep() { s.sweep() }

// IndexLen returns the number of records, live or not, in the chain of the
// customer (store.ScopeCustomer) or integration id that are id's; -1 when
// there are none.
func (s *Store) IndexLen(scope store.LockScope, id string) int {
	n := 0
	err := s.chain(scope, id, func(head *sessionRecord, _ func(int64)) {
		for r := head; r != nil; r = next(scope, r) {
			if r.belongs(scope, id) {
				n++
			}
		}
	})
	if err != nil {
		panic(err)
	}
	if n == 0 {
		return -1
	}
	return n
}

// RecordSize is the size of a session record, which the memory benchmarks
// count on.
const RecordSize = unsafe.Sizeof(sessionRecord{})
