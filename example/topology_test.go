package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/internal/testio"
)

// The tests of this file run the example on the Redis topologies it
// supports: a Redis Cluster (the test cluster of OTPGUARD_REDIS_CLUSTER_ADDRS),
// a master behind a Sentinel, a master whose writes a replica must
// acknowledge, and Redis servers whose eviction policy it must refuse or
// cannot read. Apart from the cluster, the servers are started by each test
// on ports of their own and killed when it ends. Every wait is bounded.

// testPepper is the code-signing key that the instances of a test share.
var testPepper = map[string]string{"OTPGUARD_PEPPER": strings.Repeat("5a", 32)}

// partnerKey returns the API key of the partner id.
func partnerKey(t *testing.T, id string) string {
	t.Helper()
	for _, p := range loyalty.Partners {
		if p.ID == id {
			return p.Key
		}
	}
	require.FailNow(t, "no such partner", id)
	return ""
}

// call sends one request to url with the partner's API key, the session
// (left out when "") and a JSON body (none when ""), and returns the status
// and the body. The request is bounded, so a server that hangs fails the
// test instead of blocking it.
func call(t *testing.T, method, url, apiKey, session, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", apiKey)
	if session != "" {
		req.Header.Set("X-OTP-Session", session)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// deliveries returns the codes delivered to Maria so far, in order, from
// the development sender's lines on stdout.
func deliveries(t *testing.T, stdout *testio.Buffer) []string {
	t.Helper()
	var codes []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var d struct{ To, Code string }
		require.NoError(t, json.Unmarshal([]byte(line), &d), "stdout line %q", line)
		if d.To == loyalty.MariaPhone {
			codes = append(codes, d.Code)
		}
	}
	return codes
}

// requestOTP asks base for a code for Maria with the Goomer key, and
// returns the status and body.
func requestOTP(t *testing.T, base string) (int, string) {
	t.Helper()
	return call(t, http.MethodPost, base+"/api/v2/auth/request-otp/", partnerKey(t, "goomer"), "", `{"identifier": "`+loyalty.MariaPhone+`"}`)
}

// requestCode asks base for a code for Maria and returns the code, read
// from the delivery it printed on stdout.
func requestCode(t *testing.T, base string, stdout *testio.Buffer) string {
	t.Helper()
	before := len(deliveries(t, stdout))
	status, body := requestOTP(t, base)
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	codes := deliveries(t, stdout)
	require.Len(t, codes, before+1, "deliveries to Maria: got %d, want %d", len(codes), before+1)
	return codes[len(codes)-1]
}

// verifyOTP verifies code for Maria on base with the Goomer key, and
// returns the status and body.
func verifyOTP(t *testing.T, base, code string) (int, string) {
	t.Helper()
	return call(t, http.MethodPost, base+"/api/v2/auth/verify-otp/", partnerKey(t, "goomer"), "",
		`{"identifier": "`+loyalty.MariaPhone+`", "otp_code": "`+code+`"}`)
}

// sessionOf returns the otp_session of a verify-otp response body, "" when
// it has none.
func sessionOf(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Data struct {
			Session string `json:"otp_session"`
		}
	}
	_ = json.Unmarshal([]byte(body), &v) // a problem body has no session
	return v.Data.Session
}

// redeemCoffee redeems Maria's free coffee on base with the Goomer key and
// session, and returns the status and body.
func redeemCoffee(t *testing.T, base, session string) (int, string) {
	t.Helper()
	return call(t, http.MethodPost, base+"/api/v2/customers/"+loyalty.MariaID+"/rewards/rwd_free_coffee/redeem/",
		partnerKey(t, "goomer"), session, `{"use_z_tokens": false}`)
}

