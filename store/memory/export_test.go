package memory

import (
	"unsafe"

	"github.com/otpguard/otpguard/store"
)

// familyNames names the record families in the order shard.families
// returns them.
var familyNames = []string{
	"sessions", "sessions", "integration-sessions", "subjects",
	"cooldowns", "hits", "buckets",
}

// Items returns every record of every internal go-cache, whatever its
// expiry, keyed by family and key (for example "cooldowns/" + key), for
// tests that inspect what the store holds. A session is listed under the
// key it was created with, and each customer with records in its chain as
// "customer-sessions/" + its ID, with the records. A subject's record is
// listed as "subjects/" + subject, and each of its parts that is set
// (whatever its expiry; not zeroed) as a record of its own, by value:
// "customer-failures/" and "customer-locks/" + subject, and "codes/",
// "pair-failures/" and "pair-locks/" + subject + "\x00" + integration.
func (s *Store) Items() map[string]any {
	all := make(map[string]any)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j, c := range sh.families() {
			for k, item := range (*c).Items() {
				switch r := item.Object.(type) {
				case *sessionRecord:
					k = r.hexKey()
				case *subjectRecord:
					r.parts(k, all)
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

// parts adds the parts of r, the record of subject, that are set to all
// (see Items).
func (r *subjectRecord) parts(subject string, all map[string]any) {
	if r.failures != (counter{}) {
		all["customer-failures/"+subject] = r.failures
	}
	if r.lock != (deadline{}) {
		all["customer-locks/"+subject] = r.lock
	}
	for pr := &r.pairs; pr != nil; pr = pr.next {
		k := subject + "\x00" + pr.integration
		if pr.code.deadline != (deadline{}) {
			all["codes/"+k] = pr.code.get(pr.integration)
		}
		if pr.failures != (counter{}) {
			all["pair-failures/"+k] = pr.failures
		}
		if pr.lock != (deadline{}) {
			all["pair-locks/"+k] = pr.lock
		}
	}
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

// Kind is the kind of record a session is stored in (RecordKind).
type Kind string

// The kinds of record: a compact sessionRecord; an extendedRecord that
// holds the session as given (the compact fields could not); one that
// holds only the key (not a digest's hex), the session in the compact
// fields; one that holds both. KindNone: no record under the key.
const (
	KindNone         Kind = ""
	KindCompact      Kind = "compact"
	KindFull         Kind = "full session"
	KindOtherKey     Kind = "other key"
	KindOtherKeyFull Kind = "other key, full session"
)

// RecordKind returns the kind of record stored under the session key key,
// whatever its deadline.
func (s *Store) RecordKind(key string) Kind {
	_, _, r := s.find(key)
	if r == nil {
		return KindNone
	}
	x := r.ext()
	if x == nil {
		return KindCompact
	}
	switch otherKey, full := r.flags&flagOtherKey != 0, x.session != nil; {
	case otherKey && full:
		return KindOtherKeyFull
	case otherKey:
		return KindOtherKey
	case full:
		return KindFull
	}
	panic("memory: an extended record that holds neither key nor session: " + r.String())
}

// RecordSize is the size of a session record, and SubjectRecordSize that
// of a subject's, which the memory benchmarks count on.
const (
	RecordSize        = unsafe.Sizeof(sessionRecord{})
	SubjectRecordSize = unsafe.Sizeof(subjectRecord{})
)
