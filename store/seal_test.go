package store_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
)

// wrap64 returns t moved by 2^64 ns, which UnixNano cannot tell from 0.
func wrap64(t time.Time) time.Time { return t.Add(1<<63 - 1).Add(1<<63 - 1).Add(2) }

// TestSealedRefusesEveryEdit: an edit of any signed field breaks the MAC,
// however the field's encoding could be confused.
func TestSealedRefusesEveryEdit(t *testing.T) {
	k, err := keyring.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const hash = "0f1e"
	for _, tt := range []struct {
		name string
		s    store.Session
		edit func(*store.Session)
	}{
		{"expiry moved by 2^64 ns", store.Session{Integration: "a", ExpiresAt: now}, func(s *store.Session) { s.ExpiresAt = wrap64(s.ExpiresAt) }},
		{"verification moved by 2^64 ns", store.Session{Integration: "a", VerifiedAt: now}, func(s *store.Session) { s.VerifiedAt = wrap64(s.VerifiedAt) }},
		{"one scope split in two", store.Session{Integration: "a", Scopes: []string{"use_coupon redeem_reward"}}, func(s *store.Session) { s.Scopes = []string{"use_coupon", "redeem_reward"} }},
		{"empty scope dropped", store.Session{Integration: "a", Scopes: []string{""}}, func(s *store.Session) { s.Scopes = nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			store.Seal(k, hash, &s)
			if !store.Sealed(k, hash, &s) {
				t.Fatal("got the genuine record refused")
			}
			tt.edit(&s)
			if store.Sealed(k, hash, &s) {
				t.Error("got the edited record sealed, want it refused")
			}
		})
	}
}
