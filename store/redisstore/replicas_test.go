package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/storetest"
)

// waitTestTimeout is the operation timeout of the stores that wait for a
// replica, and waitSlack what a refusal may take beyond it.
const (
	waitTestTimeout = 300 * time.Millisecond
	waitSlack       = 300 * time.Millisecond
)

// replicated is a master and its replica that a test started.
type replicated struct {
	master, replica *redistest.Server
	client          *redis.Client // of the master
}

// startReplicated starts a master and one replica of it.
func startReplicated(tb testing.TB) replicated {
	tb.Helper()
	m := redistest.StartServer(tb)
	r := redistest.StartReplica(tb, m)
	return replicated{master: m, replica: r, client: redistest.NewClient(tb, m.Addr())}
}

// waitingCall is one call of a method that waits for replicas, on records
// that setUp made.
type waitingCall struct {
	name string
	call func(ctx context.Context, s *Store) error
}

// waitSetUp writes the records that the waiting calls of rounds use.
func waitSetUp(tb testing.TB, s *Store, rounds ...string) {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, s.PutCode(ctx, goomer, store.Code{ID: "c1", MAC: []byte("m")}, time.Minute))
	require.NoError(tb, s.PutCode(ctx, saipos, store.Code{ID: "c2", MAC: []byte("m")}, time.Minute))
	sess := store.Session{Integration: "goomer", CustomerID: "c-1", ExpiresAt: time.Now().Add(time.Minute)}
	require.NoError(tb, s.CreateSession(ctx, store.HashToken("t1"), sess, time.Minute))
	for _, round := range rounds {
		sess.CustomerID = "revoke-" + round
		require.NoError(tb, s.CreateSession(ctx, store.HashToken("revoke-"+round), sess, time.Minute))
		sess.CustomerID = "revoke-all-" + round
		require.NoError(tb, s.CreateSession(ctx, store.HashToken("revoke-all-"+round), sess, time.Minute))
	}
}

// waitingCalls returns a call of every method that waits for replicas, on
// the records waitSetUp wrote for round.
func waitingCalls(round string) []waitingCall {
	return []waitingCall{
		{"AttemptCode", func(ctx context.Context, s *Store) error {
			a, err := s.AttemptCode(ctx, goomer, wide())
			if err == nil && !a.Found {
				return errors.New("AttemptCode: no code")
			}
			return err
		}},
		{"ConsumeCode", func(ctx context.Context, s *Store) error {
			_, err := s.ConsumeCode(ctx, saipos, "c2")
			return err
		}},
		{"Fail", func(ctx context.Context, s *Store) error {
			_, err := s.Fail(ctx, goomer, wide())
			return err
		}},
		{"UseSession", func(ctx context.Context, s *Store) error {
			_, err := s.UseSession(ctx, store.HashToken("t1"), "redeem-"+round)
			return err
		}},
		{"RevokeSession", func(ctx context.Context, s *Store) error {
			deleted, err := s.RevokeSession(ctx, store.HashToken("revoke-"+round))
			if err == nil && !deleted {
				return errors.New("RevokeSession: no session")
			}
			return err
		}},
		{"RevokeSessions", func(ctx context.Context, s *Store) error {
			n, err := s.RevokeSessions(ctx, store.ScopeCustomer, "revoke-all-"+round)
			if err == nil && n != 1 {
				return fmt.Errorf("RevokeSessions: revoked %d, want 1", n)
			}
			if err != nil && n != 0 {
				return fmt.Errorf("RevokeSessions: revoked %d with %w, want 0", n, err)
			}
			return err
		}},
		{"Unlock", func(ctx context.Context, s *Store) error {
			return s.Unlock(ctx, goomer.Subject, "")
		}},
		{"Hit", func(ctx context.Context, s *Store) error {
			_, err := s.Hit(ctx, "sends:"+round, 10, time.Minute)
			return err
		}},
		{"Cooldown", func(ctx context.Context, s *Store) error {
			_, _, err := s.Cooldown(ctx, "cool:"+round, time.Minute)
			return err
		}},
		{"Take", func(ctx context.Context, s *Store) error {
			_, _, err := s.Take(ctx, "rate:"+round, 10, 10)
			return err
		}},
		{"Take, never refills", func(ctx context.Context, s *Store) error {
			_, _, err := s.Take(ctx, "fixed:"+round, 0, 10)
			return err
		}},
	}
}

