package bench_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// The cases of BenchmarkPaired.
func init() {
	caseBuilders["guard/valid-memory"] = fromHTTPCase(buildGuardSession(newMemorySessions))
	caseBuilders["floor"] = fromHTTPCase(buildFloor)
	caseBuilders["floor/memory-store"] = fromHTTPCase(buildFloorOverStore)
	caseBuilders["guard/no-otp"] = fromHTTPCase(buildGuardNoOTP)
	caseBuilders["guard/no-header"] = buildGuardRefused(func(testing.TB, *keyring.Keyring) string { return "" })
	caseBuilders["guard/forged-token"] = buildGuardRefused(func(tb testing.TB, _ *keyring.Keyring) string {
		foreign, err := keyring.New(make([]byte, keyring.MinKeyBytes))
		if err != nil {
			tb.Fatal(err)
		}
		return newToken(tb, foreign)
	})
	for _, c := range httpCases {
		if _, ok := caseBuilders[c.name]; !ok {
			caseBuilders[c.name] = fromHTTPCase(c.build)
		}
	}
	caseBuilders["otpcode/Verify-memory"] = buildVerify
	caseBuilders["memory/lookup-1k"] = func(tb testing.TB) timedCase { return lookupCase(bigStore(tb, 1_000)) }
	caseBuilders["memory/lookup-1M"] = func(tb testing.TB) timedCase { return lookupCase(bigStore(tb, liveEntries)) }
	caseBuilders["guard/valid-1k"] = func(tb testing.TB) timedCase { return guardAtScale(tb, bigStore(tb, 1_000)) }
	caseBuilders["guard/valid-1M"] = func(tb testing.TB) timedCase { return guardAtScale(tb, bigStore(tb, liveEntries)) }
}

// buildGuardRefused is the guard of buildGuardSession, with its sessions,
// served requests whose X-OTP-Session is token(keys) ("" for none): each is
// refused with 403.
func buildGuardRefused(token func(testing.TB, *keyring.Keyring) string) func(testing.TB) timedCase {
	return func(tb testing.TB) timedCase {
		st := newMemorySessions(tb)
		keys := newKeyring(tb)
		g, err := middleware.NewGuard(newWeb(tb), middleware.WithPolicies(benchPolicies(tb)), middleware.WithSessions(st), middleware.WithSessionKeys(keys))
		if err != nil {
			tb.Fatal(err)
		}
		newSessions(tb, st, keys, benchKeys)
		reqs := requests(func(_ int, r *http.Request) *http.Request {
			if t := token(tb, keys); t != "" {
				r.Header.Set(middleware.SessionHeader, t)
			}
			return withIntegration(r)
		})
		return httpTimed(g.Require(policy.RedeemReward)(sessionHandler), reqs, http.StatusForbidden)
	}
}

// buildVerify times otpcode.Service.Verify on its success path, as
// benchVerify does: codes are put into the store a batch at a time, and the
// previous batch's sessions revoked, outside the time it returns.
func buildVerify(tb testing.TB) timedCase {
	v := newVerifyBench(tb)
	ctx := context.Background()
	next := verifyBatch // codes left to verify: none yet
	fill := func() {
		if err := v.fill(ctx); err != nil {
			panic(err)
		}
		next = 0
	}
	run := func(n int) cost {
		var took cost
		for n > 0 {
			if next == verifyBatch {
				fill()
			}
			k := min(n, verifyBatch-next)
			m := startMeter()
			for i := next; i < next+k; i++ {
				if err := v.verify(ctx, i); err != nil {
					panic(err)
				}
			}
			took.add(m.stop())
			next += k
			n -= k
		}
		return took
	}
	return timedCase{run: run, ready: func(n int) {
		if verifyBatch-next < n {
			fill()
		}
	}}
}

