package loyalty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/redisstore"
	"github.com/otpguard/otpguard/telemetry"
)

// These tests attack the limits over HTTP with several partners' keys, as
// the threat model says any one key may be abused: on the memory store and
// on a real Redis.

// eachStore runs test once on the memory store and once on Redis; start
// builds one example server (with cfg's limits) on that store, wrapped by
// wrap when given.
func eachStore(t *testing.T, test func(t *testing.T, start starter)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func(cfg Config, wrap ...func(store.Store) store.Store) *live {
			st := memory.New()
			t.Cleanup(st.Close)
			cfg.Store = wrapStore(st, wrap)
			return startLive(t, cfg)
		})
	})
	t.Run("redis", func(t *testing.T) {
		client := redistest.Client(t)
		prefix := redistest.Prefix(t, client)
		pepper := randomPepper(t)
		test(t, func(cfg Config, wrap ...func(store.Store) store.Store) *live {
			st, err := redisstore.New(redistest.NewClient(t, redistest.Addr()), redisstore.WithPrefix(prefix))
			require.NoError(t, err)
			cfg.Store, cfg.Peppers = wrapStore(st, wrap), pepper
			return startLive(t, cfg)
		})
	})
}

// starter starts an example server on the store of the running subtest.
type starter = func(cfg Config, wrap ...func(store.Store) store.Store) *live

func wrapStore(st store.Store, wrap []func(store.Store) store.Store) store.Store {
	for _, w := range wrap {
		st = w(st)
	}
	return st
}

// judgeCounter counts, per integration, the wrong codes the service judged:
// each one is followed by exactly one call to Fail.
type judgeCounter struct {
	store.Store
	mu     sync.Mutex
	judged map[string]int
}

func (c *judgeCounter) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	c.mu.Lock()
	c.judged[p.Integration]++
	c.mu.Unlock()
	return c.Store.Fail(ctx, p, b)
}

// limits returns the default limits changed by mod.
func limits(mod func(*otpcode.Limits)) otpcode.Limits {
	l := otpcode.DefaultLimits()
	mod(&l)
	return l
}

// noCooldown lets a partner request codes back to back.
func noCooldown(l *otpcode.Limits) { l.ResendCooldown = 0 }

// guessWrong sends n wrong codes for identifier with the partner's key and
// returns the statuses.
func (l *live) guessWrong(partner, identifier, code string, n int) []int {
	l.t.Helper()
	var out []int
	for range n {
		status, _ := l.verifyOTP(partner, identifier, wrongCode(code))
		out = append(out, status)
	}
	return out
}

// burnPair makes partner spend n wrong guesses on identifier's codes,
// requesting a new code every MaxAttempts guesses.
func (l *live) burnPair(partner, identifier string, n, perCode int) {
	l.t.Helper()
	for n > 0 {
		status, body := l.requestOTP(partner, identifier)
		require.Equal(l.t, http.StatusOK, status, "request-otp by %s: body %s", partner, body)
		k := min(n, perCode)
		code := devCode(l.t, l.out, identifier)
		l.guessWrong(partner, identifier, code, k)
		n -= k
	}
}

// retryAfter returns the Retry-After header in seconds.
func retryAfter(t *testing.T, h http.Header) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", h.Get("Retry-After"))
	return n
}

