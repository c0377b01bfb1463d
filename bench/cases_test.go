package bench_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The benchmarks do not run in CI; these tests do, so that a change in
// otpguard or a peer that breaks a benchmark's set-up is found there.

// TestCompareCases serves every request of every comparison case once and
// checks that each reached the handler with 200, and that a request the
// middleware must refuse is refused, so the benchmarks measure the path
// they claim to.
func TestCompareCases(t *testing.T) {
	for _, c := range httpCases {
		t.Run(c.name, func(t *testing.T) {
			h, reqs := c.build(t)
			require.Len(t, reqs, benchKeys, "got %d requests, want %d", len(reqs), benchKeys)
			w := newRecorder()
			for i, r := range reqs {
				w.reset()
				h.ServeHTTP(w, r)
				require.Equal(t, http.StatusOK, w.status, "request %d: got status %d, want 200", i, w.status)
			}
		})
	}
}

// TestCasesRefuse checks that the cases that check something refuse a
// request without it: the numbers of a middleware that let everything
// through would mean nothing.
func TestCasesRefuse(t *testing.T) {
	tests := []struct {
		name  string
		strip func(r *http.Request) *http.Request
		want  int
	}{
		{"otpguard/session-memory", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Del("X-OTP-Session")
			return r
		}, http.StatusForbidden},
		{"gorilla-csrf/POST", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Set("X-CSRF-Token", "not-the-token")
			return r
		}, http.StatusForbidden},
		{"floor", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Set("X-OTP-Session", otherToken(r.Header.Get("X-OTP-Session")))
			return r
		}, http.StatusForbidden},
		{"golang-jwt/HS256", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", r.Header.Get("Authorization")+"x")
			return r
		}, http.StatusUnauthorized},
		{"jwtauth/HS256", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", r.Header.Get("Authorization")+"x")
			return r
		}, http.StatusUnauthorized},
		{"scs/LoadAndSave-memstore", func(r *http.Request) *http.Request {
			r = r.Clone(r.Context())
			r.Header.Del("Cookie")
			return r
		}, http.StatusInternalServerError}, // no session: the handler finds no customer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c httpCase
			for _, hc := range httpCases {
				if hc.name == tt.name {
					c = hc
				}
			}
			require.NotNil(t, c.build, "no case %q", tt.name)
			h, reqs := c.build(t)
			w := newRecorder()
			h.ServeHTTP(w, tt.strip(reqs[0]))
			assert.Equal(t, tt.want, w.status, "got status %d, want %d", w.status, tt.want)
		})
	}
}

// otherToken returns tok with its first character changed to another of
// base64url: still a token's shape, no longer its MAC's.
func otherToken(tok string) string {
	c := byte('A')
	if tok[0] == 'A' {
		c = 'B'
	}
	return string(c) + tok[1:]
}

// TestRecorderReset checks that the recorder forgets the previous answer.
func TestRecorderReset(t *testing.T) {
	w := newRecorder()
	w.Header().Add("Vary", "Cookie")
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusOK) // a second call does not change the status
	assert.Equal(t, http.StatusTeapot, w.status, "got status %d, want the first one, 418", w.status)
	w.reset()
	assert.Empty(t, w.Header(), "got header %v after reset, want none", w.Header())
	assert.Zero(t, w.status, "got status %d after reset, want 0", w.status)
	n, err := w.Write([]byte("body"))
	require.NoError(t, err)
	assert.Equal(t, 4, n, "got %d bytes written, want 4", n)
	assert.Equal(t, http.StatusOK, w.status, "got status %d after a bare Write, want 200", w.status)
}

// TestMeasureHeap checks the memory measurement on records of known size:
// 1,000 blocks of 4 KiB each are 4,096 bytes an entry.
func TestMeasureHeap(t *testing.T) {
	const n, size = 1000, 4096
	got := measureHeap(func() (int, any) {
		keep := make([][]byte, n)
		for i := range keep {
			keep[i] = make([]byte, size)
		}
		return n, keep
	})
	// The slice of headers adds 24 bytes an entry; other goroutines may
	// allocate a little meanwhile.
	assert.InDelta(t, size+24, got.retained, 64, "got %.1f bytes/entry retained, want about %d", got.retained, size+24)
	assert.GreaterOrEqual(t, got.allocated, float64(size), "got %.1f bytes/entry allocated, want at least %d", got.allocated, size)
	assert.GreaterOrEqual(t, got.allocs, 1.0, "got %.2f allocs/entry, want at least 1", got.allocs)
}
