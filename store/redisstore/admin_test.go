package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
)

// TestSessionRecords checks the keys behind a session: its index entries,
// scored by its expiry and living at least as long as it, and its use
// marks, which live as long as it and go with it.
func TestSessionRecords(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	h := store.HashToken("token")
	sess := store.Session{Integration: "goomer", CustomerID: "c-1", MAC: []byte("mac")}
	before := time.Now()
	require.NoError(t, s.CreateSession(ctx, h, sess, time.Minute))
	session, used := prefix+"session:{"+h+"}", prefix+"session:{"+h+"}:used"
	for _, key := range []string{prefix + "{c:c-1}:sessions", prefix + "{i:goomer}:sessions"} {
		assert.Equal(t, "zset", client.Type(ctx, key).Val(), "type of %s", key)
		score, err := client.ZScore(ctx, key, h).Result()
		require.NoError(t, err, "ZSCORE %s", key)
		// The entry and the index last the operation timeout (500 ms)
		// beyond the session, which is written after them.
		exp := time.UnixMilli(int64(score))
		assert.WithinDuration(t, before.Add(time.Minute+DefaultTimeout), exp, 2*time.Second, "score of the session in %s", key)
		ttl, sessionTTL := client.PTTL(ctx, key).Val(), client.PTTL(ctx, session).Val()
		assert.True(t, ttl > sessionTTL && ttl <= time.Minute+DefaultTimeout, "PTTL %s: got %v, want over the session's %v", key, ttl, sessionTTL)
	}
	// A shorter session does not shorten the index.
	require.NoError(t, s.CreateSession(ctx, store.HashToken("short"), sess, time.Second))
	ttl := client.PTTL(ctx, prefix+"{c:c-1}:sessions").Val()
	assert.True(t, ttl > 59*time.Second, "index PTTL after a shorter session: got %v, want about 1m0.5s", ttl)

	assert.Zero(t, client.Exists(ctx, used).Val(), "use marks before any use")
	for _, action := range []string{"redeem", "", "{x}"} {
		first, err := s.UseSession(ctx, h, action)
		require.NoError(t, err)
		require.True(t, first)
	}
	assert.Equal(t, "hash", client.Type(ctx, used).Val(), "type of %s", used)
	fields, err := client.HKeys(ctx, used).Result()
	require.NoError(t, err)
	slices.Sort(fields)
	assert.Equal(t, []string{"", "redeem", "{x}"}, fields, "marked actions")
	sessionTTL, usedTTL := client.PTTL(ctx, session).Val(), client.PTTL(ctx, used).Val()
	assert.True(t, usedTTL > 0 && usedTTL <= sessionTTL+time.Millisecond, "PTTL %s: got %v, want at most the session's %v", used, usedTTL, sessionTTL)

	// Replacing the session drops its marks; revoking it deletes both.
	require.NoError(t, s.CreateSession(ctx, h, sess, time.Minute))
	assert.Zero(t, client.Exists(ctx, used).Val(), "use marks of a replaced session")
	_, err = s.UseSession(ctx, h, "redeem")
	require.NoError(t, err)
	deleted, err := s.RevokeSession(ctx, h)
	require.NoError(t, err)
	assert.True(t, deleted)
	assert.Zero(t, client.Exists(ctx, session, used).Val(), "session and marks after RevokeSession")

	// RevokeSessions drops from the index the sessions it deleted.
	require.NoError(t, s.CreateSession(ctx, h, sess, time.Minute))
	_, err = s.UseSession(ctx, h, "redeem")
	require.NoError(t, err)
	n, err := s.RevokeSessions(ctx, store.ScopeCustomer, "c-1")
	require.NoError(t, err)
	assert.Equal(t, 2, n) // h and "short"
	assert.Zero(t, client.Exists(ctx, session, used, prefix+"{c:c-1}:sessions").Val(), "session, marks and customer index after RevokeSessions")
	assert.Equal(t, int64(2), client.ZCard(ctx, prefix+"{i:goomer}:sessions").Val(), "integration index entries, left to expire")
}

