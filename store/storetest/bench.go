package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpguard/otpguard/store"
	"golang.org/x/time/rate"
)

// benchKeys is how many distinct pairs, keys and token hashes a benchmark
// cycles through.
const benchKeys = 1024

// benchIntegrations is how many integrations the benchmark pairs spread
// over; each subject is seen by one of them.
const benchIntegrations = 4

// benchSet holds precomputed keys so the measured loops do not format
// strings.
type benchSet struct {
	pairs  []store.Pair
	keys   []string
	hashes []string
}

// newBenchSet returns benchKeys pairs, keys and token hashes.
func newBenchSet() benchSet {
	ks := benchSet{pairs: make([]store.Pair, benchKeys), keys: make([]string, benchKeys), hashes: make([]string, benchKeys)}
	for i := range benchKeys {
		subject := fmt.Sprintf("phone:+55119%08d", i)
		ks.pairs[i] = store.Pair{Integration: fmt.Sprintf("bench-integration-%d", i%benchIntegrations), Subject: subject}
		ks.keys[i] = "sends:" + subject
		ks.hashes[i] = store.HashToken(fmt.Sprintf("bench-token-%d", i))
	}
	return ks
}

// benchBudgets are Budgets no benchmark reaches, with windows that outlast
// it.
var benchBudgets = store.Budgets{
	MaxAttempts: 1 << 30,
	Pair:        store.Budget{Limit: 1 << 30, Window: time.Hour, LockFor: time.Hour},
	Customer:    store.Budget{Limit: 1 << 30, Window: time.Hour, LockFor: time.Hour},
}

