package bench_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// liveEntries is how many sessions or codes the memory benchmarks keep.
const liveEntries = 1_000_000

// heapCost is what filling a memory store with liveEntries records cost.
type heapCost struct {
	retained  float64 // bytes still on the heap after GC, per record
	allocated float64 // bytes allocated while inserting, per record
	allocs    float64 // allocations while inserting, per record
	insert    float64 // nanoseconds per insert
}

// measureHeap measures, after a full GC before and after, the heap that
// fill leaves behind, and what fill allocated and took, per record. fill
// returns how many records it made and what holds them (the store), which
// is kept alive until the heap has been measured.
func measureHeap(fill func() (int, any)) heapCost {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	records, keep := fill()
	took := time.Since(start)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	n := float64(records)
	return heapCost{
		retained:  float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n,
		allocated: float64(after.TotalAlloc-before.TotalAlloc) / n,
		allocs:    float64(after.Mallocs-before.Mallocs) / n,
		insert:    float64(took.Nanoseconds()) / n,
	}
}

// report reports c; one op is one insert. The benchmark loop itself does
// nothing, so the framework's own ns/op, B/op and allocs/op are replaced.
func (c heapCost) report(b *testing.B) {
	b.ReportMetric(c.retained, "bytes/entry")
	b.ReportMetric(c.insert, "ns/op")
	b.ReportMetric(c.allocated, "B/op")
	b.ReportMetric(c.allocs, "allocs/op")
}

// sessionFor returns the session of customer i, with fields of realistic
// size: a 27-character customer ID and a 32-byte MAC. The MAC is random,
// as the code records' are: the store keeps its own copy and checks
// nothing, and sealing (an HMAC) is not the store's cost.
func sessionFor(i int, expires time.Time) store.Session {
	mac := make([]byte, sha256.Size)
	_, _ = rand.Read(mac)
	return store.Session{
		Integration: strictIntegration,
		CustomerID:  fmt.Sprintf("2awTH%022d", i),
		VerifiedAt:  expires.Add(-time.Hour),
		ExpiresAt:   expires,
		MAC:         mac,
	}
}

