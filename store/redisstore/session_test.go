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
	tests := []struct {
		name string
		in   store.Session
		want store.Session
	}{
		{"zero", store.Session{}, store.Session{}},
		{"full", store.Session{
			Integration: "goomer", CustomerID: "c-1", Subject: "phone:+5511987654321", Purpose: "redeem",
			Scopes:     []string{"redeem_reward", "use_coupon", ""},
			VerifiedAt: time.Date(2030, 1, 2, 2, 54, 5, 7, time.UTC),
			ExpiresAt:  time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		}, store.Session{
			Integration: "goomer", CustomerID: "c-1", Subject: "phone:+5511987654321", Purpose: "redeem",
			Scopes:     []string{"redeem_reward", "use_coupon", ""},
			VerifiedAt: time.Date(2030, 1, 2, 2, 54, 5, 7, time.UTC),
			ExpiresAt:  time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		}},
		{"verified at only", store.Session{VerifiedAt: time.Unix(1e9, 5)}, store.Session{VerifiedAt: time.Unix(1e9, 5)}},
		{"empty scopes read back as nil", store.Session{Scopes: []string{}}, store.Session{}},
		{"long and unicode", store.Session{CustomerID: long, Subject: "email:joão@exemplo.com.br"}, store.Session{CustomerID: long, Subject: "email:joão@exemplo.com.br"}},
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
	valid, err := encodeSession(store.Session{Integration: "i", CustomerID: "c", Scopes: []string{"a", "b"}, ExpiresAt: time.Unix(1e9, 0)})
	require.NoError(t, err)

	// Every proper prefix of a valid record is corrupt.
	for n := 0; n < len(valid); n++ {
		_, err := decodeSession(string(valid[:n]))
		assert.ErrorIs(t, err, errCorruptSession, "prefix of %d bytes", n)
	}
	goodTime, err := time.Unix(1e9, 0).MarshalBinary()
	require.NoError(t, err)
	timeField := string(rune(len(goodTime))) + string(goodTime)
	// format1 is the session above as format 1 wrote it: no VerifiedAt.
	format1 := "\x01\x01i\x01c\x00\x00\x02\x01a\x01b" + timeField
	tests := []struct {
		name string
		v    string
	}{
		{"format 1", format1},
		{"format 1 with a format 2 body", "\x01" + string(valid[1:])},
		{"format 3", "\x03" + string(valid[1:])},
		{"trailing byte", string(valid) + "x"},
		{"json", `{"integration":"i"}`},
		{"huge scope count", "\x02\x00\x00\x00\x00\xff\xff\xff\xff\x0f"},
		{"varint overflow", "\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"unterminated varint", "\x02\x80"},
		{"no expiry", "\x02\x00\x00\x00\x00\x00" + timeField},
		{"bad verified at", "\x02\x00\x00\x00\x00\x00\x03abc" + timeField},
		{"bad expiry", "\x02\x00\x00\x00\x00\x00" + timeField + "\x03abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSession(tt.v)
			assert.ErrorIs(t, err, errCorruptSession)
			assert.Equal(t, store.Session{}, got)
		})
	}
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
