package otpcode

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
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
	tokenBytes = store.TokenRandomBytes
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

// NewToken returns a random identifier (the service's code IDs): 32 bytes
// from r, base64url without padding (43 characters, alphabet A-Z a-z 0-9 -
// _). Session tokens are made by NewSessionToken, which also signs them. An error reading r is
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

// NewSessionToken returns a session token signed with k (see
// store.SignToken): 32 bytes from r and the first 16 bytes of their MAC
// under k's signing key, base64url without padding (store.TokenLen, 64
// characters, alphabet A-Z a-z 0-9 - _). The guard refuses any token that
// does not carry a MAC under its keys without asking the store. An error
// reading r is returned wrapped. r is not retained. Pass crypto/rand.Reader
// except in tests.
func NewSessionToken(r io.Reader, k *keyring.Keyring) (string, error) {
	buf := randBufPool.Get().(*[tokenBytes]byte)
	defer randBufPool.Put(buf)
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", fmt.Errorf("otpcode: new session token: read random: %w", err)
	}
	tok := store.SignToken(k, buf)
	clear(buf[:])
	return tok, nil
}

// codeDomain separates code MACs from every other use of the keys (see
// package keyring). It also versions the encoding of the signed fields.
const codeDomain = "otpguard/code/v1"

// subjectDomain is the domain of subject pseudonyms.
const subjectDomain = "otpguard/subject/v1"