func TestPartnerLocksOnlyItsPair(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(noCooldown)})
		// Saipos's customer is waiting on a code.
		status, body := l.requestOTP("saipos", MariaPhone)
		require.Equal(t, http.StatusOK, status, body)
		saiposCode := devCode(t, l.out, MariaPhone)

		// Goomer's key requests codes for Maria and guesses until its
		// pair is locked: 10 wrong guesses over two codes.
		l.burnPair("goomer", MariaPhone, 10, 5)
		status, h, body := l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "`+MariaPhone+`"}`)
		require.Equal(t, http.StatusTooManyRequests, status, "Goomer's pair must be locked; body %s", body)
		assert.Contains(t, body, "for this integration")
		assert.Greater(t, retryAfter(t, h), 14*60)

		// Saipos's code survived Goomer's requests and guesses, and
		// verifies; Saipos can also request again.
		status, body = l.verifyOTP("saipos", MariaPhone, saiposCode)
		require.Equal(t, http.StatusOK, status, "Saipos's code after Goomer's attack: body %s", body)
		status, body = l.requestOTP("saipos", MariaPhone)
		assert.Equal(t, http.StatusOK, status, "Saipos's request after Goomer's lock: body %s", body)
		// Goomer's pair is still locked: Saipos's success refilled nothing
		// of Goomer's.
		status, _ = l.requestOTP("goomer", MariaPhone)
		assert.Equal(t, http.StatusTooManyRequests, status)
	})
}

func TestCustomerLockAcrossPartners(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(func(l *otpcode.Limits) {
			noCooldown(l)
			l.CustomerFailLimit = 15
		})})
		l.burnPair("goomer", MariaPhone, 10, 5)
		l.burnPair("saipos", MariaPhone, 5, 5)
		// Maria is now locked for every partner, the strict one too.
		status, h, body := l.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{"identifier": "`+MariaPhone+`"}`)
		require.Equal(t, http.StatusTooManyRequests, status, "body %s", body)
		assert.Contains(t, body, "for every integration")
		ra := retryAfter(t, h)
		assert.InDelta(t, 24*3600, ra, 60, "got Retry-After %d, want about 24 h", ra)
		var p struct {
			LockDuration int `json:"lock_duration"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &p))
		assert.Equal(t, ra, p.LockDuration)
		// Another spelling of Maria is the same customer.
		status, _ = l.requestOTP("repediu", "maria@example.com")
		assert.Equal(t, http.StatusTooManyRequests, status)
		// Another customer is served.
		status, body = l.requestOTP("balcao", joaoPhone)
		assert.Equal(t, http.StatusOK, status, "body %s", body)
	})
}

func TestIntegrationBreaker(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		var (
			mu     sync.Mutex
			events []telemetry.Event
		)
		l := start(Config{
			Limits: limits(func(l *otpcode.Limits) {
				l.IntegrationFailLimit = 20
				l.IntegrationRate, l.IntegrationBurst = 1e6, 1e6
			}),
			Events: func(_ context.Context, e telemetry.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			},
		})
		// Goomer's key: 20 wrong guesses spread over 5 customers, 4 each,
		// which no per-customer budget notices.
		for i := range 5 {
			phone := fmt.Sprintf("+55119876500%02d", 11+i)
			status, body := l.requestOTP("goomer", phone)
			require.Equal(t, http.StatusOK, status, "customer %d: body %s", i+1, body)
			for _, st := range l.guessWrong("goomer", phone, devCode(t, l.out, phone), 4) {
				require.Equal(t, http.StatusUnauthorized, st)
			}
		}
		status, h, body := l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "+5511987650016"}`)
		assert.Equal(t, http.StatusTooManyRequests, status, "Goomer after 20 wrong guesses: body %s", body)
		assert.Contains(t, body, "from this integration")
		assert.InDelta(t, 3600, retryAfter(t, h), 60)
		status, _ = l.verifyOTP("goomer", "+5511987650011", "123456")
		assert.Equal(t, http.StatusTooManyRequests, status, "verify-otp is refused too")
		// Saipos is served, for the same customers too.
		status, body = l.requestOTP("saipos", "+5511987650016")
		assert.Equal(t, http.StatusOK, status, "Saipos: body %s", body)
		status, body = l.requestOTP("saipos", "+5511987650011")
		assert.Equal(t, http.StatusOK, status, "Saipos: body %s", body)

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, events, 1, "events %+v", events)
		assert.Equal(t, telemetry.EventBreakerTripped, events[0].Kind)
		assert.Equal(t, "goomer", events[0].Integration)
		assert.Contains(t, l.logs.String(), `"msg":"otp.breaker_tripped"`)
	})
}

func TestSendQuotas(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		t.Run("integration", func(t *testing.T) {
			l := start(Config{Limits: limits(func(l *otpcode.Limits) { l.IntegrationSendLimit = 3 })})
			for i := range 3 {
				status, body := l.requestOTP("goomer", fmt.Sprintf("+55119876500%02d", i+1))
				require.Equal(t, http.StatusOK, status, "code %d: body %s", i+1, body)
			}
			status, h, body := l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "+5511987650004"}`)
			assert.Equal(t, http.StatusTooManyRequests, status, "Goomer's 4th code: body %s", body)
			assert.Contains(t, body, "quota")
			assert.InDelta(t, 24*3600, retryAfter(t, h), 60)
			status, body = l.requestOTP("saipos", "+5511987650004")
			assert.Equal(t, http.StatusOK, status, "Saipos: body %s", body)
		})
		t.Run("customer", func(t *testing.T) {
			l := start(Config{Limits: limits(func(l *otpcode.Limits) {
				noCooldown(l)
				l.CustomerSendLimit = 2
			})})
			for _, p := range []string{"goomer", "saipos"} {
				status, body := l.requestOTP(p, MariaPhone)
				require.Equal(t, http.StatusOK, status, "%s: body %s", p, body)
			}
			status, h, body := l.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{"identifier": "`+MariaPhone+`"}`)
			assert.Equal(t, http.StatusTooManyRequests, status, "a third partner: body %s", body)
			assert.Contains(t, body, "to this customer")
			assert.InDelta(t, 3600, retryAfter(t, h), 60)
		})
	})
}

