package bench_test

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/store"
)

// The bound is less than the floor: the two steps that any guard meeting
// the other requirements must take on every accepted request, and
// nothing else — no decision, no lookup, no expiry, no record.
//
//  1. The token's own MAC (base64url decoding, HMAC-SHA-256 of the random
//     bytes, 16 bytes compared in constant time): a forged or sprayed
//     token must be refused before any store is asked.
//  2. The session handed to the handler through the request's context:
//     one small context and Request.WithContext, net/http's copy of the
//     request, which is how a net/http middleware passes a value on.
//
// No guard that keeps both can cost less. BenchmarkPaired compares it with
// the peers: when the bound itself is not 2× cheaper than a rate limiter,
// or 15× cheaper than golang-jwt, no guard is.

// bound is the bound's middleware in front of next.
type bound struct {
	*floor // for its pool of HMAC states and its session type
	s      *floorSession
}

func (b *bound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	vals := r.Header["X-Otp-Session"]
	if len(vals) != 1 || len(vals[0]) != store.TokenLen {
		b.deny(w, http.StatusForbidden)
		return
	}
	var enc [store.TokenLen]byte
	copy(enc[:], vals[0])
	var raw [48]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], enc[:]); err != nil || n != len(raw) {
		b.deny(w, http.StatusForbidden)
		return
	}
	x := b.pool.Get().(*floorHMACs)
	msg := appendField(x.buf[:0], floorTokenDomain)
	msg = appendFieldBytes(msg, raw[:32])
	x.sumInto(msg)
	ok := subtle.ConstantTimeCompare(x.sum[:16], raw[32:]) == 1
	b.pool.Put(x)
	if !ok {
		b.deny(w, http.StatusForbidden)
		return
	}
	b.next.ServeHTTP(w, r.WithContext(&floorCtx{Context: r.Context(), s: b.s}))
}

// buildBound is the bound on the requests of buildFloor: valid tokens of
// the benchmarks' key, one per client.
func buildBound(tb testing.TB) (http.Handler, []*http.Request) {
	keys := newKeyring(tb)
	b := &bound{floor: newFloor(benchKey, nil, floorSessionHandler), s: &floorSession{}}
	tokens := make([]string, benchKeys)
	for i := range tokens {
		tokens[i] = newToken(tb, keys)
	}
	return b, requests(func(i int, r *http.Request) *http.Request {
		r.Header.Set(middleware.SessionHeader, tokens[i])
		return r
	})
}

func init() {
	caseBuilders["bound"] = fromHTTPCase(buildBound)
}

// TestBoundRefuses checks that the bound is a check, not a pass-through: a
// token of other keys, an edited token and no token are refused.
func TestBoundRefuses(t *testing.T) {
	h, reqs := buildBound(t)
	valid := reqs[0].Header.Get(middleware.SessionHeader)
	for _, tt := range []struct {
		name  string
		token string
		want  int
	}{
		{"valid", valid, http.StatusOK},
		{"edited", otherToken(valid), http.StatusForbidden},
		{"cut", valid[1:], http.StatusForbidden},
		{"none", "", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(0)
			if tt.token != "" {
				r.Header.Set(middleware.SessionHeader, tt.token)
			}
			w := newRecorder()
			h.ServeHTTP(w, r)
			if w.status != tt.want {
				t.Errorf("got status %d, want %d", w.status, tt.want)
			}
		})
	}
}