// Bench runs the store benchmarks against the stores h makes, one
// sub-benchmark per operation, each reporting allocations. The names are
// stable so results can be compared with benchstat: GetSession,
// GetSessionScopes, GetSessionParallel, GetSessionMiss, CreateSession,
// UseSession, PutCode, AttemptCode, ConsumeCode, Fail, Locked, Cooldown,
// Hit, Peek, Take and TakeParallel. Bench never calls h.Advance: every TTL is long.
func Bench(b *testing.B, h Harness) {
	b.Helper()
	if h.New == nil {
		b.Fatal("storetest: Harness.New is required")
	}
	ctx := context.Background()
	ks := newBenchSet()

	// sessions returns a store holding one session per key; the sessions
	// carry the given scopes.
	sessions := func(b *testing.B, scopes []string) store.Store {
		b.Helper()
		s := h.New(b)
		for _, hash := range ks.hashes {
			sess := newSession("cust")
			sess.Scopes = scopes
			if err := s.CreateSession(ctx, hash, sess, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		return s
	}
	getSession := func(b *testing.B, s store.Store) {
		measure(b, func(i int) error {
			_, found, err := s.GetSession(ctx, ks.hashes[i%benchKeys])
			if err != nil || !found {
				return fmt.Errorf("storetest: GetSession: got found=%v err=%v, want found", found, err)
			}
			return nil
		})
	}
	// putCodes stores code "c" for each pair.
	putCodes := func(b *testing.B, s store.Store, pairs []store.Pair) {
		b.Helper()
		for _, p := range pairs {
			if err := s.PutCode(ctx, p, newCode("c"), time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	}
	// failOnce stores code "c" for each pair and counts one attempt on it,
	// which is a failure for Fail to find.
	failOnce := func(b *testing.B, s store.Store, pairs []store.Pair) {
		b.Helper()
		putCodes(b, s, pairs)
		for _, p := range pairs {
			if _, err := s.AttemptCode(ctx, p, benchBudgets); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("GetSession", func(b *testing.B) {
		// The common session: no scope restriction.
		getSession(b, sessions(b, nil))
	})
	b.Run("GetSessionScopes", func(b *testing.B) {
		getSession(b, sessions(b, []string{"rewards:redeem", "points:transfer"}))
	})
	b.Run("GetSessionParallel", func(b *testing.B) {
		s := sessions(b, nil)
		measureParallel(b, func(i uint64) error {
			_, found, err := s.GetSession(ctx, ks.hashes[i%benchKeys])
			if err != nil || !found {
				return fmt.Errorf("storetest: GetSession: got found=%v err=%v, want found", found, err)
			}
			return nil
		})
	})
	b.Run("GetSessionMiss", func(b *testing.B) {
		s := h.New(b)
		measure(b, func(i int) error {
			if _, found, err := s.GetSession(ctx, ks.hashes[i%benchKeys]); err != nil || found {
				return fmt.Errorf("storetest: GetSession: got found=%v err=%v, want a miss", found, err)
			}
			return nil
		})
	})
	b.Run("CreateSession", func(b *testing.B) {
		s := h.New(b)
		sess := newSession("cust")
		measure(b, func(i int) error {
			return s.CreateSession(ctx, ks.hashes[i%benchKeys], sess, time.Hour)
		})
	})
	b.Run("UseSession", func(b *testing.B) {
		// After the first lap every session is marked: every call finds
		// the session and its mark.
		s := sessions(b, nil)
		measure(b, func(i int) error {
			_, err := s.UseSession(ctx, ks.hashes[i%benchKeys], "redeem")
			return err
		})
	})
	b.Run("PutCode", func(b *testing.B) {
		s := h.New(b)
		c := newCode("c")
		measure(b, func(i int) error {
			return s.PutCode(ctx, ks.pairs[i%benchKeys], c, time.Hour)
		})
	})
	b.Run("AttemptCode", func(b *testing.B) {
		s := h.New(b)
		putCodes(b, s, ks.pairs)
		measure(b, func(i int) error {
			// Budgets no run reaches: every call counts on the code and
			// charges both budgets.
			a, err := s.AttemptCode(ctx, ks.pairs[i%benchKeys], benchBudgets)
			if err != nil || !a.Found {
				return fmt.Errorf("storetest: AttemptCode: got found=%v err=%v, want found", a.Found, err)
			}
			return nil
		})
	})
	b.Run("ConsumeCode", func(b *testing.B) {
		// One PutCode and one ConsumeCode per iteration.
		s := h.New(b)
		c := newCode("c")
		measure(b, func(i int) error {
			p := ks.pairs[i%benchKeys]
			if err := s.PutCode(ctx, p, c, time.Hour); err != nil {
				return err
			}
			if deleted, err := s.ConsumeCode(ctx, p, "c"); err != nil || !deleted {
				return fmt.Errorf("storetest: ConsumeCode: got deleted=%v err=%v, want deleted", deleted, err)
			}
			return nil
		})
	})
	b.Run("Fail", func(b *testing.B) {
		// Every pair has one failure counted, below the limits: every
		// call checks the locks and the counts and changes nothing.
		s := h.New(b)
		failOnce(b, s, ks.pairs)
		measure(b, func(i int) error {
			if lock, err := s.Fail(ctx, ks.pairs[i%benchKeys], benchBudgets); err != nil || lock.Locked() {
				return fmt.Errorf("storetest: Fail: got lock=%+v err=%v, want no lock", lock, err)
			}
			return nil
		})
	})
	b.Run("Locked", func(b *testing.B) {
		s := h.New(b)
		// Half the pairs locked: one counted failure each, at a pair
		// limit of one.
		failOnce(b, s, ks.pairs[:benchKeys/2])
		lockOne := benchBudgets
		lockOne.Pair.Limit = 1
		for _, p := range ks.pairs[:benchKeys/2] {
			if lock, err := s.Fail(ctx, p, lockOne); err != nil || !lock.Locked() {
				b.Fatalf("Fail: got lock=%+v err=%v, want a lock", lock, err)
			}
		}
		measure(b, func(i int) error {
			_, err := s.Locked(ctx, ks.pairs[i%benchKeys])
			return err
		})
	})
	b.Run("Cooldown", func(b *testing.B) {
		// After the first lap every call finds a running cooldown.
		s := h.New(b)
		measure(b, func(i int) error {
			_, _, err := s.Cooldown(ctx, ks.keys[i%benchKeys], time.Hour)
			return err
		})
	})
	b.Run("Hit", func(b *testing.B) {
		s := h.New(b)
		measure(b, func(i int) error {
			_, err := s.Hit(ctx, ks.keys[i%benchKeys], 1<<30, time.Hour)
			return err
		})
	})
	b.Run("Peek", func(b *testing.B) {
		// Every key has a running window.
		s := h.New(b)
		for _, k := range ks.keys {
			if _, err := s.Hit(ctx, k, 1<<30, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, func(i int) error {
			_, err := s.Peek(ctx, ks.keys[i%benchKeys], 1<<30)
			return err
		})
	})
	b.Run("Take", func(b *testing.B) {
		s := h.New(b)
		measure(b, func(i int) error {
			_, _, err := s.Take(ctx, ks.keys[i%benchKeys], rate.Limit(1e6), 1<<20)
			return err
		})
	})
	b.Run("TakeParallel", func(b *testing.B) {
		s := h.New(b)
		measureParallel(b, func(i uint64) error {
			_, _, err := s.Take(ctx, ks.keys[i%benchKeys], rate.Limit(1e6), 1<<20)
			return err
		})
	})
}

// measure reports allocations, restarts the timer and calls op(i) for i in
// [0, b.N); an error ends the benchmark.
func measure(b *testing.B, op func(i int) error) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
}

// measureParallel is measure on b.RunParallel's goroutines: each counts i
// up from its own starting point, so that they spread over the keys, and an
// error ends the goroutine that met it and fails the benchmark.
func measureParallel(b *testing.B, op func(i uint64) error) {
	b.Helper()
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(7919)
		for pb.Next() {
			i++
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
