package loyalty

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// This file keeps customers' personal data unreadable in Redis. The
// acceptance of shared example data is that a scan of every key and value
// in the Redis finds no phone number, email address or CPF, yet the
// programme must still message its customers, search them and show their
// contacts to partners. So redisClub keeps:
//
//   - identifiers only as pseudonyms in key names (Config.Pseudonym), which
//     find a customer by identifier without revealing it;
//   - a customer's name, phone, email and CPF sealed with AES-256-GCM
//     (crypto/cipher, random 96-bit nonces) under the data key
//     (Config.DataKey), each field bound to its customer and its name (as
//     additional data), so a sealed value copied to another customer or
//     field does not open.

// dataKeyBytes is the length of a data key: AES-256.
const dataKeyBytes = 32

// dataKeyInfo is the HKDF info that derives data keys from peppers, so a
// data key is never a pepper, nor anything else derived from one.
const dataKeyInfo = "otpguard example loyalty data key v1"

// sealAAD prefixes the additional data of every sealed field.
const sealAAD = "otpguard example loyalty customer v1\x00"

// pseudonymInfo is the HKDF info that derives the pseudonym key from a
// pepper.
const pseudonymInfo = "otpguard example loyalty pseudonym key v1"

// keyedPseudonym returns the pseudonym function used when Config.Pseudonym
// is nil: the hex HMAC-SHA-256 of a value under a key derived from the
// first pepper, so that it reveals nothing of a phone number or CPF to
// anyone who reads Redis without the pepper, and servers sharing their
// peppers find the same customers. Rotating the first pepper re-keys it:
// customers created before are no longer found by identifier (they keep
// their IDs, sessions and data); set Config.Pseudonym from a secret that
// does not rotate to avoid that.
func keyedPseudonym(pepper []byte) (func(string) string, error) {
	key, err := hkdf.Key(sha256.New, pepper, nil, pseudonymInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("loyalty: pseudonym key: %w", err)
	}
	return func(value string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(value))
		return hex.EncodeToString(m.Sum(nil))
	}, nil
}

// dataKeys returns the data keys, the first of which seals: key when set
// (which must be dataKeyBytes long), otherwise one derived from each pepper
// with HKDF-SHA-256, in the peppers' order, so that servers sharing their
// peppers share their data and a pepper rotation (a new pepper first) keeps
// what the old one sealed readable as long as it stays in the list.
func dataKeys(key []byte, peppers [][]byte) ([][]byte, error) {
	if key != nil {
		if len(key) != dataKeyBytes {
			return nil, fmt.Errorf("loyalty: data key is %d bytes, want %d", len(key), dataKeyBytes)
		}
		return [][]byte{key}, nil
	}
	if len(peppers) == 0 {
		return nil, errors.New("loyalty: no data key and no pepper to derive one from")
	}
	keys := make([][]byte, len(peppers))
	for i, p := range peppers {
		k, err := hkdf.Key(sha256.New, p, nil, dataKeyInfo, dataKeyBytes)
		if err != nil {
			return nil, fmt.Errorf("loyalty: derive data key: %w", err)
		}
		keys[i] = k
	}
	return keys, nil
}

// sealer seals and opens personal data. It is safe for concurrent use.
type sealer struct {
	aeads []cipher.AEAD // the first seals; each opens
}

// newSealer returns a sealer on keys (AES-256 keys, the first sealing).
func newSealer(keys [][]byte) (*sealer, error) {
	s := &sealer{}
	for _, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("loyalty: data key: %w", err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("loyalty: data key: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal returns plain sealed for field of customer customerID, in base64;
// "" stays "".
func (s *sealer) seal(customerID, field, plain string) string {
	if plain == "" {
		return ""
	}
	out := s.aeads[0].Seal(nil, nil, []byte(plain), aad(customerID, field))
	return base64.RawStdEncoding.EncodeToString(out)
}

// open returns what seal sealed for field of customer customerID.
func (s *sealer) open(customerID, field, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("loyalty: open %s of customer %s: %w", field, customerID, err)
	}
	for _, aead := range s.aeads {
		if plain, err := aead.Open(nil, nil, raw, aad(customerID, field)); err == nil {
			return string(plain), nil
		}
	}
	return "", fmt.Errorf("loyalty: open %s of customer %s: no data key opens it", field, customerID)
}

// aad returns the additional data that binds a sealed value to its customer
// and field.
func aad(customerID, field string) []byte {
	return []byte(sealAAD + field + "\x00" + customerID)
}
