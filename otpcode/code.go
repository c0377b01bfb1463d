package otpcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"sync"
)

const (
	minCodeDigits = 6
	maxCodeDigits = 10
	// maxCodeAttempts bounds the samples GenerateCode draws for one code. A
	// sample is rejected with probability below 6e-10, so a good source
	// never gets near the bound; a broken one (say, all 0xff bytes) gets an
	// error instead of an endless loop.
	maxCodeAttempts = 16
	// tokenBytes is the entropy of a session token.
	tokenBytes = 32
	// minKeyBytes is the shortest key a Keyring takes.
	minKeyBytes = 32
)

// pow10[d] is 10^d.
var pow10 = [maxCodeDigits + 1]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// codeLimits[d] is the largest multiple of 10^d that is at most 2^64: a
// 64-bit sample v is accepted when v < codeLimits[d], and then v % 10^d is
// exactly uniform, because every code has the same number of preimages
// (codeLimits[d] / 10^d of them) below the limit.
var codeLimits = func() (l [maxCodeDigits + 1]uint64) {
	for d := minCodeDigits; d <= maxCodeDigits; d++ {
		l[d] = acceptLimit(pow10[d], 64)
	}
	return l
}()

// acceptLimit returns 2^bits - (2^bits mod n), the largest multiple of n
// that is at most 2^bits (1 <= bits <= 64, 0 < n < 2^bits): the exclusive
// upper bound of the samples accepted when drawing uniformly from [0, n)
// out of bits random bits. For bits == 64, n must not divide 2^64 (true for
// powers of ten), so that the result fits in a uint64.
func acceptLimit(n uint64, bits uint) uint64 {
	if bits == 64 {
		// 2^64 mod n, computed without overflow: (2^64-1) mod n, plus one.
		rem := (math.MaxUint64%n + 1) % n
		return -rem // 2^64 - rem in wrapping arithmetic
	}
	span := uint64(1) << bits
	return span - span%n
}

// sampleBelow maps a random sample v to [0, n) by rejection: ok is false
// when v is at or above limit (a multiple of n), and the caller must draw
// again. Below the limit, v % n takes each value equally often.
func sampleBelow(v, n, limit uint64) (value uint64, ok bool) {
	if v >= limit {
		return 0, false
	}
	return v % n, true
}

// randBufPool recycles the buffers random bytes are read into: a buffer
// passed to an arbitrary io.Reader escapes to the heap, and pooling keeps
// GenerateCode and NewToken down to one allocation (the result string).
var randBufPool = sync.Pool{New: func() any { return new([tokenBytes]byte) }}

// GenerateCode returns a code of digits decimal digits (6 to 10) read from
// r, uniform over the whole range 0 .. 10^digits-1 by rejection sampling
// (no modulo bias), left-padded with zeros.
//
// Each sample is 8 bytes of r taken as a big-endian integer; samples at or
// above the largest multiple of 10^digits below 2^64 are rejected and
// another 8 bytes are read (this happens with probability below 6e-10). An
// error reading r is returned wrapped; so is a source that produces 16
// rejected samples in a row, which a working source never does. r is not
// retained. Pass crypto/rand.Reader except in tests.
func GenerateCode(r io.Reader, digits int) (string, error) {
	if digits < minCodeDigits || digits > maxCodeDigits {
		return "", fmt.Errorf("otpcode: generate code: %d digits, want %d to %d", digits, minCodeDigits, maxCodeDigits)
	}
	n, limit := pow10[digits], codeLimits[digits]
	buf := randBufPool.Get().(*[tokenBytes]byte)
	defer randBufPool.Put(buf)
	sample := buf[:8]
	for range maxCodeAttempts {
		if _, err := io.ReadFull(r, sample); err != nil {
			return "", fmt.Errorf("otpcode: generate code: read random: %w", err)
		}
		v, ok := sampleBelow(binary.BigEndian.Uint64(sample), n, limit)
		clear(sample)
		if ok {
			return formatCode(v, digits), nil
		}
	}
	return "", fmt.Errorf("otpcode: generate code: random source gave %d rejected samples in a row", maxCodeAttempts)
}

// formatCode writes v as exactly digits decimal digits, zero-padded.
func formatCode(v uint64, digits int) string {
	var b [maxCodeDigits]byte
	for i := digits - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:digits])
}

