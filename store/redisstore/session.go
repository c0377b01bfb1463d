package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/otpguard/otpguard/store"
)

// sessionFormat is the first byte of an encoded session; a store that finds
// another value refuses the record as corrupt rather than misreading it.
const sessionFormat = 1

// errCorruptSession reports a session value that does not decode.
var errCorruptSession = errors.New("corrupt session")

// encodeSession returns the stored form of s: the format byte, then
// Integration, CustomerID, Subject, Purpose, the number of scopes, each
// scope, and ExpiresAt (time.MarshalBinary), every string and the time as a
// uvarint length followed by its bytes. Decoding it costs no reflection and
// one allocation per scope list, which keeps GetSession close to a bare GET.
func encodeSession(s store.Session) ([]byte, error) {
	exp, err := s.ExpiresAt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("expiry: %w", err)
	}
	n := 1 + 6*binary.MaxVarintLen64 + len(s.Integration) + len(s.CustomerID) + len(s.Subject) + len(s.Purpose) + len(exp)
	for _, sc := range s.Scopes {
		n += binary.MaxVarintLen64 + len(sc)
	}
	b := make([]byte, 0, n)
	b = append(b, sessionFormat)
	b = appendString(b, s.Integration)
	b = appendString(b, s.CustomerID)
	b = appendString(b, s.Subject)
	b = appendString(b, s.Purpose)
	b = binary.AppendUvarint(b, uint64(len(s.Scopes)))
	for _, sc := range s.Scopes {
		b = appendString(b, sc)
	}
	b = binary.AppendUvarint(b, uint64(len(exp)))
	b = append(b, exp...)
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeSession parses what encodeSession wrote. The strings of the result
// share v's memory.
func decodeSession(v string) (store.Session, error) {
	if len(v) == 0 || v[0] != sessionFormat {
		return store.Session{}, errCorruptSession
	}
	d := decoder{rest: v[1:]}
	s := store.Session{
		Integration: d.str(),
		CustomerID:  d.str(),
		Subject:     d.str(),
		Purpose:     d.str(),
	}
	// Every scope takes at least one byte, which bounds the count.
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.rest)) {
		s.Scopes = make([]string, n)
		for i := range s.Scopes {
			s.Scopes[i] = d.str()
		}
	} else if n > 0 {
		d.bad = true
	}
	exp := d.str()
	if d.bad || len(d.rest) != 0 {
		return store.Session{}, errCorruptSession
	}
	if err := s.ExpiresAt.UnmarshalBinary([]byte(exp)); err != nil {
		return store.Session{}, fmt.Errorf("%w: expiry: %w", errCorruptSession, err)
	}
	return s, nil
}

// decoder reads uvarint-prefixed strings; after the first malformed one it
// returns zero values and sets bad.
type decoder struct {
	rest string
	bad  bool
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for i := 0; i < len(d.rest) && i < binary.MaxVarintLen64; i++ {
		c := d.rest[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.rest = d.rest[i+1:]
			return x | uint64(c)<<(7*i)
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	d.bad = true
	d.rest = ""
	return 0
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.rest)) {
		d.bad = true
		d.rest = ""
		return ""
	}
	s := d.rest[:n]
	d.rest = d.rest[n:]
	return s
}