func TestSessionIndexPruned(t *testing.T) {
	// Entries whose time has passed are dropped when the next session is
	// indexed, so an index that never expires does not grow without end.
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := []string{prefix + "{c:c}:sessions", prefix + "{i:i}:sessions"}
	past := float64(time.Now().Add(-time.Second).UnixMilli())
	future := float64(time.Now().Add(time.Hour).UnixMilli())
	for _, key := range keys {
		for i := range 20 {
			require.NoError(t, client.ZAdd(ctx, key, redis.Z{Score: past, Member: fmt.Sprint("old-", i)}).Err())
		}
		require.NoError(t, client.ZAdd(ctx, key, redis.Z{Score: future, Member: "later"}).Err())
	}
	require.NoError(t, s.CreateSession(ctx, store.HashToken("new"), store.Session{CustomerID: "c", Integration: "i"}, time.Minute))
	for _, key := range keys {
		got := client.ZRange(ctx, key, 0, -1).Val()
		assert.Equal(t, []string{store.HashToken("new"), "later"}, got, "entries of %s", key)
	}
}

func TestRevokeSessionsPages(t *testing.T) {
	// More sessions than one ZSCAN page: all are counted and revoked, once
	// each, with the revocation script missing from the server's cache.
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const n = 3*indexPage + 7
	for i := range n {
		require.NoError(t, s.CreateSession(ctx, store.HashToken(fmt.Sprint(i)), store.Session{CustomerID: fmt.Sprint("c-", i%2), Integration: "big"}, time.Minute))
	}
	count, err := s.CountSessions(ctx, store.ScopeIntegration, "big")
	require.NoError(t, err)
	assert.Equal(t, n, count)
	require.NoError(t, client.ScriptFlush(ctx).Err())
	revoked, err := s.RevokeSessions(ctx, store.ScopeIntegration, "big")
	require.NoError(t, err)
	assert.Equal(t, n, revoked)
	keys, err := redistest.Keys(ctx, client, prefix+"session:")
	require.NoError(t, err)
	assert.Empty(t, keys, "sessions left")
	count, err = s.CountSessions(ctx, store.ScopeCustomer, "c-1")
	require.NoError(t, err)
	assert.Zero(t, count)
}

func TestCorruptSessionIndexed(t *testing.T) {
	// A session that does not decode makes CountSessions and
	// RevokeSessions fail (closed), and one without expiry makes UseSession
	// fail.
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{CustomerID: "c", Integration: "i"}, time.Minute))
	require.NoError(t, client.Set(ctx, prefix+"session:{h}", "\x01garbage", time.Minute).Err())
	_, err := s.CountSessions(ctx, store.ScopeCustomer, "c")
	assert.ErrorIs(t, err, errCorruptSession)
	assert.ErrorContains(t, err, "redisstore: count sessions: corrupt session")
	_, err = s.RevokeSessions(ctx, store.ScopeIntegration, "i")
	assert.ErrorIs(t, err, errCorruptSession)
	assert.ErrorContains(t, err, "redisstore: revoke sessions: corrupt session")

	require.NoError(t, client.Set(ctx, prefix+"session:{h}", "x", 0).Err())
	_, err = s.UseSession(ctx, "h", "redeem")
	assert.ErrorContains(t, err, "redisstore: use session: session without expiry")

	_, err = s.RevokeSessions(ctx, store.ScopePair, "c")
	assert.ErrorContains(t, err, "redisstore: revoke sessions: scope integration-customer")
	_, err = s.CountSessions(ctx, store.ScopeNone, "c")
	assert.ErrorContains(t, err, "redisstore: count sessions: scope none")
}

