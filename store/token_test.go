package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
)

func tKeys(t testing.TB, keys ...byte) *keyring.Keyring {
	t.Helper()
	var raw [][]byte
	for _, b := range keys {
		raw = append(raw, bytes.Repeat([]byte{b}, keyring.MinKeyBytes))
	}
	k, err := keyring.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{64}$`)

// TestSignToken: a token is the random bytes and the first 16 bytes of
// their MAC in the domain "token/1", base64url without padding; its digest
// is the SHA-256 of those 48 bytes.
func TestSignToken(t *testing.T) {
	k := tKeys(t, 1)
	var random [store.TokenRandomBytes]byte
	for i := range random {
		random[i] = byte(i)
	}
	tok := store.SignToken(k, &random)
	if !tokenShape.MatchString(tok) || len(tok) != store.TokenLen {
		t.Fatalf("got token %q, want %d characters of base64url", tok, store.TokenLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := append(random[:], k.Sign("token/1", string(random[:]))[:16]...)
	if !bytes.Equal(raw, want) {
		t.Fatalf("got token bytes %x, want %x", raw, want)
	}
	if !store.VerifyToken(k, tok) {
		t.Fatal("got the token refused")
	}
	d, ok := store.CheckToken(k, tok)
	if !ok {
		t.Fatal("CheckToken: got the token refused")
	}
	if wantD := sha256.Sum256(raw); d != wantD || store.TokenDigest(tok) != wantD || store.HashToken(tok) != hex.EncodeToString(wantD[:]) {
		t.Fatalf("got digest %x (TokenDigest %x, HashToken %s), want the SHA-256 of the token's bytes, %x", d, store.TokenDigest(tok), store.HashToken(tok), wantD)
	}
	// Any other string is hashed as it is.
	if got, wantS := store.TokenDigest("t"), sha256.Sum256([]byte("t")); got != wantS {
		t.Fatalf("TokenDigest(%q): got %x, want %x", "t", got, wantS)
	}
}

// TestVerifyTokenRefuses: every string that is not a token the keys
// signed is refused.
func TestVerifyTokenRefuses(t *testing.T) {
	k := tKeys(t, 1)
	var random [store.TokenRandomBytes]byte
	tok := store.SignToken(k, &random)
	edit := func(i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, s := range map[string]string{
		"empty":             "",
		"cut":               tok[:store.TokenLen-1],
		"longer":            tok + "A",
		"padded":            tok[:store.TokenLen-1] + "=",
		"standard base64":   string(bytes.Repeat([]byte("+"), store.TokenLen)),
		"random edited":     edit(3),
		"tag edited":        edit(store.TokenLen - 1),
		"other keys":        store.SignToken(tKeys(t, 2), &random),
		"no tag":            base64.RawURLEncoding.EncodeToString(make([]byte, 48)),
		"43 characters":     base64.RawURLEncoding.EncodeToString(random[:]),
		"hash of the token": store.HashToken(tok),
	} {
		if store.VerifyToken(k, s) {
			t.Errorf("%s: got %q verified, want it refused", name, s)
		}
	}
}

// TestVerifyTokenRotation: a token signed with any key of the ring
// verifies; one of a dropped key does not.
func TestVerifyTokenRotation(t *testing.T) {
	var random [store.TokenRandomBytes]byte
	old := store.SignToken(tKeys(t, 1), &random)
	rotated := tKeys(t, 2, 1)
	if !store.VerifyToken(rotated, old) {
		t.Error("got a token of the old key refused by the rotated ring")
	}
	nw := store.SignToken(rotated, &random)
	if !store.VerifyToken(tKeys(t, 2), nw) {
		t.Error("got a token of the rotated ring refused by its new key")
	}
	if store.VerifyToken(tKeys(t, 2), old) {
		t.Error("got a token of a dropped key verified")
	}
}

// TestSealEncoding pins Seal's encoding, which stored sessions depend on:
// keyring.Sign over the token's raw digest (for a key HashToken made, in
// "session/2"; any other key as it is, in "session/2s"), the integration,
// the customer, the two times and the count of scopes, then the scopes.
func TestSealEncoding(t *testing.T) {
	k := tKeys(t, 1)
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	s := store.Session{Integration: "goomer", CustomerID: "c-1", Scopes: []string{"a", "b c"}, VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	hash := store.HashToken("t")
	d := store.TokenDigest("t")
	if hex.EncodeToString(d[:]) != hash {
		t.Fatalf("got digest %x, want the hex of HashToken %s", d, hash)
	}
	var times [24]byte
	binary.BigEndian.PutUint64(times[0:], uint64(s.VerifiedAt.Unix()))
	binary.BigEndian.PutUint32(times[8:], uint32(s.VerifiedAt.Nanosecond()))
	binary.BigEndian.PutUint64(times[12:], uint64(s.ExpiresAt.Unix()))
	binary.BigEndian.PutUint32(times[20:], uint32(s.ExpiresAt.Nanosecond()))
	rest := []string{"goomer", "c-1", string(times[:]), strconv.Itoa(2), "a", "b c"}

	store.Seal(k, hash, &s)
	if want := k.Sign("session/2", append([]string{string(d[:])}, rest...)...); !bytes.Equal(s.MAC, want) {
		t.Fatalf("got MAC %x, want %x", s.MAC, want)
	}
	if !store.Sealed(k, hash, &s) || !store.SealedDigest(k, &d, &s) {
		t.Fatal("got the sealed session refused")
	}
	other := s
	store.Seal(k, "short-key", &other)
	if want := k.Sign("session/2s", append([]string{"short-key"}, rest...)...); !bytes.Equal(other.MAC, want) {
		t.Fatalf("short key: got MAC %x, want %x", other.MAC, want)
	}
	if !store.Sealed(k, "short-key", &other) {
		t.Fatal("short key: got the sealed session refused")
	}
	// The forms do not pass for each other: not the raw digest as a key,
	// not an upper-case hex key.
	for _, key := range []string{string(d[:]), strings.ToUpper(hash)} {
		if store.Sealed(k, key, &s) {
			t.Errorf("got the session sealed under %q", key)
		}
	}
	short := s
	short.MAC = s.MAC[:16]
	if store.Sealed(k, hash, &short) || store.SealedDigest(k, &d, &short) {
		t.Fatal("got a truncated MAC accepted")
	}
	u := store.TokenDigest("u")
	if store.SealedDigest(k, &u, &s) {
		t.Fatal("got the session sealed under another token's digest")
	}
}

func TestTokenAllocations(t *testing.T) {
	k := tKeys(t, 1, 2)
	var random [store.TokenRandomBytes]byte
	tok := store.SignToken(k, &random)
	now := time.Now()
	s := store.Session{Integration: "goomer", CustomerID: "2awTHloSJX7kGGprFerOOsvABcd", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	hash := store.HashToken(tok)
	store.Seal(k, hash, &s)
	d := store.TokenDigest(tok)
	for name, f := range map[string]func() bool{
		"VerifyToken":  func() bool { return store.VerifyToken(k, tok) },
		"TokenDigest":  func() bool { return store.TokenDigest(tok) == d },
		"Sealed":       func() bool { return store.Sealed(k, hash, &s) },
		"SealedDigest": func() bool { return store.SealedDigest(k, &d, &s) },
	} {
		if !f() {
			t.Fatalf("%s: got false", name)
		}
		if n := testing.AllocsPerRun(200, func() { f() }); n != 0 {
			t.Errorf("%s: got %v allocations, want none", name, n)
		}
	}
}

// TestHashTokenOneAllocation: HashToken is the hex of TokenDigest, for a
// session token and for any other string, and allocates only its result.
func TestHashTokenOneAllocation(t *testing.T) {
	k := tKeys(t, 1)
	var random [store.TokenRandomBytes]byte
	tok := store.SignToken(k, &random)
	for _, s := range []string{tok, "", "short", strings.Repeat("x", 300)} {
		d := store.TokenDigest(s)
		if got, want := store.HashToken(s), hex.EncodeToString(d[:]); got != want {
			t.Errorf("string of %d bytes: got %s, want %s", len(s), got, want)
		}
	}
	if n := testing.AllocsPerRun(200, func() { _ = store.HashToken(tok) }); n != 1 {
		t.Errorf("got %v allocations, want 1 (the string)", n)
	}
}

func BenchmarkTokenChecks(b *testing.B) {
	k := tKeys(b, 1)
	var random [store.TokenRandomBytes]byte
	tok := store.SignToken(k, &random)
	now := time.Now()
	s := store.Session{Integration: "goomer", CustomerID: "2awTHloSJX7kGGprFerOOsvABcd", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	store.Seal(k, store.HashToken(tok), &s)
	d := store.TokenDigest(tok)
	b.Run("VerifyToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			store.VerifyToken(k, tok)
		}
	})
	b.Run("TokenDigest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d = store.TokenDigest(tok)
		}
	})
	b.Run("SealedDigest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			store.SealedDigest(k, &d, &s)
		}
	})
}
