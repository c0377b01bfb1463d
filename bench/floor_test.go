package bench_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// The floor is the guard's valid-session path with nothing but its checks:
// the least code that accepts exactly the requests the guard accepts on a
// route that needs OTP (no audit, telemetry, customer binding, scopes,
// max age or single use; one key; sessions in one map). The guard's cost
// over it is what its generality costs.
//
// Per request it does what the guard does, each step written out:
//
//  1. the integration from the context (middleware.IntegrationFrom);
//  2. the decision: whether the integration's policy requires OTP for the
//     route's action (one map lookup);
//  3. the header: exactly one X-OTP-Session value of store.TokenLen
//     characters, decoded from base64url;
//  4. the token's MAC: HMAC-SHA-256 in the keyring's encoding (domain
//     "token/1", the 32 random bytes as one field), its first 16 bytes
//     compared in constant time;
//  5. SHA-256 of the token's 48 bytes: the key the session is stored under
//     (store.TokenDigest);
//  6. one lookup in a map of sessions under a read lock;
//  7. the session's integration and expiry against one clock reading;
//  8. the session's MAC: HMAC-SHA-256 of its fields in store.Seal's
//     encoding (the raw digest, the integration, the customer, the times,
//     the count of scopes), compared in constant time;
//  9. the session handed to the handler through the context: one small
//     context holding a pointer to the immutable record, and
//     Request.WithContext.
//
// It is safe for concurrent use, as a middleware must be: its two HMAC
// states are taken from a sync.Pool once per request.

// floorSession is a stored session of the floor. It never changes.
type floorSession struct {
	integration, customer string
	verifiedAt, expiresAt time.Time
	mac                   [sha256.Size]byte
}

// floorHMACs is the scratch of one request: an HMAC state per domain and a
// buffer the message is encoded into.
type floorHMACs struct {
	mac hash.Hash
	buf [256]byte
	sum [sha256.Size]byte
}

// floor is the minimal guard in front of next.
type floor struct {
	requires map[string]bool // integration → the route's action needs OTP
	mu       sync.RWMutex
	sessions map[[sha256.Size]byte]*floorSession
	// lookup, when set, replaces sessions: the floor then looks sessions up
	// in a store as the guard does (store.SessionLookup), so that it
	// measures the guard's own code over the same store.
	lookup store.SessionLookup
	pool   sync.Pool // of *floorHMACs
	next   http.Handler
	deny   func(w http.ResponseWriter, status int)
}

// newFloor returns a floor that requires OTP for the integrations in
// requires, with the session key key.
func newFloor(key []byte, requires []string, next http.Handler) *floor {
	f := &floor{
		requires: make(map[string]bool),
		sessions: make(map[[sha256.Size]byte]*floorSession),
		next:     next,
		deny:     func(w http.ResponseWriter, status int) { w.WriteHeader(status) },
	}
	for _, id := range requires {
		f.requires[id] = true
	}
	k := append([]byte(nil), key...)
	f.pool.New = func() any { return &floorHMACs{mac: hmac.New(sha256.New, k)} }
	return f
}

// put stores s under the digest of token.
func (f *floor) put(token string, s store.Session) {
	fs := &floorSession{integration: s.Integration, customer: s.CustomerID, verifiedAt: s.VerifiedAt, expiresAt: s.ExpiresAt}
	copy(fs.mac[:], s.MAC)
	f.mu.Lock()
	f.sessions[store.TokenDigest(token)] = fs
	f.mu.Unlock()
}

// floorCtx hands the session to the handler.
type floorCtx struct {
	context.Context
	s *floorSession
}

type floorKey struct{}

// floorRecordCtx hands the handler the store's record, for a floor over a
// store.
type floorRecordCtx struct {
	context.Context
	rec store.SessionRecord
}

func (c *floorRecordCtx) Value(k any) any {
	if _, ok := k.(floorKey); ok {
		return c.rec
	}
	return c.Context.Value(k)
}

func (c *floorCtx) Value(k any) any {
	if _, ok := k.(floorKey); ok {
		return c.s
	}
	return c.Context.Value(k)
}

// Encoding of the keyring's messages: the domain, then each field, each as
// an 8-byte big-endian length and its bytes.
const (
	floorTokenDomain   = "token/1"
	floorSessionDomain = "session/2"
)

func appendField(b []byte, f string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
	return append(b, f...)
}

func appendFieldBytes(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
	return append(b, f...)
}

// sumInto computes the HMAC of msg into x.sum.
func (x *floorHMACs) sumInto(msg []byte) {
	x.mac.Reset()
	x.mac.Write(msg)
	x.mac.Sum(x.sum[:0])
}