// scaleStore is a memory store of live sessions of strictIntegration,
// sealed as otpcode seals them, with their tokens and the tokens' digests
// in a random order unrelated to the order they were created in (so that
// the store's records are not found in the CPU caches by luck).
type scaleStore struct {
	st      *memory.Store
	keys    *keyring.Keyring
	tokens  []string
	digests [][32]byte
}

// Stores of the scale cases, by size, built once per process.
var scaleStores = map[int]*scaleStore{}

// sessionHeapPaired is what the million-session store took, measured while
// BenchmarkPaired built it.
var sessionHeapPaired struct {
	perSession float64
	sessions   int
}

// bigStore returns the store of n sessions, building it on first use. The
// heap it takes per session (after GC, records and their indexes, with
// customer IDs of 27 characters) is measured while it is built.
func bigStore(tb testing.TB, n int) *scaleStore {
	if s, ok := scaleStores[n]; ok {
		return s
	}
	keys := newKeyring(tb)
	s := &scaleStore{keys: keys, tokens: make([]string, n), digests: make([][32]byte, n)}
	for i := range s.tokens {
		s.tokens[i] = newToken(tb, keys)
	}
	exp := time.Now().Add(time.Hour)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st := memory.New(memory.WithCleanupInterval(0))
	for i, tok := range s.tokens {
		sess := sessionFor(i, exp)
		hash := store.HashToken(tok)
		store.Seal(keys, hash, &sess)
		if err := st.CreateSession(ctx, hash, sess, time.Hour); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n >= liveEntries {
		sessionHeapPaired.perSession = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
		sessionHeapPaired.sessions = n
	}
	s.st = st
	mrand.Shuffle(n, func(i, j int) { s.tokens[i], s.tokens[j] = s.tokens[j], s.tokens[i] })
	for i, tok := range s.tokens {
		s.digests[i] = store.TokenDigest(tok)
	}
	scaleStores[n] = s
	return s
}

// lookupCase times the memory store's lookup of the guard
// (LookupSession), over every session of s in its random order, with one
// clock reading per batch.
func lookupCase(s *scaleStore) timedCase {
	ctx := context.Background()
	next := 0
	return timedCase{run: func(n int) cost {
		now := time.Now()
		m := startMeter()
		for range n {
			if _, found, err := s.st.LookupSession(ctx, s.digests[next], now); !found || err != nil {
				panic(fmt.Sprintf("LookupSession: got found=%v err=%v, want found", found, err))
			}
			if next++; next == len(s.digests) {
				next = 0
			}
		}
		return m.stop()
	}}
}

// guardAtScale times the guard's valid-session path over every session of
// s in its random order: a few requests whose X-OTP-Session value is set
// to the next token before each is served.
func guardAtScale(tb testing.TB, s *scaleStore) timedCase {
	g, err := middleware.NewGuard(newWeb(tb), middleware.WithPolicies(benchPolicies(tb)), middleware.WithSessions(s.st), middleware.WithSessionKeys(s.keys))
	if err != nil {
		tb.Fatal(err)
	}
	h := g.Require(policy.RedeemReward)(sessionHandler)
	reqs := requests(func(_ int, r *http.Request) *http.Request {
		r.Header.Set(middleware.SessionHeader, s.tokens[0])
		return withIntegration(r)
	})[:64]
	w := newRecorder()
	next := 0
	return timedCase{run: func(n int) cost {
		bad := 0
		m := startMeter()
		for i := range n {
			r := reqs[i%len(reqs)]
			r.Header[sessionHeaderKey][0] = s.tokens[next]
			w.reset()
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				bad++
			}
			if next++; next == len(s.tokens) {
				next = 0
			}
		}
		took := m.stop()
		if bad > 0 {
			panic(fmt.Sprintf("%d of %d answers were not 200", bad, n))
		}
		return took
	}}
}

// sessionHeaderKey is middleware.SessionHeader in canonical form.
var sessionHeaderKey = http.CanonicalHeaderKey(middleware.SessionHeader)