func TestStatusUnlockAwkwardIntegrations(t *testing.T) {
	// Status and Unlock(subject, "") build the pairs' keys in Lua from the
	// subject's set of pairs: whatever an integration ID holds, they find
	// its keys, as the Go side names them.
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const subject = "email:\"{weird}\"@x"
	lockPair := store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: 0, LockFor: time.Minute},
		Customer:    store.Budget{Limit: noLimit, Window: time.Minute, LockFor: time.Minute},
	}
	var want []string
	for i, in := range awkward {
		p := store.Pair{Integration: in, Subject: subject}
		if i%2 == 0 {
			_, err := s.Fail(ctx, p, lockPair)
			require.NoError(t, err)
		} else {
			require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Minute))
			a, err := s.AttemptCode(ctx, p, wide())
			require.NoError(t, err)
			require.True(t, a.Found)
		}
		want = append(want, in)
	}
	slices.Sort(want)
	st, err := s.Status(ctx, subject)
	require.NoError(t, err)
	var got []string
	for _, ps := range st.Pairs {
		got = append(got, ps.Integration)
		if slices.Index(awkward, ps.Integration)%2 == 0 {
			assert.True(t, ps.Lock.Locked(), "pair %q: want locked", ps.Integration)
		} else {
			assert.Equal(t, 1, ps.Failures, "pair %q failures", ps.Integration)
		}
	}
	assert.Equal(t, want, got, "pairs in Status")
	assert.Equal(t, len(awkward)/2, st.CustomerFailures)

	// Unlock one pair: exactly its lock key goes.
	tagged := prefix + "{" + tag(subject) + "}:"
	require.NoError(t, s.Unlock(ctx, subject, "}{x"))
	assert.Zero(t, client.Exists(ctx, tagged+"lock:"+tag("}{x")).Val())

	require.NoError(t, s.Unlock(ctx, subject, ""))
	keys, err := redistest.Keys(ctx, client, tagged)
	require.NoError(t, err)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, tagged+"code:"), "key %q after Unlock(subject, \"\"): want only codes left", k)
	}
	st, err = s.Status(ctx, subject)
	require.NoError(t, err)
	assert.Equal(t, store.Status{}, st)
}

func TestStatusCorruptCount(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, client.Set(ctx, prefix+"{bad}:cfails", "x", time.Minute).Err())
	_, err := s.Status(ctx, "bad")
	assert.ErrorContains(t, err, "redisstore: status: customer count: corrupt count")

	require.NoError(t, client.Del(ctx, prefix+"{bad}:cfails").Err())
	require.NoError(t, client.SAdd(ctx, prefix+"{bad}:pairs", "goomer").Err())
	require.NoError(t, client.Set(ctx, prefix+"{bad}:fails:goomer", "1.5", time.Minute).Err())
	_, err = s.Status(ctx, "bad")
	assert.ErrorContains(t, err, `redisstore: status: count of pair "goomer": corrupt count`)
}

// TestUnlockRelists checks that Unlock of one pair drops it from the
// subject's set of pairs, and that its next count lists it again.
func TestUnlockRelists(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.PutCode(ctx, goomer, store.Code{ID: "c"}, time.Minute))
	_, err := s.AttemptCode(ctx, goomer, wide())
	require.NoError(t, err)
	pairs := prefix + "{" + goomer.Subject + "}:pairs"
	assert.Equal(t, []string{"goomer"}, client.SMembers(ctx, pairs).Val())
	require.NoError(t, s.Unlock(ctx, goomer.Subject, "goomer"))
	assert.Empty(t, client.SMembers(ctx, pairs).Val())
	_, err = s.AttemptCode(ctx, goomer, wide())
	require.NoError(t, err)
	assert.Equal(t, []string{"goomer"}, client.SMembers(ctx, pairs).Val())
	st, err := s.Status(ctx, goomer.Subject)
	require.NoError(t, err)
	assert.Equal(t, []store.PairStatus{{Integration: "goomer", Failures: 1}}, st.Pairs)
}
