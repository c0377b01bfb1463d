package loyalty

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store/redisstore"
)

// These tests run several example servers that share one Redis for both
// the OTP store and the loyalty data (Config.Redis), as `go run ./example
// -store redis` instances behind a load balancer do.

// startShared starts one example server whose OTP store and loyalty data
// are on the test Redis under prefix, with its own client.
func startShared(t *testing.T, prefix string, peppers [][]byte, mods ...func(*Config)) *live {
	t.Helper()
	client := redistest.NewClient(t, redistest.Addr())
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	cfg := Config{Store: st, Peppers: peppers, Redis: client, RedisPrefix: prefix}
	for _, m := range mods {
		m(&cfg)
	}
	return startLive(t, cfg)
}

// twoShared starts two servers A and B sharing the test Redis under a
// fresh prefix, and returns them with a client and the prefix.
func twoShared(t *testing.T, mods ...func(*Config)) (a, b *live, client *redis.Client, prefix string) {
	t.Helper()
	client = redistest.Client(t)
	prefix = redistest.Prefix(t, client)
	pepper := randomPepper(t)
	return startShared(t, prefix, pepper, mods...), startShared(t, prefix, pepper, mods...), client, prefix
}

// do sends one request and returns the status and body. Unlike call it
// neither records the body nor fails the test, so goroutines may use it.
func (l *live) do(method, path, apiKey, session, body string) (int, string, error) {
	r, err := http.NewRequest(method, l.url+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	setHeaders(r, apiKey, session, body)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// data decodes the data member of a success body into v.
func data(t *testing.T, body string, v any) {
	t.Helper()
	var env struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(body), &env), "body %s", body)
	require.NoError(t, json.Unmarshal(env.Data, v), "body %s", body)
}

// lastDevCode returns the code of the last delivery on out, whatever its
// address.
func lastDevCode(t *testing.T, l *live) string {
	t.Helper()
	code := ""
	sc := bufio.NewScanner(strings.NewReader(l.out.String()))
	for sc.Scan() {
		var d struct{ Code string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		code = d.Code
	}
	require.NotEmpty(t, code, "no delivery on stdout")
	return code
}

const redeemCoffeePath = "/api/v2/customers/" + MariaID + "/rewards/rwd_free_coffee/redeem/"

// TestSharedRedeemOnce: Maria's 150 points buy one coffee however many
// redemptions race on two servers; the coupon one issues is used once on
// either; both read the same balance and history.
func TestSharedRedeemOnce(t *testing.T) {
	a, b, _, _ := twoShared(t)
	const perServer = 3
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		won      string
	)
	for i := range 2 * perServer {
		l := []*live{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, err := l.do("POST", redeemCoffeePath, key["repediu"], "", `{"use_z_tokens": false}`)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("redeem: %v", err)
				return
			}
			statuses[status]++
			if status == http.StatusOK {
				won = body
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusUnprocessableEntity: 2*perServer - 1}, statuses,
		"got statuses %v, want one 200 and the rest 422", statuses)
	require.NotEmpty(t, won)
	var r struct {
		Code    string `json:"coupon_code"`
		Balance int    `json:"points_balance"`
	}
	data(t, won, &r)
	assert.Equal(t, 50, r.Balance)
	assert.Equal(t, 50, a.balance())
	assert.Equal(t, 50, b.balance())
	status, _, body := b.call("GET", "/api/v2/customers/"+MariaID+"/history", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, status, "history on B: body %s", body)
	assert.Contains(t, body, `"description":"Free coffee"`)

	// The coupon redeemed on one server is the owner's on the other, and
	// is used once.
	status, _, body = b.call("POST", "/api/v2/coupons/"+r.Code+"/validate/", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, status, "validate on B: body %s", body)
	assert.Contains(t, body, `"customer_id":"`+MariaID+`"`)
	assert.Contains(t, body, `"valid":true`)
	status, _, body = b.call("POST", "/api/v2/coupons/"+r.Code+"/use/", key["repediu"], "", "")
	assert.Equal(t, http.StatusOK, status, "use on B: body %s", body)
	status, _, body = a.call("POST", "/api/v2/coupons/"+r.Code+"/use/", key["repediu"], "", "")
	assert.Equal(t, http.StatusConflict, status, "second use, on A: got %d, want 409; body %s", status, body)
	assert.Equal(t, problems+"coupon-already-used", problemType(t, body))
}