// subjectFor returns a subject of the shape the store sees for customer i:
// 22 characters of base64url, like a keyring pseudonym, made here without
// the HMAC, which is not the store's cost.
func subjectFor(i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fillSessions creates n sessions in st under the hashes of fresh tokens
// and returns the hashes.
func fillSessions(st store.Sessions, n int) ([]string, error) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	hashes := make([]string, n)
	for i := range hashes {
		tok, err := otpcode.NewToken(rand.Reader)
		if err != nil {
			return nil, err
		}
		hashes[i] = store.HashToken(tok)
		if err := st.CreateSession(ctx, hashes[i], sessionFor(i, exp), time.Hour); err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

var (
	memoryOnce                  sync.Once
	sessionHeap, codeHeap       heapCost
	sessionHeapErr, codeHeapErr error
)

// measureMemory fills one memory store with liveEntries sessions and
// another with liveEntries outstanding codes, measures each, and drops
// both. It runs once per process, however often the framework calls the
// benchmark.
func measureMemory() {
	memoryOnce.Do(func() {
		sessionHeap = measureHeap(func() (int, any) {
			st := memory.New(memory.WithCleanupInterval(0))
			// The hashes returned are dropped: the store keeps its own
			// reference to each, as its keys.
			if _, err := fillSessions(st, liveEntries); err != nil {
				sessionHeapErr = err
				return 1, nil
			}
			return liveEntries, st
		})
		codeHeap = measureHeap(func() (int, any) {
			st := memory.New(memory.WithCleanupInterval(0))
			ctx := context.Background()
			exp := time.Now().Add(5 * time.Minute)
			for i := range liveEntries {
				id, err := otpcode.NewToken(rand.Reader)
				if err != nil {
					codeHeapErr = err
					return 1, nil
				}
				mac := make([]byte, 32)
				_, _ = rand.Read(mac)
				c := store.Code{ID: id, MAC: mac, Integration: strictIntegration, ExpiresAt: exp}
				if err := st.PutCode(ctx, store.Pair{Integration: "goomer", Subject: subjectFor(i)}, c, 10*time.Minute); err != nil {
					codeHeapErr = err
					return 1, nil
				}
			}
			return liveEntries, st
		})
	})
}

// BenchmarkMemoryPerEntry reports the heap one live session and one
// outstanding code take in the memory store when it holds a million of
// them (bytes/entry, after GC), and the cost of one insert while filling it
// (ns/op, B/op, allocs/op, including making the token or code record). It
// measures once per process.
//
//	go test -run x -bench 'MemoryPerEntry' -benchmem
func BenchmarkMemoryPerEntry(b *testing.B) {
	b.Run("session/live=1M", func(b *testing.B) {
		b.ReportAllocs()
		measureMemory()
		if sessionHeapErr != nil {
			b.Fatal(sessionHeapErr)
		}
		for range b.N {
		}
		sessionHeap.report(b)
	})
	b.Run("code/live=1M", func(b *testing.B) {
		b.ReportAllocs()
		measureMemory()
		if codeHeapErr != nil {
			b.Fatal(codeHeapErr)
		}
		for range b.N {
		}
		codeHeap.report(b)
	})
}

// lookupStore is a memory store of live sessions with their keys, for the
// lookup benchmarks: the hex keys GetSession takes and the digests
// LookupSession takes, both in one random order unrelated to the order
// the sessions were created in, so that the store's records are not found
// in the CPU caches by luck. The keys are copies laid out in that order, so
// that reading them in sequence costs the benchmark loop little.
type lookupStore struct {
	st      *memory.Store
	hexKeys []string
	digests [][sha256.Size]byte
}

// lookupSizes are the store sizes the lookup benchmarks compare.
var lookupSizes = []struct {
	name string
	live int
}{{"live=1k", 1_000}, {"live=1M", liveEntries}}

// newLookupStore returns a lookup benchmark's store of n sessions. A
// benchmark builds its stores once, in its top-level function, which the
// framework calls once; they are garbage when it returns, so that a million
// sessions do not stay on the heap under the benchmarks that run after it.
func newLookupStore(b *testing.B, n int) *lookupStore {
	st := memory.New(memory.WithCleanupInterval(0))
	hashes, err := fillSessions(st, n)
	if err != nil {
		b.Fatal(err)
	}
	s := &lookupStore{st: st, hexKeys: make([]string, n), digests: make([][sha256.Size]byte, n)}
	for k, p := range mrand.Perm(n) {
		s.hexKeys[k] = strings.Clone(hashes[p])
		if _, err := hex.Decode(s.digests[k][:], []byte(hashes[p])); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkGetSession measures the memory store's GetSession, by hex key
// and copying the session out, with 1,000 and with 1,000,000 live
// sessions, looked up in a random order (see lookupStore).
//
//	go test -run x -bench 'GetSession' -benchmem
func BenchmarkGetSession(b *testing.B) {
	for _, n := range lookupSizes {
		s := newLookupStore(b, n.live)
		b.Run(n.name, func(b *testing.B) {
			ctx := context.Background()
			j := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, found, err := s.st.GetSession(ctx, s.hexKeys[j]); !found || err != nil {
					b.Fatalf("GetSession: got found=%v err=%v, want found", found, err)
				}
				if j++; j == len(s.hexKeys) {
					j = 0
				}
			}
		})
	}
}

// BenchmarkLookupSession measures the guard's lookup in the memory store,
// LookupSession by raw digest, as the paired harness's memory/lookup cases
// do, with 1,000 and with 1,000,000 live sessions looked up in a random
// order (see lookupStore). Its Session cases also read what the guard
// reads of the record next: the session (Session), the customer ID's bytes
// and the MAC, which the guard's check and its record MAC read.
//
//	go test -run x -bench 'LookupSession' -benchmem
func BenchmarkLookupSession(b *testing.B) {
	stores := make([]*lookupStore, len(lookupSizes))
	for i, n := range lookupSizes {
		stores[i] = newLookupStore(b, n.live)
	}
	for _, read := range []bool{false, true} {
		for i, n := range lookupSizes {
			s := stores[i]
			name := n.name
			if read {
				name = "Session/" + name
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				now := time.Now()
				j := 0
				var sum byte
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					rec, found, err := s.st.LookupSession(ctx, s.digests[j], now)
					if !found || err != nil {
						b.Fatalf("LookupSession: got found=%v err=%v, want found", found, err)
					}
					if read {
						sess := rec.Session()
						sum += sess.CustomerID[len(sess.CustomerID)-1] + sess.MAC[len(sess.MAC)-1] + sess.Integration[0]
					}
					if j++; j == len(s.digests) {
						j = 0
					}
				}
				sinkByte = sum
			})
		}
	}
}