// assertRefused checks that err wraps ErrReplicas and came within the
// operation timeout.
func assertRefused(t *testing.T, name string, err error, elapsed time.Duration) {
	t.Helper()
	assert.ErrorIs(t, err, ErrReplicas, "%s: got %v, want ErrReplicas", name, err)
	assert.Contains(t, fmt.Sprint(err), "redisstore: ", "%s: the error names the store", name)
	assert.Less(t, elapsed, waitTestTimeout+waitSlack, "%s: refused after %v, want within the timeout %v", name, elapsed, waitTestTimeout)
}

func TestMinReplicas(t *testing.T) {
	rs := startReplicated(t)
	s, err := New(rs.client, WithMinReplicas(1), WithTimeout(waitTestTimeout))
	require.NoError(t, err)
	waitSetUp(t, s, "up", "paused", "resumed")
	ctx := context.Background()
	rc := redistest.NewClient(t, rs.replica.Addr())

	t.Run("replica up", func(t *testing.T) {
		for _, c := range waitingCalls("up") {
			require.NoError(t, c.call(ctx, s), c.name)
		}
		// The replica acknowledged the writes before the calls returned.
		at, err := rc.HGet(ctx, s.keysOf(goomer).code, "at").Result()
		require.NoError(t, err)
		assert.Equal(t, "1", at, "attempts on the replica: got %s, want 1", at)
		n, err := rc.Exists(ctx, s.keysOf(saipos).code).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "the consumed code is still on the replica")
		used, err := rc.HExists(ctx, s.usedKey(store.HashToken("t1")), "redeem-up").Result()
		require.NoError(t, err)
		assert.True(t, used, "the use mark is not on the replica")
		for _, tok := range []string{"revoke-up", "revoke-all-up"} {
			n, err = rc.Exists(ctx, s.sessionKey(store.HashToken(tok))).Result()
			require.NoError(t, err)
			assert.Zero(t, n, "the revoked session %s is still on the replica", tok)
		}
	})

	t.Run("replica paused", func(t *testing.T) {
		rs.replica.Pause()
		defer rs.replica.Resume()
		for _, c := range waitingCalls("paused") {
			start := time.Now()
			err := c.call(ctx, s)
			assertRefused(t, c.name, err, time.Since(start))
		}
		// A caller's shorter deadline bounds the wait too.
		const shorter = waitTestTimeout - 50*time.Millisecond
		short, cancel := context.WithTimeout(ctx, shorter)
		defer cancel()
		start := time.Now()
		_, err := s.AttemptCode(short, goomer, wide())
		assert.ErrorIs(t, err, ErrReplicas)
		assert.Regexp(t, `within 1[12][0-9]ms$`, fmt.Sprint(err), "WAIT's timeout: the caller's deadline less a tenth and a tick")
		assert.Less(t, time.Since(start), shorter+waitSlack, "the caller's deadline")

		// The writes that do not enforce anything do not wait.
		for name, call := range map[string]func() error{
			"PutCode": func() error { return s.PutCode(ctx, goomer, store.Code{ID: "c3"}, time.Minute) },
			"Succeed": func() error { return s.Succeed(ctx, goomer) },
			"Refund":  func() error { return s.Refund(ctx, "sends:up") },
			"CreateSession": func() error {
				return s.CreateSession(ctx, store.HashToken("t4"), store.Session{Integration: "goomer", CustomerID: "c-4"}, time.Minute)
			},
		} {
			start := time.Now()
			require.NoError(t, call(), name)
			assert.Less(t, time.Since(start), waitTestTimeout/2, "%s took %v: it waited", name, time.Since(start))
		}
	})

	t.Run("replica resumed", func(t *testing.T) {
		for _, c := range waitingCalls("resumed") {
			require.NoError(t, c.call(ctx, s), c.name)
		}
	})
}

func TestMinReplicasMoreThanConnected(t *testing.T) {
	rs := startReplicated(t)
	s, err := New(rs.client, WithMinReplicas(2), WithTimeout(waitTestTimeout))
	require.NoError(t, err)
	waitSetUp(t, s, "two")
	for _, c := range waitingCalls("two") {
		start := time.Now()
		err := c.call(context.Background(), s)
		assertRefused(t, c.name, err, time.Since(start))
		assert.Contains(t, fmt.Sprint(err), "1 of 2", "%s: the error counts the replicas", c.name)
	}
}