// balance returns Maria's points as base reports them to Repediu, which
// needs no OTP to read them.
func balance(t *testing.T, base string) int {
	t.Helper()
	status, body := call(t, http.MethodGet, base+"/api/v2/customers/"+loyalty.MariaID+"/balance", partnerKey(t, "repediu"), "", "")
	require.Equal(t, http.StatusOK, status, "balance: body %s", body)
	var b struct {
		Data struct {
			Points int `json:"points_balance"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &b), "balance: body %s", body)
	return b.Data.Points
}

// eventually calls try until it returns true or within passes, pausing
// between tries, and fails the test with what when it never does.
func eventually(t *testing.T, within time.Duration, what string, try func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !try() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out", "%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunClusterTwoInstances runs two instances of the example on the test
// Redis Cluster with one pepper, as behind a load balancer: a code sent by
// one is verified by the other, the session is used on the first, the
// second sees the points it spent, and a code verified once is refused
// when replayed. Every key the instances wrote, on every master, expires.
func TestRunClusterTwoInstances(t *testing.T) {
	client := redistest.ClusterClient(t)
	prefix := redistest.Prefix(t, client)
	args := []string{"-store", "redis", "-redis-addr", strings.Join(redistest.ClusterAddrs(), ","),
		"-redis-prefix", prefix, "-redis-timeout", "2s"}
	a, aOut, aErr := startRunOutput(t, args, testPepper)
	b, bOut, _ := startRunOutput(t, args, testPepper)
	assert.Contains(t, aErr.String(), "store: redis cluster at "+strings.Join(redistest.ClusterAddrs(), ","))

	code := requestCode(t, a, aOut)
	assert.Empty(t, deliveries(t, bOut), "B delivered a code that A was asked for")
	status, body := verifyOTP(t, b, code)
	require.Equal(t, http.StatusOK, status, "verify-otp on B of A's code: body %s", body)
	session := sessionOf(t, body)
	require.NotEmpty(t, session, "verify-otp on B: no otp_session in %s", body)

	before := balance(t, b)
	status, body = redeemCoffee(t, a, session)
	require.Equal(t, http.StatusOK, status, "redeem on A with B's session: body %s", body)
	after := balance(t, b)
	assert.Equal(t, before-100, after,
		"Maria's balance on B after A redeemed a 100-point coffee: got %d, want %d; B must read the loyalty data that A changed, on Redis", after, before-100)

	status, body = verifyOTP(t, b, code)
	assert.True(t, status >= 400 && status < 500, "replayed code on B: got %d, want a 4xx refusal; body %s", status, body)
	assert.Empty(t, sessionOf(t, body), "replayed code on B: got a session, want none")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		found   int
		forever []string
	)
	err := client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			ttl, err := node.PTTL(ctx, k).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			found++
			if ttl != -2 && ttl <= 0 { // -2: expired since the scan; -1: no expiry
				forever = append(forever, fmt.Sprintf("%s on %s (PTTL %v)", k, node.Options().Addr, ttl))
			}
			mu.Unlock()
		}
		return iter.Err()
	})
	require.NoError(t, err)
	assert.NotZero(t, found, "no key under %s on any master", prefix)
	assert.Empty(t, forever, "keys without an expiry: got %d of %d, want none", len(forever), found)
}

// TestRunSentinelFailover runs the example on a master behind a Sentinel,
// kills the master, and checks that once the Sentinel has promoted the
// replica the example serves the OTP flow again, without a restart.
func TestRunSentinelFailover(t *testing.T) {
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	sentinel := redistest.StartSentinel(t, "mymaster", master)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = sc.Close() })
	ctx := context.Background()
	_, replicaPort, err := net.SplitHostPort(replica.Addr())
	require.NoError(t, err)
	// The Sentinel must know the replica, or it has none to promote.
	eventually(t, 15*time.Second, "the sentinel lists the replica", func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		replicas, err := sc.Replicas(cctx, "mymaster").Result()
		if err != nil {
			return false
		}
		for _, r := range replicas {
			if r["port"] == replicaPort {
				return true
			}
		}
		return false
	})

	base, stdout, stderr := startRunOutput(t, []string{"-store", "redis", "-redis-master", "mymaster", "-redis-addr", sentinel.Addr(),
		"-redis-timeout", "1s", "-resend-cooldown", "0s", "-send-limit", "100", "-customer-send-limit", "100"}, testPepper)
	assert.Contains(t, stderr.String(), `store: redis master "mymaster" via the sentinels at `+sentinel.Addr())
	status, body := verifyOTP(t, base, requestCode(t, base, stdout))
	require.Equal(t, http.StatusOK, status, "verify-otp before the failover: body %s", body)

	master.Kill()
	eventually(t, 30*time.Second, "the sentinel promotes the replica", func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		addr, err := sc.GetMasterAddrByName(cctx, "mymaster").Result()
		return err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == replica.Addr()
	})
	// Requests fail closed (503) until the example's client reaches the
	// new master.
	eventually(t, 20*time.Second, "request-otp answers 200 after the failover", func() bool {
		status, body := requestOTP(t, base)
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			require.FailNow(t, "request-otp during the failover", "got %d, want 200 or 503; body %s", status, body)
		}
		return status == http.StatusOK
	})
	codes := deliveries(t, stdout)
	status, body = verifyOTP(t, base, codes[len(codes)-1])
	assert.Equal(t, http.StatusOK, status, "verify-otp after the failover: body %s", body)
}

// TestRunEvictingRedis checks that the example refuses to start on a Redis
// that may evict keys, naming the setting to change.
func TestRunEvictingRedis(t *testing.T) {
	srv := redistest.StartServer(t, "--maxmemory-policy", "allkeys-lru")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-store", "redis", "-redis-addr", srv.Addr()}, envOf(testPepper), &stdout, &stderr)
	require.Error(t, err, "got no error on a Redis with maxmemory-policy allkeys-lru")
	assert.Contains(t, err.Error(), "maxmemory-policy")
	assert.Contains(t, err.Error(), "allkeys-lru")
	assert.Contains(t, err.Error(), "noeviction")
	assert.NotContains(t, stderr.String(), "loyalty API on", "the example served")
}

// TestRunConfigUnavailable checks that the example starts on a Redis that
// does not let it read its configuration (CONFIG disabled, as on many
// managed services), with a warning on stderr.
func TestRunConfigUnavailable(t *testing.T) {
	srv := redistest.StartServer(t, "--rename-command", "CONFIG", "")
	base, stdout, stderr := startRunOutput(t, []string{"-store", "redis", "-redis-addr", srv.Addr()}, testPepper)
	assert.Regexp(t, `(?m)^warning: cannot check the maxmemory-policy of redis at `+srv.Addr()+`: make sure it is noeviction`, stderr.String())
	status, body := verifyOTP(t, base, requestCode(t, base, stdout))
	assert.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
}

// TestRunMinReplicas runs the example with -redis-min-replicas 1 on a
// master with one replica: requests succeed while the replica acknowledges
// the writes, verify-otp fails closed with 503 within the timeout while the
// replica is paused, and succeeds again once it resumes.
func TestRunMinReplicas(t *testing.T) {
	const timeout = 500 * time.Millisecond
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	// A replica that has just synchronised acknowledges writes only about a
	// second later (Redis streams to it after its first REPLCONF ACK):
	// wait until it acknowledges a write promptly. The write and its WAIT
	// share a connection in a pipeline, since WAIT counts the replicas
	// that have the writes of its connection.
	mc := redistest.NewClient(t, master.Addr())
	eventually(t, 10*time.Second, "the replica acknowledges a write", func() bool {
		var wait *redis.Cmd
		_, err := mc.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			p.Set(context.Background(), "otpguard-test:wait-probe", "1", time.Second)
			wait = p.Do(context.Background(), "WAIT", 1, 100)
			return nil
		})
		n, _ := wait.Int()
		return err == nil && n >= 1
	})
	base, stdout, stderr := startRunOutput(t, []string{"-store", "redis", "-redis-addr", master.Addr(),
		"-redis-min-replicas", "1", "-redis-timeout", timeout.String(),
		"-resend-cooldown", "0s", "-send-limit", "100", "-customer-send-limit", "100"}, testPepper)
	assert.Contains(t, stderr.String(), "each write acknowledged by 1 replica")

	status, body := verifyOTP(t, base, requestCode(t, base, stdout))
	require.Equal(t, http.StatusOK, status, "verify-otp with the replica up: body %s", body)
	status, body = redeemCoffee(t, base, sessionOf(t, body))
	require.Equal(t, http.StatusOK, status, "guarded redeem with the replica up: body %s", body)

	code := requestCode(t, base, stdout)
	replica.Pause()
	paused := true
	defer func() {
		if paused {
			replica.Resume()
		}
	}()
	start := time.Now()
	status, body = verifyOTP(t, base, code)
	took := time.Since(start)
	assert.Equal(t, http.StatusServiceUnavailable, status, "verify-otp with the replica paused: body %s", body)
	assert.Less(t, took, timeout+time.Second, "verify-otp with the replica paused: answered after %v, want within the %v timeout", took, timeout)

	replica.Resume()
	paused = false
	// The write refused above may have consumed the code on the master:
	// ask for a new one.
	eventually(t, 10*time.Second, "verify-otp answers 200 after the replica resumed", func() bool {
		status, _ := requestOTP(t, base)
		if status != http.StatusOK {
			return false
		}
		codes := deliveries(t, stdout)
		status, body = verifyOTP(t, base, codes[len(codes)-1])
		return status == http.StatusOK
	})
}