// NewToken returns a session token: 32 bytes from r, base64url without
// padding (43 characters, alphabet A-Z a-z 0-9 - _). An error reading r is
// returned wrapped. r is not retained. Pass crypto/rand.Reader except in
// tests.
func NewToken(r io.Reader) (string, error) {
	buf := randBufPool.Get().(*[tokenBytes]byte)
	defer randBufPool.Put(buf)
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", fmt.Errorf("otpcode: new token: read random: %w", err)
	}
	var out [43]byte // base64.RawURLEncoding.EncodedLen(tokenBytes)
	base64.RawURLEncoding.Encode(out[:], buf[:])
	clear(buf[:])
	return string(out[:]), nil
}

// macDomain separates code MACs from any other use of the same keys. It
// also versions the encoding of the signed fields.
const macDomain = "otpguard/code/v1"

// Keyring holds the server secrets (peppers) codes are signed with. The
// first key signs; every key verifies, so keys can be rotated by putting a
// new key first and dropping the old one after a code lifetime. A Keyring is
// safe for concurrent use. The zero Keyring has no key (Sign panics and
// Verify reports false); build one with NewKeyring.
type Keyring struct {
	keys []*macKey
}

// macKey is one key with a pool of HMAC states keyed with it, so signing
// and verifying neither re-derive the HMAC pads nor allocate per call.
type macKey struct {
	pool sync.Pool // of *macState
}

// macState is an HMAC under one key plus scratch space. The message is
// copied into buf and written in chunks, which saves an interface call per
// field and a []byte conversion per string.
type macState struct {
	h   hash.Hash
	n   int // bytes pending in buf
	buf [128]byte
	sum [sha256.Size]byte
}

// NewKeyring returns a keyring over keys, the first of which signs. Each key
// must be at least 32 bytes; at least one key is required. The keys are
// copied, so the caller may reuse or clear its slices.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("otpcode: new keyring: no key given")
	}
	k := &Keyring{keys: make([]*macKey, len(keys))}
	for i, key := range keys {
		if len(key) < minKeyBytes {
			return nil, fmt.Errorf("otpcode: new keyring: key %d is %d bytes, want at least %d", i, len(key), minKeyBytes)
		}
		owned := append([]byte(nil), key...)
		mk := &macKey{}
		mk.pool.New = func() any { return &macState{h: hmac.New(sha256.New, owned)} }
		k.keys[i] = mk
	}
	return k, nil
}

// mac computes into st.sum the MAC of the four fields under st's key. The
// message is the domain string followed by each field as an 8-byte
// big-endian length and its bytes, so no two field tuples share an
// encoding ("ab","c" differs from "a","bc").
func (st *macState) mac(integration, subject, purpose, code string) {
	st.h.Reset()
	st.n = 0
	st.writeString(macDomain)
	for _, f := range [...]string{integration, subject, purpose, code} {
		st.writeLen(len(f))
		st.writeString(f)
	}
	if st.n > 0 {
		st.h.Write(st.buf[:st.n])
		st.n = 0
	}
	st.h.Sum(st.sum[:0])
}

// writeLen buffers n as 8 big-endian bytes.
func (st *macState) writeLen(n int) {
	if len(st.buf)-st.n < 8 {
		st.h.Write(st.buf[:st.n])
		st.n = 0
	}
	binary.BigEndian.PutUint64(st.buf[st.n:], uint64(n))
	st.n += 8
}

// writeString buffers s for the hash, flushing full chunks.
func (st *macState) writeString(s string) {
	for len(s) > 0 {
		c := copy(st.buf[st.n:], s)
		st.n += c
		s = s[c:]
		if st.n == len(st.buf) {
			st.h.Write(st.buf[:])
			st.n = 0
		}
	}
}

// Sign returns the HMAC-SHA-256, under the first key, of code bound to
// integration, subject and purpose (32 bytes). Changing any of the four
// fields changes the MAC.
func (k *Keyring) Sign(integration, subject, purpose, code string) []byte {
	mk := k.keys[0]
	st := mk.pool.Get().(*macState)
	st.mac(integration, subject, purpose, code)
	out := make([]byte, sha256.Size)
	copy(out, st.sum[:])
	mk.pool.Put(st)
	return out
}

// Verify reports, in constant time for a given MAC length, whether mac is
// the MAC of code bound to integration, subject and purpose under any key.
// It computes the MAC under every key and compares each in constant time
// before combining the results, so its timing depends on the number of keys
// but not on which key, if any, matched.
func (k *Keyring) Verify(integration, subject, purpose, code string, mac []byte) bool {
	match := 0
	for _, mk := range k.keys {
		st := mk.pool.Get().(*macState)
		st.mac(integration, subject, purpose, code)
		match |= subtle.ConstantTimeCompare(st.sum[:], mac)
		mk.pool.Put(st)
	}
	return match == 1
}
