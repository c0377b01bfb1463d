package memory_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmptySessionKey: a session created under the key "" is found under
// "" (GetSession, UseSession, RevokeSession), and not under the all-zero
// digest, which a record with no digest key holds as its zero key.
func TestEmptySessionKey(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	sess := store.Session{Integration: "i", CustomerID: "c", VerifiedAt: clockStart, ExpiresAt: clockStart.Add(time.Hour), MAC: make([]byte, sha256.Size)}
	require.NoError(t, s.CreateSession(ctx, "", sess, time.Hour))
	_, found, err := s.GetSession(ctx, "")
	require.NoError(t, err)
	assert.True(t, found, "GetSession under the key CreateSession used")
	_, found, err = s.LookupSession(ctx, [sha256.Size]byte{}, clockStart)
	require.NoError(t, err)
	assert.False(t, found, "LookupSession of the all-zero digest finds the session stored under \"\"")
	first, err := s.UseSession(ctx, "", "redeem_reward")
	require.NoError(t, err)
	assert.True(t, first, "UseSession under \"\"")
	n, err := s.CountSessions(ctx, store.ScopeCustomer, "c")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	deleted, err := s.RevokeSession(ctx, "")
	require.NoError(t, err)
	assert.True(t, deleted, "RevokeSession under \"\"")
	_, found, err = s.GetSession(ctx, "")
	require.NoError(t, err)
	assert.False(t, found, "the session revoked")
}
