package middleware_test

import (
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
)

// gSessionToken returns the session token whose 32 random bytes are all
// fill, signed with k as otpcode signs the tokens it issues: the tests'
// tokens are fixed, yet the guard accepts them as it accepts real ones.
func gSessionToken(k *keyring.Keyring, fill byte) string {
	var random [store.TokenRandomBytes]byte
	for i := range random {
		random[i] = fill
	}
	return store.SignToken(k, &random)
}