// TestSharedNewCustomerOnce: two partners verify the same new phone at
// once on two servers; both sessions are for one new customer, and one of
// the two answers says it is new.
func TestSharedNewCustomerOnce(t *testing.T) {
	const phone = "+5531987650000"
	a, b, _, _ := twoShared(t, func(c *Config) { c.Limits = limits(noCooldown) })
	status, body := a.requestOTP("goomer", phone)
	require.Equal(t, http.StatusOK, status, "request-otp on A: body %s", body)
	status, body = b.requestOTP("saipos", phone)
	require.Equal(t, http.StatusOK, status, "request-otp on B: body %s", body)
	codes := []string{devCode(t, a.out, phone), devCode(t, b.out, phone)}

	var (
		wg     sync.WaitGroup
		bodies [2]string
		stats  [2]int
		errs   [2]error
	)
	for i, l := range []*live{a, b} {
		partner := []string{"goomer", "saipos"}[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], bodies[i], errs[i] = l.do("POST", "/api/v2/auth/verify-otp/", key[partner], "",
				fmt.Sprintf(`{"identifier": %q, "otp_code": %q}`, phone, codes[i]))
		}()
	}
	wg.Wait()
	var v [2]verified
	for i := range 2 {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusOK, stats[i], "verify-otp %d: body %s", i, bodies[i])
		data(t, bodies[i], &v[i])
	}
	assert.Equal(t, v[0].CustomerID, v[1].CustomerID, "one phone made two customers")
	assert.True(t, v[0].IsNew != v[1].IsNew, "got is_new %v and %v, want exactly one true", v[0].IsNew, v[1].IsNew)

	// The customer is the same on both servers.
	for _, l := range []*live{a, b} {
		status, _, body := l.call("GET", "/api/v2/customers/"+v[0].CustomerID+"/balance", key["repediu"], "", "")
		assert.Equal(t, http.StatusOK, status, "balance: body %s", body)
	}
}

// TestSharedSeedOnce: a server that starts on data that is there already
// leaves it alone: balances and used coupons survive restarts.
func TestSharedSeedOnce(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t, client)
	pepper := randomPepper(t)
	a := startShared(t, prefix, pepper)
	status, _, body := a.call("POST", "/api/v2/customers/"+MariaID+"/points/", key["repediu"], "", `{"points": 25, "description": "Order 1"}`)
	require.Equal(t, http.StatusOK, status, "award: body %s", body)
	status, _, body = a.call("POST", "/api/v2/coupons/MARIA10/use/", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, status, "use: body %s", body)

	for range 2 { // a second server, then a third
		l := startShared(t, prefix, pepper)
		assert.Equal(t, 175, l.balance(), "a starting server reset Maria's balance")
		status, _, body = l.call("POST", "/api/v2/coupons/MARIA10/validate/", key["repediu"], "", "")
		require.Equal(t, http.StatusOK, status, "validate: body %s", body)
		assert.Contains(t, body, `"valid":false`, "a starting server reset a used coupon")
		status, _, body = l.call("GET", "/api/v2/customers/search?q=maria", key["repediu"], "", "")
		require.Equal(t, http.StatusOK, status, "search: body %s", body)
		assert.Contains(t, body, `"count":1`, "a starting server added a second Maria")
	}
}

// redisDump returns every key under prefix with its content: the value of
// a string, the fields and values of a hash, the members of a list, set or
// sorted set, one per line.
func redisDump(t *testing.T, ctx context.Context, client *redis.Client, prefix string) map[string]string {
	t.Helper()
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		var parts []string
		switch typ := client.Type(ctx, k).Val(); typ {
		case "string":
			parts = []string{client.Get(ctx, k).Val()}
		case "hash":
			for f, v := range client.HGetAll(ctx, k).Val() {
				parts = append(parts, f, v)
			}
		case "list":
			parts = client.LRange(ctx, k, 0, -1).Val()
		case "set":
			parts = client.SMembers(ctx, k).Val()
		case "zset":
			parts = client.ZRange(ctx, k, 0, -1).Val()
		default:
			t.Errorf("key %s has type %q", k, typ)
		}
		out[k] = strings.Join(parts, "\n")
	}
	return out
}