func TestDestinations(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{AllowedCountries: []string{"BR"}})
		for _, number := range []string{"+449098790879", "+979123456789", "+870773111632", "+351912345678"} {
			status, _, body := l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "`+number+`"}`)
			assert.Equal(t, http.StatusBadRequest, status, "%s: body %s", number, body)
			assert.Equal(t, problems+"validation-error", problemType(t, body))
			var p struct{ Errors map[string][]string }
			require.NoError(t, json.Unmarshal([]byte(body), &p))
			assert.Equal(t, []string{"not_permitted"}, p.Errors["identifier"], "%s: body %s", number, body)
		}
		assert.Empty(t, l.out.String(), "a code went to a refused number")
		status, body := l.requestOTP("goomer", MariaPhone)
		assert.Equal(t, http.StatusOK, status, "body %s", body)

		// Without an allow-list, Portugal is fine but premium rate is not.
		all := start(Config{})
		status, body = all.requestOTP("goomer", "+351912345678")
		assert.Equal(t, http.StatusOK, status, "body %s", body)
		status, _ = all.requestOTP("goomer", "+449098790879")
		assert.Equal(t, http.StatusBadRequest, status)
	})
}

func TestUnknownRecipients(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		const stranger = "+5511987650077"
		t.Run("deny", func(t *testing.T) {
			l := start(Config{UnknownRecipients: otpcode.UnknownDeny})
			status, body := l.requestOTP("goomer", stranger)
			assert.Equal(t, http.StatusNotFound, status, "body %s", body)
			assert.Equal(t, problems+"not-found", problemType(t, body))
			status, body = l.requestOTP("goomer", MariaPhone)
			assert.Equal(t, http.StatusOK, status, "body %s", body)
		})
		t.Run("enroll", func(t *testing.T) {
			l := start(Config{UnknownRecipients: otpcode.UnknownEnroll})
			status, body := l.requestOTP("goomer", stranger)
			assert.Equal(t, http.StatusNotFound, status, "body %s", body)
			status, _, body = l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "",
				`{"identifier": "`+stranger+`", "purpose": "enroll_customer"}`)
			assert.Equal(t, http.StatusOK, status, "body %s", body)
		})
	})
}

// TestParallelGuessesAcrossPartners: 200 wrong guesses at once, split over
// four partners that each hold a code for Maria, are judged no more than
// each code, each pair and the customer allow.
func TestParallelGuessesAcrossPartners(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		const customerLimit = 12
		jc := &judgeCounter{judged: map[string]int{}}
		l := start(Config{Limits: limits(func(l *otpcode.Limits) {
			l.CustomerFailLimit = customerLimit
			l.IntegrationRate, l.IntegrationBurst = 1e6, 1e6
		})}, func(s store.Store) store.Store { jc.Store = s; return jc })
		partners := []string{"goomer", "saipos", "balcao", "repediu"}
		codes := map[string]string{}
		for _, p := range partners {
			status, body := l.requestOTP(p, MariaPhone)
			require.Equal(t, http.StatusOK, status, "%s: body %s", p, body)
			codes[p] = devCode(t, l.out, MariaPhone)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		for i := range 200 {
			p := partners[i%len(partners)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _ := l.verifyOTP(p, MariaPhone, wrongCode(codes[p]))
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// Every answer is a wrong code or a limit; nothing failed.
		assert.Equal(t, 200, statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests], "statuses %v", statuses)
		jc.mu.Lock()
		defer jc.mu.Unlock()
		total := 0
		for _, p := range partners {
			assert.LessOrEqual(t, jc.judged[p], 5, "%s: %d wrong codes judged on one code", p, jc.judged[p])
			total += jc.judged[p]
		}
		assert.Equal(t, customerLimit, total, "judged %d wrong codes in all, customer budget %d", total, customerLimit)
		// Maria is locked for everyone now.
		status, body := l.requestOTP("goomer", MariaPhone)
		assert.Equal(t, http.StatusTooManyRequests, status)
		assert.Contains(t, body, "for every integration")
	})
}

// TestRealSenderNeverMixedWithDev: with WhatsApp configured and no SMTP,
// email is off: a partner asking for it is refused, and no code is printed.
func TestRealSenderNeverMixedWithDev(t *testing.T) {
	g := startGraph(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"messages":[{"id":"wamid.x"}]}`))
	})
	wa, err := whatsapp.New(whatsapp.Config{Token: "EAAG-test-token", PhoneNumberID: waPhoneNumberID},
		whatsapp.WithBaseURL(g.url), whatsapp.WithTimeout(2*time.Second))
	require.NoError(t, err)
	l := startLive(t, Config{Senders: Senders{WhatsApp: wa}})
	status, _, body := l.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "`+MariaPhone+`", "channel": "email"}`)
	assert.Equal(t, http.StatusBadRequest, status, "body %s", body)
	assert.Contains(t, body, `"channel":["not_permitted"]`)
	status, body = l.requestOTP("goomer", MariaPhone)
	assert.Equal(t, http.StatusOK, status, "body %s", body)
	assert.Contains(t, body, `"channel":"whatsapp"`)
	assert.Empty(t, l.out.String(), "stdout must hold no code when a real sender is configured")
	assert.Len(t, g.requests(), 1)
}
