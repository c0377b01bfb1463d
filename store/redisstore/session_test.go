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
			Scopes:    []string{"redeem_reward", "use_coupon", ""},
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		}, store.Session{
			Integration: "goomer", CustomerID: "c-1", Subject: "phone:+5511987654321", Purpose: "redeem",
			Scopes:    []string{"redeem_reward", "use_coupon", ""},
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		}},
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
			got.ExpiresAt, tt.want.ExpiresAt = time.Time{}, time.Time{}
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("zone offset kept", func(t *testing.T) {
		exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("BRT", -3*3600))
		b, err := encodeSession(store.Session{ExpiresAt: exp})
		require.NoError(t, err)
		got, err := decodeSession(string(b))
		require.NoError(t, err)
		_, off := got.ExpiresAt.Zone()
		assert.Equal(t, -3*3600, off, "zone offset")
		assert.True(t, got.ExpiresAt.Equal(exp), "got %v, want %v", got.ExpiresAt, exp)
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
	tests := []struct {
		name string
		v    string
	}{
		{"other format", "\x02" + string(valid[1:])},
		{"trailing byte", string(valid) + "x"},
		{"json", `{"integration":"i"}`},
		{"huge scope count", "\x01\x00\x00\x00\x00\xff\xff\xff\xff\x0f"},
		{"varint overflow", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"unterminated varint", "\x01\x80"},
		{"bad time", "\x01\x00\x00\x00\x00\x00\x03abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSession(tt.v)
			assert.ErrorIs(t, err, errCorruptSession)
			assert.Equal(t, store.Session{}, got)
		})
	}
}

func TestEncodeSessionBadExpiry(t *testing.T) {
	_, err := encodeSession(store.Session{ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("odd", 40000*60))})
	require.Error(t, err, "a zone offset beyond int16 minutes")
	assert.Contains(t, err.Error(), "expiry")
}