// TestSharedNoPersonalData runs Maria's flow with every spelling of her
// identifiers, and a new customer's, across two servers, and then reads
// every key and value under the prefix: none holds a phone number, an
// email address, a CPF or a customer's name, and every key expires.
func TestSharedNoPersonalData(t *testing.T) {
	const newPhone = "+5531987650000"
	a, b, client, prefix := twoShared(t, func(c *Config) { c.Limits = limits(noCooldown) })

	var sess string
	for _, spelling := range []string{MariaPhone, "(11) 98765-4321", "Maria@Example.com", "529.982.247-25"} {
		status, body := a.requestOTP("goomer", spelling)
		require.Equal(t, http.StatusOK, status, "request-otp %s: body %s", spelling, body)
		status, body = b.verifyOTP("goomer", spelling, lastDevCode(t, a))
		require.Equal(t, http.StatusOK, status, "verify-otp %s: body %s", spelling, body)
		sess = session(t, body)
	}
	status, body := a.redeemCoffee(sess)
	require.Equal(t, http.StatusOK, status, "redeem: body %s", body)
	var r struct {
		Code string `json:"coupon_code"`
	}
	data(t, body, &r)
	for _, c := range []struct {
		l                  *live
		method, path, body string
	}{
		{b, "POST", "/api/v2/coupons/" + r.Code + "/use/", ""},
		{b, "POST", "/api/v2/customers/" + MariaID + "/points/", `{"points": 10, "description": "Order 2"}`},
		{a, "POST", "/api/v2/customers/enroll/", `{"identifier": "Maria@Example.com", "full_name": "Maria Santos"}`},
		{a, "GET", "/api/v2/customers/search?q=98765", ""},
		{a, "POST", "/api/v2/webhooks/", `{"url": "https://partner.example/hooks", "events": ["points.awarded"]}`},
	} {
		status, _, body := c.l.call(c.method, c.path, key["repediu"], "", c.body)
		require.Less(t, status, 300, "%s %s: body %s", c.method, c.path, body)
	}

	// A phone nobody has becomes a customer, enrolled with a name.
	status, body = a.requestOTP("goomer", newPhone)
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	status, body = b.verifyOTP("goomer", newPhone, devCode(t, a.out, newPhone))
	require.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
	var v verified
	data(t, body, &v)
	assert.True(t, v.IsNew)
	status, _, body = b.call("POST", "/api/v2/customers/enroll/", key["repediu"], "", `{"identifier": "`+newPhone+`", "full_name": "Bia Lima"}`)
	require.Equal(t, http.StatusOK, status, "enroll: body %s", body)
	assert.Contains(t, body, `"customer_id":"`+v.CustomerID+`"`)

	// The data is whole on the other server, contacts and names included.
	status, _, body = b.call("GET", "/api/v2/customers/search?q=lima", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, status, "search: body %s", body)
	assert.Contains(t, body, `"phone":"`+newPhone+`"`)
	status, _, body = b.call("GET", "/api/v2/customers/search?q=529.982", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, status, "search: body %s", body)
	assert.Contains(t, body, `"email":"maria@example.com"`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dump := redisDump(t, ctx, client, prefix)
	require.NotEmpty(t, dump)
	loyaltyKeys := 0
	for k, content := range dump {
		if strings.HasPrefix(k, prefix+"loyalty:") {
			loyaltyKeys++
		}
		for _, s := range []string{
			"987654321", "5511987654321", // Maria's phone
			"987650000", "5531987650000", // the new phone
			"maria@example", "example.com", // emails
			"52998224725", "529.982.247", // Maria's CPF
			"Maria Santos", "Bia Lima", // names
		} {
			assert.NotContains(t, strings.ToLower(k), strings.ToLower(s), "key %s names %q", k, s)
			assert.NotContains(t, strings.ToLower(content), strings.ToLower(s), "key %s holds %q", k, s)
		}
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0), "key %s has PTTL %v, want an expiry", k, ttl)
		assert.LessOrEqual(t, ttl, loyaltyTTL, "key %s", k)
	}
	assert.Greater(t, loyaltyKeys, 10, "got %d loyalty keys, want the customers' under %sloyalty:", loyaltyKeys, prefix)
}

// TestSharedConfigErrors: New refuses a Redis configuration that cannot
// work before it contacts Redis.
func TestSharedConfigErrors(t *testing.T) {
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // no ContextTimeoutEnabled
	t.Cleanup(func() { _ = plain.Close() })
	good := redistest.NewClient(t, "127.0.0.1:1")
	var typedNil *redis.Client
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"deadlines ignored", Config{Redis: plain}, "ContextTimeoutEnabled"},
		{"typed nil client", Config{Redis: typedNil}, "nil client"},
		{"brace in prefix", Config{Redis: good, RedisPrefix: "a{b}:"}, "contains '{' or '}'"},
		{"short data key", Config{Redis: good, DataKey: []byte("short")}, "data key is 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tt.cfg, nil)
			require.Error(t, err, "got a server, want an error")
			assert.Nil(t, srv)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