// TestMinReplicasNoScript checks that a write whose script the server does
// not have yet (after SCRIPT FLUSH, a restart or a failover) loads it and
// still waits.
func TestMinReplicasNoScript(t *testing.T) {
	rs := startReplicated(t)
	s, err := New(rs.client, WithMinReplicas(1), WithTimeout(waitTestTimeout))
	require.NoError(t, err)
	waitSetUp(t, s, "flushed", "flushed-paused")
	ctx := context.Background()
	require.NoError(t, rs.client.ScriptFlush(ctx).Err())
	for _, c := range waitingCalls("flushed") {
		require.NoError(t, c.call(ctx, s), c.name)
	}
	require.NoError(t, rs.client.ScriptFlush(ctx).Err())
	rs.replica.Pause()
	defer rs.replica.Resume()
	for _, c := range waitingCalls("flushed-paused") {
		start := time.Now()
		err := c.call(ctx, s)
		assertRefused(t, c.name, err, time.Since(start))
	}
}

// TestMinReplicasRevokeSessionsPages checks that RevokeSessions waits after
// each page and counts only what was acknowledged.
func TestMinReplicasRevokeSessionsPages(t *testing.T) {
	rs := startReplicated(t)
	s, err := New(rs.client, WithMinReplicas(1), WithTimeout(time.Second))
	require.NoError(t, err)
	ctx := context.Background()
	const n = 2*indexPage + 10
	for i := range n {
		h := store.HashToken(fmt.Sprint("tok", i))
		require.NoError(t, s.CreateSession(ctx, h, store.Session{Integration: "goomer", CustomerID: "c-1"}, time.Minute))
	}
	revoked, err := s.RevokeSessions(ctx, store.ScopeCustomer, "c-1")
	require.NoError(t, err)
	assert.Equal(t, n, revoked)
	left, err := redistest.NewClient(t, rs.replica.Addr()).Keys(ctx, s.prefix+"session:*").Result()
	require.NoError(t, err)
	assert.Empty(t, left, "sessions left on the replica")
}

func TestMinReplicasConformance(t *testing.T) {
	rs := startReplicated(t)
	storetest.Run(t, storetest.Harness{
		New: func(tb testing.TB) store.Store {
			s, err := New(rs.client, WithPrefix(redistest.Prefix(tb, rs.client)), WithMinReplicas(1), WithTimeout(2*time.Second))
			require.NoError(tb, err)
			return s
		},
		Advance: func(_ testing.TB, d time.Duration) { time.Sleep(d) },
	})
}

// TestMinReplicasClusterConformance runs the conformance suite on a cluster
// client that waits for the replica: each write goes to the master of its
// key's slot, in a pipeline with its WAIT.
func TestMinReplicasClusterConformance(t *testing.T) {
	cc, _ := startCluster(t)
	storetest.Run(t, storetest.Harness{
		New: func(tb testing.TB) store.Store {
			s, err := New(cc, WithPrefix(redistest.Prefix(tb, cc)), WithMinReplicas(1), WithTimeout(2*time.Second))
			require.NoError(tb, err)
			return s
		},
		Advance: func(_ testing.TB, d time.Duration) { time.Sleep(d) },
	})
}

// wrappedClient is a client New cannot see through.
type wrappedClient struct{ *redis.Client }

func TestNewMinReplicas(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true})
	defer ring.Close()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	defer cluster.Close()
	failover := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	defer failover.Close()

	tests := []struct {
		name        string
		client      redis.UniversalClient
		n           int
		wantErr     string
		waitIndexes bool
	}{
		{"off by default", c, 0, "", false},
		{"client", c, 2, "", false},
		{"sentinel failover client", failover, 1, "", false},
		{"cluster", cluster, 1, "", true},
		{"ring", ring, 1, "", true},
		{"negative", c, -1, "min replicas -1 is negative", false},
		{"unknown client", wrappedClient{c}, 1, "WAIT needs a *redis.Client, *redis.ClusterClient or *redis.Ring", false},
		{"unknown client, off", wrappedClient{c}, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.client, WithMinReplicas(tt.n))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), "redisstore: new: "), "got %q", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, s.minReplicas)
			assert.Equal(t, tt.waitIndexes, s.waitIndexes, "waitIndexes")
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: 200 * time.Millisecond})
	defer c.Close()
	blocking := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: -1})
	defer blocking.Close()
	in := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name   string
		ctx    context.Context
		node   *redis.Client
		lo, hi time.Duration
	}{
		{"a tenth and a tick of the deadline kept for the reply", in(300 * time.Millisecond), blocking, 165 * time.Millisecond, 170 * time.Millisecond},
		{"the read timeout bounds it", in(time.Second), c, 80 * time.Millisecond, 80 * time.Millisecond},
		{"never 0 (WAIT 0 blocks)", in(100 * time.Millisecond), blocking, time.Millisecond, time.Millisecond},
		{"never 0, past the deadline", in(time.Microsecond), blocking, time.Millisecond, time.Millisecond},
		{"no deadline", context.Background(), blocking, DefaultTimeout*9/10 - waitTick, DefaultTimeout*9/10 - waitTick},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := waitTimeout(tt.ctx, tt.node)
			assert.True(t, got >= tt.lo && got <= tt.hi, "got %v, want in [%v, %v]", got, tt.lo, tt.hi)
			assert.Zero(t, got%time.Millisecond, "got %v, want whole milliseconds", got)
		})
	}
}