// sealed reports whether mac is the MAC of a session of no scopes with
// these fields, stored under digest, in store.Seal's encoding (step 8).
func (x *floorHMACs) sealed(digest *[sha256.Size]byte, integration, customer string, verifiedAt, expiresAt time.Time, mac []byte) bool {
	var times [24]byte
	binary.BigEndian.PutUint64(times[0:], uint64(verifiedAt.Unix()))
	binary.BigEndian.PutUint32(times[8:], uint32(verifiedAt.Nanosecond()))
	binary.BigEndian.PutUint64(times[12:], uint64(expiresAt.Unix()))
	binary.BigEndian.PutUint32(times[20:], uint32(expiresAt.Nanosecond()))
	msg := appendField(x.buf[:0], floorSessionDomain)
	msg = appendFieldBytes(msg, digest[:])
	msg = appendField(msg, integration)
	msg = appendField(msg, customer)
	msg = appendFieldBytes(msg, times[:])
	msg = appendField(msg, "0") // no scopes
	x.sumInto(msg)
	return subtle.ConstantTimeCompare(x.sum[:], mac) == 1
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// 1, 2: integration and decision.
	integration, ok := middleware.IntegrationFrom(r.Context())
	if !ok {
		f.deny(w, http.StatusUnauthorized)
		return
	}
	if !f.requires[integration] {
		f.next.ServeHTTP(w, r)
		return
	}
	// 3: the header.
	vals := r.Header["X-Otp-Session"]
	if len(vals) != 1 || len(vals[0]) != store.TokenLen {
		f.deny(w, http.StatusForbidden)
		return
	}
	token := vals[0]
	var enc [store.TokenLen]byte
	copy(enc[:], token)
	var raw [48]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], enc[:]); err != nil || n != len(raw) {
		f.deny(w, http.StatusForbidden)
		return
	}
	// 4: the token's MAC.
	x := f.pool.Get().(*floorHMACs)
	defer f.pool.Put(x)
	msg := appendField(x.buf[:0], floorTokenDomain)
	msg = appendFieldBytes(msg, raw[:32])
	x.sumInto(msg)
	if subtle.ConstantTimeCompare(x.sum[:16], raw[32:]) != 1 {
		f.deny(w, http.StatusForbidden)
		return
	}
	// 5, 6: the digest and the lookup.
	digest := sha256.Sum256(raw[:])
	if f.lookup != nil {
		f.serveFromStore(w, r, x, integration, &digest)
		return
	}
	f.mu.RLock()
	s := f.sessions[digest]
	f.mu.RUnlock()
	// 7: integration and expiry.
	if s == nil || s.integration != integration || !s.expiresAt.After(time.Now()) {
		f.deny(w, http.StatusForbidden)
		return
	}
	// 8: the session's MAC.
	if !x.sealed(&digest, s.integration, s.customer, s.verifiedAt, s.expiresAt, s.mac[:]) {
		f.deny(w, http.StatusForbidden)
		return
	}
	// 9: the session through the context.
	f.next.ServeHTTP(w, r.WithContext(&floorCtx{Context: r.Context(), s: s}))
}

// serveFromStore is steps 6 to 9 of ServeHTTP over f.lookup: the session
// looked up at one clock reading, and its record handed to the handler.
func (f *floor) serveFromStore(w http.ResponseWriter, r *http.Request, x *floorHMACs, integration string, digest *[sha256.Size]byte) {
	now := time.Now()
	rec, found, err := f.lookup.LookupSession(r.Context(), *digest, now)
	if err != nil || !found {
		f.deny(w, http.StatusForbidden)
		return
	}
	s := rec.Session()
	if s.Integration != integration || !s.ExpiresAt.After(now) {
		f.deny(w, http.StatusForbidden)
		return
	}
	if !x.sealed(digest, s.Integration, s.CustomerID, s.VerifiedAt, s.ExpiresAt, s.MAC) {
		f.deny(w, http.StatusForbidden)
		return
	}
	f.next.ServeHTTP(w, r.WithContext(&floorRecordCtx{Context: r.Context(), rec: rec}))
}

// floorSessionHandler answers 200 only when the floor put a session in the
// context, as sessionHandler does for the guard.
var floorSessionHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	ok := false
	switch s := r.Context().Value(floorKey{}).(type) {
	case *floorSession:
		ok = s != nil
	case store.SessionRecord:
		ok = s != nil
	}
	if !ok {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
})

// benchKey is the session key of the floor and of the guard it is
// compared with (newKeyring's).
var benchKey = func() []byte {
	k := make([]byte, keyring.MinKeyBytes)
	for i := range k {
		k[i] = 7
	}
	return k
}()

// newToken returns a fresh session token signed with keys.
func newToken(tb testing.TB, keys *keyring.Keyring) string {
	tb.Helper()
	var random [store.TokenRandomBytes]byte
	if _, err := rand.Read(random[:]); err != nil {
		tb.Fatal(err)
	}
	return store.SignToken(keys, &random)
}

