package otpcode

import "io"

// GenerateCode returns a code of digits decimal digits (6 to 10) read from
// r, uniform over the whole range 0 .. 10^digits-1 by rejection sampling
// (no modulo bias), left-padded with zeros.
func GenerateCode(r io.Reader, digits int) (string, error) {
	panic("otpcode: GenerateCode is being written")
}

// NewToken returns a session token: 32 bytes from r, base64url without
// padding (43 characters).
func NewToken(r io.Reader) (string, error) {
	panic("otpcode: NewToken is being written")
}

// Keyring holds the server secrets (peppers) codes are signed with. The
// first key signs; every key verifies, so keys can be rotated by putting a
// new key first and dropping the old one after a code lifetime. A Keyring is
// safe for concurrent use.
type Keyring struct {
	keys [][]byte
}

// NewKeyring returns a keyring over keys, the first of which signs. Each key
// must be at least 32 bytes.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	panic("otpcode: NewKeyring is being written")
}

// Sign returns the HMAC-SHA-256, under the first key, of code bound to
// integration, subject and purpose.
func (k *Keyring) Sign(integration, subject, purpose, code string) []byte {
	panic("otpcode: Sign is being written")
}

// Verify reports, in constant time for a given MAC length, whether mac is
// the MAC of code bound to integration, subject and purpose under any key.
func (k *Keyring) Verify(integration, subject, purpose, code string, mac []byte) bool {
	panic("otpcode: Verify is being written")
}
