package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/store"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 300) // a length that takes two varint bytes
	mac := []byte{0, 1, 2, 0xfe, 0xff, 0x80, 0}
	full := func() store.Session {
		return store.Session{
			Integration: "goomer", CustomerID: "c-1",
			Scopes:     []string{"redeem_reward", "use_coupon", ""},
			VerifiedAt: time.Date(2030, 1, 2, 2, 54, 5, 7, time.UTC),
			ExpiresAt:  time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
			MAC:        mac,
		}
	}
	tests := []struct {
		name string
		in   store.Session
		want store.Session
	}{
		{"zero", store.Session{}, store.Session{}},
		{"full", full(), full()},
		{"verified at only", store.Session{VerifiedAt: time.Unix(1e9, 5)}, store.Session{VerifiedAt: time.Unix(1e9, 5)}},
		{"empty scopes read back as nil", store.Session{Scopes: []string{}}, store.Session{}},
		{"empty MAC reads back as nil", store.Session{MAC: []byte{}}, store.Session{}},
		{"MAC only", store.Session{MAC: mac}, store.Session{MAC: mac}},
		{"long MAC", store.Session{MAC: []byte(long)}, store.Session{MAC: []byte(long)}},
		{"long and unicode", store.Session{CustomerID: long, Integration: "joão@exemplo"}, store.Session{CustomerID: long, Integration: "joão@exemplo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeSession(tt.in)
			require.NoError(t, err)
			got, err := decodeSession(string(b))
			require.NoError(t, err)
			assert.True(t, got.ExpiresAt.Equal(tt.want.ExpiresAt), "ExpiresAt: got %v, want %v", got.ExpiresAt, tt.want.ExpiresAt)
			assert.True(t, got.VerifiedAt.Equal(tt.want.VerifiedAt), "VerifiedAt: got %v, want %v", got.VerifiedAt, tt.want.VerifiedAt)
			got.ExpiresAt, tt.want.ExpiresAt = time.Time{}, time.Time{}
			got.VerifiedAt, tt.want.VerifiedAt = time.Time{}, time.Time{}
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("MAC does not share the stored value", func(t *testing.T) {
		b, err := encodeSession(store.Session{MAC: mac})
		require.NoError(t, err)
		v := []byte(string(b))
		got, err := decodeSession(string(v))
		require.NoError(t, err)
		got.MAC[0] ^= 0xff
		again, err := decodeSession(string(v))
		require.NoError(t, err)
		assert.Equal(t, mac, again.MAC, "changing a decoded MAC changed the record")
	})
	t.Run("MAC is the last field", func(t *testing.T) {
		b, err := encodeSession(store.Session{Integration: "i", MAC: []byte("mac")})
		require.NoError(t, err)
		assert.Equal(t, byte(sessionFormat), b[0])
		assert.Equal(t, "\x03mac", string(b[len(b)-4:]), "got %q at the end, want the MAC's length and bytes", b[len(b)-4:])
	})
	t.Run("zone offset kept", func(t *testing.T) {
		exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("BRT", -3*3600))
		ver := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("IST", 5*3600+1800))
		b, err := encodeSession(store.Session{VerifiedAt: ver, ExpiresAt: exp})
		require.NoError(t, err)
		got, err := decodeSession(string(b))
		require.NoError(t, err)
		_, off := got.ExpiresAt.Zone()
		assert.Equal(t, -3*3600, off, "ExpiresAt zone offset")
		assert.True(t, got.ExpiresAt.Equal(exp), "got %v, want %v", got.ExpiresAt, exp)
		_, off = got.VerifiedAt.Zone()
		assert.Equal(t, 5*3600+1800, off, "VerifiedAt zone offset")
		assert.True(t, got.VerifiedAt.Equal(ver), "got %v, want %v", got.VerifiedAt, ver)
	})
}

func TestSessionCodecCorrupt(t *testing.T) {
	valid, err := encodeSession(store.Session{Integration: "i", CustomerID: "c", Scopes: []string{"a", "b"}, ExpiresAt: time.Unix(1e9, 0), MAC: []byte("m")})
	require.NoError(t, err)

	// Every proper prefix of a valid record is corrupt.
	for n := 0; n < len(valid); n++ {
		_, err := decodeSession(string(valid[:n]))
		assert.ErrorIs(t, err, errCorruptSession, "prefix of %d bytes", n)
	}
	goodTime, err := time.Unix(1e9, 0).MarshalBinary()
	require.NoError(t, err)
	timeField := string(rune(len(goodTime))) + string(goodTime)
	// format1 is the session above as format 1 wrote it: Subject and
	// Purpose empty, no VerifiedAt, no MAC.
	format1 := "\x01\x01i\x01c\x00\x00\x02\x01a\x01b" + timeField
	// format2 is it as format 2 wrote it: Subject and Purpose, no MAC.
	format2 := "\x02\x01i\x01c\x00\x00\x02\x01a\x01b" + timeField + timeField
	tests := []struct {
		name string
		v    string
	}{
		{"format 1", format1},
		{"format 2", format2},
		{"format 2 with a format 3 body", "\x02" + string(valid[1:])},
		{"format 4", "\x04" + string(valid[1:])},
		{"format 3 with a format 2 body", "\x03" + format2[1:]},
		{"trailing byte", string(valid) + "x"},
		{"json", `{"integration":"i"}`},
		{"huge scope count", "\x03\x00\x00\xff\xff\xff\xff\x0f"},
		{"varint overflow", "\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"unterminated varint", "\x03\x80"},
		{"no expiry", "\x03\x00\x00\x00" + timeField},
		{"no MAC length", "\x03\x00\x00\x00" + timeField + timeField},
		{"MAC longer than the rest", "\x03\x00\x00\x00" + timeField + timeField + "\x05abc"},
		{"bad verified at", "\x03\x00\x00\x00\x03abc" + timeField + "\x00"},
		{"bad expiry", "\x03\x00\x00\x00" + timeField + "\x03abc\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSession(tt.v)
			assert.ErrorIs(t, err, errCorruptSession)
			assert.Equal(t, store.Session{}, got)
		})
	}
	t.Run("the minimal record decodes", func(t *testing.T) {
		zero, err := time.Time{}.MarshalBinary()
		require.NoError(t, err)
		z := string(rune(len(zero))) + string(zero)
		got, err := decodeSession("\x03\x00\x00\x00" + z + z + "\x00")
		require.NoError(t, err)
		assert.Equal(t, store.Session{}, got)
	})
}

func TestEncodeSessionBadTimes(t *testing.T) {
	odd := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("odd", 40000*60)) // an offset beyond int16 minutes
	_, err := encodeSession(store.Session{ExpiresAt: odd})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expiry")
	_, err = encodeSession(store.Session{VerifiedAt: odd})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "verified at")
}