// buildFloor is the floor with one valid session per client, sealed as
// otpcode seals them, on the requests of buildGuardSession.
func buildFloor(tb testing.TB) (http.Handler, []*http.Request) {
	keys := newKeyring(tb)
	f := newFloor(benchKey, []string{strictIntegration}, floorSessionHandler)
	tokens := make([]string, benchKeys)
	for i := range tokens {
		tokens[i] = newToken(tb, keys)
		now := time.Now()
		s := store.Session{Integration: strictIntegration, CustomerID: fmt.Sprintf("cust-%d", i), VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
		store.Seal(keys, store.HashToken(tokens[i]), &s)
		f.put(tokens[i], s)
	}
	return f, requests(func(i int, r *http.Request) *http.Request {
		r.Header.Set(middleware.SessionHeader, tokens[i])
		return withIntegration(r)
	})
}

// buildFloorOverStore is the floor looking sessions up in a memory store,
// as the guard does, over the sessions and requests of buildGuardSession:
// the guard's cost over it is that of its own code alone.
func buildFloorOverStore(tb testing.TB) (http.Handler, []*http.Request) {
	keys := newKeyring(tb)
	st := newMemorySessions(tb)
	f := newFloor(benchKey, []string{strictIntegration}, floorSessionHandler)
	f.lookup = st.(store.SessionLookup)
	tokens := newSessions(tb, st, keys, benchKeys)
	return f, requests(func(i int, r *http.Request) *http.Request {
		r.Header.Set(middleware.SessionHeader, tokens[i])
		return withIntegration(r)
	})
}

// BenchmarkFloor is the floor on its own, served as BenchmarkCompare
// serves the guard; BenchmarkPaired compares the two in one run.
//
//	go test -run x -bench 'Floor' -benchmem
func BenchmarkFloor(b *testing.B) {
	h, reqs := buildFloor(b)
	runSerial(b, h, reqs)
}

// TestFloorAgreesWithGuard serves the same requests through the floor and
// through the guard over the same sessions, and checks that they accept
// and refuse alike: the floor does the guard's checks, no fewer.
func TestFloorAgreesWithGuard(t *testing.T) {
	keys := newKeyring(t)
	st := newMemorySessions(t)
	g, err := middleware.NewGuard(newWeb(t), middleware.WithPolicies(benchPolicies(t)), middleware.WithSessions(st), middleware.WithSessionKeys(keys))
	if err != nil {
		t.Fatal(err)
	}
	guard := g.Require(policy.RedeemReward)(sessionHandler)
	fl := newFloor(benchKey, []string{strictIntegration, "other"}, floorSessionHandler)
	flStore := newFloor(benchKey, []string{strictIntegration, "other"}, floorSessionHandler)
	flStore.lookup = st.(store.SessionLookup)
	now := time.Now()
	put := func(token string, s store.Session, seal bool) {
		if seal {
			store.Seal(keys, store.HashToken(token), &s)
		} else {
			s.MAC = make([]byte, sha256.Size)
		}
		if err := st.CreateSession(context.Background(), store.HashToken(token), s, time.Hour); err != nil {
			t.Fatal(err)
		}
		fl.put(token, s)
	}
	valid, other, expired, unsealed, unknown := newToken(t, keys), newToken(t, keys), newToken(t, keys), newToken(t, keys), newToken(t, keys)
	session := store.Session{Integration: strictIntegration, CustomerID: "cust-1", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	put(valid, session, true)
	otherSession := session
	otherSession.Integration = "other"
	put(other, otherSession, true)
	expiredSession := session
	expiredSession.ExpiresAt = now.Add(-time.Second)
	put(expired, expiredSession, true)
	put(unsealed, session, false)
	foreign, err := keyring.New(make([]byte, keyring.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		integration string
		tokens      []string
		want        int
	}{
		{"valid", strictIntegration, []string{valid}, http.StatusOK},
		{"no header", strictIntegration, nil, http.StatusForbidden},
		{"two headers", strictIntegration, []string{valid, valid}, http.StatusForbidden},
		{"another integration's session", strictIntegration, []string{other}, http.StatusForbidden},
		{"session used by another integration", "other", []string{valid}, http.StatusForbidden},
		{"expired", strictIntegration, []string{expired}, http.StatusForbidden},
		{"record not sealed", strictIntegration, []string{unsealed}, http.StatusForbidden},
		{"unknown token", strictIntegration, []string{unknown}, http.StatusForbidden},
		{"token of other keys", strictIntegration, []string{newToken(t, foreign)}, http.StatusForbidden},
		{"token edited", strictIntegration, []string{otherToken(valid)}, http.StatusForbidden},
		{"token cut", strictIntegration, []string{valid[:len(valid)-1]}, http.StatusForbidden},
		{"no integration", "", []string{valid}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(0)
			if tt.integration != "" {
				r = r.WithContext(middleware.WithIntegration(r.Context(), tt.integration))
			}
			for _, tok := range tt.tokens {
				r.Header.Add(middleware.SessionHeader, tok)
			}
			for name, h := range map[string]http.Handler{"guard": guard, "floor": fl, "floor over the store": flStore} {
				w := newRecorder()
				h.ServeHTTP(w, r)
				if w.status != tt.want {
					t.Errorf("%s: got status %d, want %d", name, w.status, tt.want)
				}
			}
		})
	}
}
