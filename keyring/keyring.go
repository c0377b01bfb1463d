// Package keyring holds otpguard's server secrets (peppers) and the keyed
// hashes made with them: the MACs of one-time codes, the MACs that make
// session records tamper-evident, and the pseudonyms that keep customer
// identifiers out of the stores.
//
// The first key signs; every key verifies, so keys rotate by putting a new
// key first and dropping the old one once what it signed has expired. A
// pseudonym is made with the first key only, so rotating changes every
// pseudonym: the limits, locks and indexes kept under the old ones are
// forgotten (see the README's "Rotating the pepper").
//
// It is deliberately small and light (the standard library only), so that
// the guard can verify sessions without linking the code machinery.
package keyring

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// MinKeyBytes is the shortest key New takes.
const MinKeyBytes = 32

// Keyring holds the server secrets. It is safe for concurrent use. The zero
// Keyring has no key (Sign panics, Verify reports false); build one with New.
type Keyring struct {
	keys []*macKey
}

// macKey is one key with a pool of HMAC states keyed with it, so signing
// and verifying neither re-derive the HMAC pads nor allocate per call.
type macKey struct {
	pool statePool // of *macState
}

// macState is an HMAC under one key plus scratch space. The message is
// copied into buf and written in chunks, which saves an interface call per
// field and a []byte conversion per string. A session record's message
// (about 150 bytes) fits buf whole, so it is written in one call.
type macState struct {
	h   hash.Hash
	n   int // bytes pending in buf
	buf [256]byte
	sum [sha256.Size]byte
}

// New returns a keyring over keys, the first of which signs. Each key must
// be at least MinKeyBytes long; at least one key is required. The keys are
// copied, so the caller may reuse or clear its slices.
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no key given")
	}
	k := &Keyring{keys: make([]*macKey, len(keys))}
	for i, key := range keys {
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("keyring: key %d is %d bytes, want at least %d", i, len(key), MinKeyBytes)
		}
		owned := append([]byte(nil), key...)
		mk := &macKey{}
		mk.pool.New = func() any { return &macState{h: hmac.New(sha256.New, owned)} }
		k.keys[i] = mk
	}
	return k, nil
}

// Len returns the number of keys.
func (k *Keyring) Len() int { return len(k.keys) }