// startCluster starts a Redis Cluster of one master, which serves every
// slot, and one replica of it, and returns a cluster client of them.
func startCluster(tb testing.TB) (*redis.ClusterClient, replicated) {
	tb.Helper()
	cluster := []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "15000"}
	m := redistest.StartServer(tb, cluster...)
	r := redistest.StartServer(tb, cluster...)
	mc, rc := redistest.NewClient(tb, m.Addr()), redistest.NewClient(tb, r.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(tb, mc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err())
	id, err := mc.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(tb, err)
	host, port, _ := net.SplitHostPort(m.Addr())
	require.NoError(tb, rc.Do(ctx, "CLUSTER", "MEET", host, port).Err())
	until := func(what string, ok func() bool) {
		tb.Helper()
		for !ok() {
			if ctx.Err() != nil {
				tb.Fatalf("cluster: %s: not within 20s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	until("the replica replicates", func() bool {
		return rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err() == nil
	})
	until("cluster_state:ok and the link up", func() bool {
		mi, err1 := mc.ClusterInfo(ctx).Result()
		ri, err2 := rc.ClusterInfo(ctx).Result()
		rep, err3 := rc.Info(ctx, "replication").Result()
		mrep, err4 := mc.Info(ctx, "replication").Result()
		return err1 == nil && err2 == nil && err3 == nil && err4 == nil &&
			strings.Contains(mi, "cluster_state:ok") && strings.Contains(ri, "cluster_state:ok") &&
			strings.Contains(rep, "master_link_status:up") && strings.Contains(mrep, "state=online")
	})
	// The master holds the stream back until the replica's first
	// acknowledgement, up to a second after the sync.
	var wait *redis.IntCmd
	_, err = mc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "redistest:first-ack", "1", time.Second)
		wait = redis.NewIntCmd(ctx, "wait", 1, 10000)
		return p.Process(ctx, wait)
	})
	require.NoError(tb, err)
	require.Equal(tb, int64(1), wait.Val(), "the replica acknowledged nothing")
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc, replicated{master: m, replica: r, client: mc}
}

// TestMinReplicasCluster runs the waiting calls on a cluster client, whose
// writes go to the master of their key's slot.
func TestMinReplicasCluster(t *testing.T) {
	cc, rs := startCluster(t)
	s, err := New(cc, WithMinReplicas(1), WithTimeout(waitTestTimeout))
	require.NoError(t, err)
	require.True(t, s.waitIndexes)
	ctx := context.Background()
	waitSetUp(t, s, "up", "paused", "resumed")

	for _, c := range waitingCalls("up") {
		require.NoError(t, c.call(ctx, s), c.name)
	}
	rs.replica.Pause()
	for _, c := range waitingCalls("paused") {
		start := time.Now()
		err := c.call(ctx, s)
		assertRefused(t, c.name, err, time.Since(start))
	}
	// On a cluster, a session's index writes wait too.
	start := time.Now()
	err = s.CreateSession(ctx, store.HashToken("t5"), store.Session{Integration: "goomer", CustomerID: "c-5"}, time.Minute)
	assertRefused(t, "CreateSession", err, time.Since(start))
	_, found, err := s.GetSession(ctx, store.HashToken("t5"))
	require.NoError(t, err)
	assert.False(t, found, "a session whose index was not acknowledged was stored")
	rs.replica.Resume()
	for _, c := range waitingCalls("resumed") {
		require.NoError(t, c.call(ctx, s), c.name)
	}
	require.NoError(t, s.CreateSession(ctx, store.HashToken("t5"), store.Session{Integration: "goomer", CustomerID: "c-5"}, time.Minute))
}

// TestMinReplicasTakeNoop checks that the calls that write nothing by their
// arguments do not wait.
func TestMinReplicasTakeNoop(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := New(c, WithMinReplicas(1))
	require.NoError(t, err)
	ctx := context.Background()
	ok, _, err := s.Take(ctx, "k", rate.Inf, 1)
	assert.True(t, ok)
	assert.NoError(t, err)
	ok, _, err = s.Take(ctx, "k", 1, 0)
	assert.False(t, ok)
	assert.NoError(t, err)
	ok, _, err = s.Cooldown(ctx, "k", 0)
	assert.True(t, ok)
	assert.NoError(t, err)
}
