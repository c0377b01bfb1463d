package loyalty

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
)

// These tests run the example on a real Redis, through redistest:
// OTPGUARD_REDIS_ADDR, or 127.0.0.1:6379. They skip when it cannot be
// reached, and fail instead when OTPGUARD_REDIS_REQUIRED=1. Each test works
// under its own random key prefix and deletes every key under it when it
// ends; none flushes the database.

// randomPepper returns a fresh code-signing key.
func randomPepper(t *testing.T) [][]byte {
	t.Helper()
	p := make([]byte, 32)
	_, err := rand.Read(p)
	require.NoError(t, err)
	return [][]byte{p}
}

// startRedisInstance starts one example server on its own client of addr,
// with a Redis store under prefix, as `go run ./example -store redis` does.
func startRedisInstance(t *testing.T, addr, prefix string, peppers [][]byte, timeout time.Duration) *live {
	t.Helper()
	st, err := redisstore.New(redistest.NewClient(t, addr), redisstore.WithPrefix(prefix), redisstore.WithTimeout(timeout))
	require.NoError(t, err)
	return startLive(t, Config{Store: st, Peppers: peppers})
}

// twoInstanceFlow runs the flow across two instances A and B sharing one
// Redis, prefix and pepper: request on A, verify on B, redeem on A. It
// returns the session and the prefix.
func twoInstanceFlow(t *testing.T, client *redis.Client) (sess, prefix string) {
	t.Helper()
	prefix = redistest.Prefix(t, client)
	pepper := randomPepper(t)
	a := startRedisInstance(t, redistest.Addr(), prefix, pepper, redisstore.DefaultTimeout)
	b := startRedisInstance(t, redistest.Addr(), prefix, pepper, redisstore.DefaultTimeout)

	status, body := a.requestOTP("goomer", MariaPhone)
	require.Equal(t, http.StatusOK, status, "request-otp on A: got %d, want 200; body %s", status, body)
	code := devCode(t, a.out, MariaPhone)
	assert.Empty(t, b.out.String(), "B sent a code it was not asked for")

	// The resend cooldown that A started holds on B.
	status, h, body := b.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "`+MariaPhone+`"}`)
	assert.Equal(t, http.StatusTooManyRequests, status, "request-otp on B inside A's cooldown: got %d, want 429; body %s", status, body)
	assert.Equal(t, problems+"rate-limit-exceeded", problemType(t, body))
	assert.NotEmpty(t, h.Get("Retry-After"))

	// A wrong guess on B, then the code A sent.
	status, body = b.verifyOTP("goomer", MariaPhone, wrongCode(code))
	assert.Equal(t, http.StatusUnauthorized, status, "wrong code on B: got %d, want 401; body %s", status, body)
	status, body = b.verifyOTP("goomer", MariaPhone, code)
	require.Equal(t, http.StatusOK, status, "verify-otp on B of A's code: got %d, want 200; body %s", status, body)
	sess = session(t, body)

	status, body = a.redeemCoffee(sess)
	require.Equal(t, http.StatusOK, status, "redeem on A with B's session: got %d, want 200; body %s", status, body)
	assert.Regexp(t, `"coupon_code":"ZP-[2-9A-Z]{6}"`, body)
	assert.Equal(t, 50, a.balance())
	return sess, prefix
}

func TestRedisTwoInstances(t *testing.T) {
	client := redistest.Client(t)
	sess, _ := twoInstanceFlow(t, client)
	assert.NotEmpty(t, sess)
}

// TestRedisKeysExpire: after the whole flow, every key under the prefix has
// an expiry, and the session is among them.
func TestRedisKeysExpire(t *testing.T) {
	client := redistest.Client(t)
	sess, prefix := twoInstanceFlow(t, client)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	sessionKey := prefix + "session:{" + store.HashToken(sess) + "}"
	assert.Contains(t, keys, sessionKey, "got keys %v, want the session's", keys)
	for _, k := range keys {
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0), "key %s has PTTL %v, want an expiry", k, ttl)
		assert.NotContains(t, k, sess, "key %s holds the session token", k)
	}
}

// proxy is a TCP proxy on loopback in front of Redis that a test can cut
// and restore.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu        sync.Mutex
	ln        net.Listener
	blackhole bool // accept connections but never answer
	conns     map[net.Conn]bool
	wg        sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			hole := p.blackhole
			p.mu.Unlock()
			if hole {
				continue // held open, never read, never answered
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

// pipe forwards c to the target until either side closes.
func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	<-done
}

// dropConns closes every connection the proxy holds.
func (p *proxy) dropConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// hole makes Redis unresponsive: open connections are cut, and new ones
// are accepted but never answered, so every call runs into its timeout.
func (p *proxy) hole() {
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
	p.dropConns()
}

// cut makes Redis unreachable: the listener and every connection close,
// so connections are refused.
func (p *proxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.dropConns()
}

// restore forwards to Redis again, listening on the same address.
func (p *proxy) restore() {
	p.t.Helper()
	p.mu.Lock()
	p.blackhole = false
	listening := p.ln != nil
	p.mu.Unlock()
	p.dropConns()
	if !listening {
		ln, err := net.Listen("tcp", p.addr)
		require.NoError(p.t, err, "listen again on %s", p.addr)
		p.serve(ln)
	}
}

// TestRedisDown cuts Redis away from a running server: guarded requests
// fail closed with 503 within the operation timeout and never reach the
// handler, unguarded ones are still served, and once Redis is back the same
// server works again.
func TestRedisDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	client := redistest.Client(t)
	prefix := redistest.Prefix(t, client)
	p := startProxy(t, redistest.Addr())
	l := startRedisInstance(t, p.addr, prefix, randomPepper(t), timeout)

	// Enough points for one coffee per phase, awarded without OTP.
	status, _, body := l.call("POST", "/api/v2/customers/"+MariaID+"/points/", key["repediu"], "", `{"points": 100, "description": "two phases"}`)
	require.Equal(t, http.StatusOK, status, "award: body %s", body)
	status, body = l.requestOTP("goomer", MariaPhone)
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	status, body = l.verifyOTP("goomer", MariaPhone, devCode(t, l.out, MariaPhone))
	require.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
	sess := session(t, body)

	balance := 250
	for _, phase := range []struct {
		name string
		down func()
	}{
		{"unresponsive", p.hole},
		{"refused", p.cut},
	} {
		t.Run(phase.name, func(t *testing.T) {
			phase.down()

			start := time.Now()
			status, body := l.redeemCoffee(sess)
			elapsed := time.Since(start)
			assert.Equal(t, http.StatusServiceUnavailable, status, "redeem with Redis down: got %d, want 503; body %s", status, body)
			assert.Equal(t, problems+"service-unavailable", problemType(t, body))
			assert.Less(t, elapsed, 1500*time.Millisecond, "got the 503 after %v, want it within the %v timeout plus slack", elapsed, timeout)
			assert.Equal(t, balance, l.balance(), "the redeem handler ran although the guard could not check the session")

			status, _, body = l.call("GET", "/api/v2/rewards/", key["goomer"], "", "")
			assert.Equal(t, http.StatusOK, status, "rewards with Redis down: got %d, want 200; body %s", status, body)

			p.restore()
			status, body = l.redeemCoffee(sess)
			assert.Equal(t, http.StatusOK, status, "redeem after Redis came back: got %d, want 200; body %s", status, body)
			balance -= 100
			assert.Equal(t, balance, l.balance())
		})
	}
	assert.Contains(t, l.logs.String(), `"reason":"session store failed"`, "the outage was not in the audit log")
}