// mac computes into st.sum the MAC of fields under domain. The message is
// the domain's length and bytes, then each field as an 8-byte big-endian
// length and its bytes, so no two (domain, fields) tuples share an encoding
// ("ab","c" differs from "a","bc").
func (st *macState) mac(domain string, fields []string) {
	st.begin(domain)
	for _, f := range fields {
		st.writeLen(len(f))
		st.writeString(f)
	}
	st.finish()
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
func (st *macState) writeString(s string) { writeData(st, s) }

// writeData buffers s for the hash, flushing full chunks. The data is
// copied, never handed to the hash.Hash interface, so a caller's stack
// buffer stays on the stack.
func writeData[T string | []byte](st *macState, s T) {
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

// begin resets st and writes domain, for a message whose fields are
// written one by one; finish computes the MAC into st.sum.
func (st *macState) begin(domain string) {
	st.h.Reset()
	st.n = 0
	Fields{st}.String(domain)
}

func (st *macState) finish() {
	if st.n > 0 {
		st.h.Write(st.buf[:st.n])
		st.n = 0
	}
	st.h.Sum(st.sum[:0])
}

// sum computes the MAC of fields under domain with key i into out.
func (k *Keyring) sum(i int, out *[sha256.Size]byte, domain string, fields []string) {
	mk := k.keys[i]
	st := mk.pool.Get().(*macState)
	st.mac(domain, fields)
	*out = st.sum
	mk.pool.Put(st)
}

// Sign returns the HMAC-SHA-256, under the first key, of fields in domain
// (32 bytes). domain separates the uses of the keys ("otpguard/code/v1");
// changing it, or any field, changes the MAC.
func (k *Keyring) Sign(domain string, fields ...string) []byte {
	var sum [sha256.Size]byte
	k.sum(0, &sum, domain, fields)
	return sum[:]
}

// Verify reports whether mac is the MAC of fields in domain under any key.
// It computes the MAC under every key and compares each in constant time
// before combining the results, so its timing depends on the number of keys
// but not on which key, if any, matched.
func (k *Keyring) Verify(domain string, mac []byte, fields ...string) bool {
	match := 0
	var sum [sha256.Size]byte
	for i := range k.keys {
		k.sum(i, &sum, domain, fields)
		match |= subtle.ConstantTimeCompare(sum[:], mac)
	}
	return match == 1
}

// Pseudonym returns the keyed pseudonym of value in domain: 22 characters
// of base64url (128 bits of the first key's HMAC). The same value maps to
// the same pseudonym on every instance that shares the first key; without
// the key it reveals nothing of the value, however guessable the value is
// (a phone number, a CPF).
func (k *Keyring) Pseudonym(domain, value string) string {
	var b [PseudonymLen]byte
	return string(k.AppendPseudonym(b[:0], domain, value))
}

// PseudonymLen is the length of a pseudonym in characters.
const PseudonymLen = 22

// AppendPseudonym appends Pseudonym(domain, value) to b and returns the
// extended slice, so that a caller needing several pseudonyms, or one
// inside a longer key, makes one string of them. It allocates only when b
// lacks the room.
func (k *Keyring) AppendPseudonym(b []byte, domain, value string) []byte {
	var tag [16]byte
	k.SignFields(tag[:], domain, func(f Fields) { f.String(value) })
	return base64.RawURLEncoding.AppendEncode(b, tag[:])
}

// MinTagBytes is the shortest MAC that SignFields writes and VerifyFields
// accepts: 128 bits, the usual truncation of HMAC-SHA-256 (RFC 4868).
const MinTagBytes = 16

// Fields writes the fields of one message straight into the HMAC state of
// SignFields or VerifyFields, in the encoding Sign uses: each field as an
// 8-byte big-endian length and its bytes. So a message of fixed fields —
// a record's times, a token's random bytes — is authenticated without a
// slice of fields, a conversion to string or any other allocation: the
// bytes are copied into the state's buffer, never retained. A Fields is
// valid only during the call of the function it was passed to.
type Fields struct{ st *macState }

// String writes s as the next field.
func (f Fields) String(s string) {
	st := f.st
	if n := st.n; len(s) <= len(st.buf)-8-n {
		// The usual case, small enough to inline: the field fits what is
		// left of the buffer.
		binary.BigEndian.PutUint64(st.buf[n:], uint64(len(s)))
		st.n = n + 8 + copy(st.buf[n+8:], s)
		return
	}
	st.writeLen(len(s))
	st.writeString(s)
}

// Bytes writes b as the next field; a field written with Bytes and one
// with the same bytes written with String are the same field.
func (f Fields) Bytes(b []byte) {
	st := f.st
	if n := st.n; len(b) <= len(st.buf)-8-n {
		binary.BigEndian.PutUint64(st.buf[n:], uint64(len(b)))
		st.n = n + 8 + copy(st.buf[n+8:], b)
		return
	}
	st.writeLen(len(b))
	writeData(st, b)
}

// fieldsState returns a state of key i holding the MAC of what write
// writes in domain, in st.sum; the caller puts it back in the key's pool.
func (k *Keyring) fieldsState(i int, domain string, write func(Fields)) (*macKey, *macState) {
	mk := k.keys[i]
	st := mk.pool.Get().(*macState)
	st.begin(domain)
	write(Fields{st})
	st.finish()
	return mk, st
}

// SignFields writes into tag the MAC, under the first key, of the fields
// that write writes in domain, truncated to len(tag) bytes: the first
// len(tag) bytes of what Sign returns for the same domain and fields. tag
// must be MinTagBytes to 32 bytes long; SignFields panics otherwise, and
// when k has no key. It allocates nothing.
func (k *Keyring) SignFields(tag []byte, domain string, write func(Fields)) {
	if len(tag) < MinTagBytes || len(tag) > sha256.Size {
		panic(fmt.Sprintf("keyring: sign fields: tag of %d bytes, want %d to %d", len(tag), MinTagBytes, sha256.Size))
	}
	mk, st := k.fieldsState(0, domain, write)
	copy(tag, st.sum[:])
	mk.pool.Put(st)
}

// VerifyFields reports whether tag is the MAC, truncated to len(tag)
// bytes, of the fields that write writes in domain under any key. A tag
// shorter than MinTagBytes or longer than 32 bytes is refused; a caller
// that wants the whole MAC checks len(tag) first. Like Verify, it computes
// the MAC under every key and compares each in constant time, calling
// write once per key (write must write the same fields each time). It
// allocates nothing.
func (k *Keyring) VerifyFields(tag []byte, domain string, write func(Fields)) bool {
	if len(tag) < MinTagBytes || len(tag) > sha256.Size {
		return false
	}
	match := 0
	for i := range k.keys {
		mk, st := k.fieldsState(i, domain, write)
		match |= subtle.ConstantTimeCompare(st.sum[:len(tag)], tag)
		mk.pool.Put(st)
	}
	return match == 1
}
