package otpcode_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otpguard/otpguard/internal/telemetrytest"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
	"github.com/otpguard/otpguard/telemetry"
)

const (
	telMaria      = "+5511987654321"
	telMariaEmail = "maria@example.com"
	telMariaID    = "cust-maria"
	telJoao       = "+5511912345678"
	telGoomer     = "goomer"
)

// telDirectory knows Maria (phone and email) and João (phone only).
type telDirectory struct{}

func (telDirectory) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	switch id.Value {
	case telMaria:
		return otpcode.Customer{ID: telMariaID, Contacts: otpcode.Contacts{Phone: telMaria, Email: telMariaEmail}}, true, nil
	case telJoao:
		return otpcode.Customer{ID: "cust-joao", Contacts: otpcode.Contacts{Phone: telJoao}}, true, nil
	}
	return otpcode.Customer{}, false, nil
}

func (d telDirectory) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return d.Lookup(ctx, id)
}

// telSender records the codes it delivers, or fails with err when set.
type telSender struct {
	mu    sync.Mutex
	err   error
	codes map[string]string // by recipient
}

func (s *telSender) Send(_ context.Context, m otpcode.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.codes == nil {
		s.codes = map[string]string{}
	}
	s.codes[m.To] = m.Code
	return nil
}

func (s *telSender) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *telSender) code(to string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[to]
}

// telStore fails the store method named fail, when set.
type telStore struct {
	store.Store
	fail string
}

func (s *telStore) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	if s.fail == "PutCode" {
		return errors.New("redis: connection pool timeout for +5511987654321")
	}
	return s.Store.PutCode(ctx, p, c, ttl)
}

type telFixture struct {
	rec      *telemetrytest.Recorder
	keys     *keyring.Keyring
	clock    *storetest.Clock
	st       *telStore
	svc      *otpcode.Service
	whatsapp *telSender
	email    *telSender
}

func newTelFixture(t *testing.T, mutate func(*otpcode.Limits)) *telFixture {
	t.Helper()
	f := &telFixture{
		rec:      telemetrytest.New(t),
		clock:    storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)),
		whatsapp: &telSender{},
		email:    &telSender{},
	}
	mem := memory.New(memory.WithClock(f.clock.Now))
	t.Cleanup(mem.Close)
	f.st = &telStore{Store: mem}
	var err error
	f.keys, err = keyring.New(bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: f.whatsapp},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: f.email},
	)
	require.NoError(t, err)
	limits := otpcode.DefaultLimits()
	limits.ResendCooldown = 0
	if mutate != nil {
		mutate(&limits)
	}
	f.svc, err = otpcode.NewService(f.st, f.keys, chain,
		otpcode.WithLimits(limits),
		otpcode.WithClock(f.clock.Now),
		otpcode.WithDirectory(telDirectory{}),
		otpcode.WithTelemetry(f.rec.Telemetry),
	)
	require.NoError(t, err)
	return f
}

func (f *telFixture) request(identifier string) (otpcode.RequestResult, error) {
	return f.svc.Request(context.Background(), otpcode.RequestInput{Integration: telGoomer, Identifier: identifier})
}

func (f *telFixture) verify(identifier, code string) error {
	_, err := f.svc.Verify(context.Background(), otpcode.VerifyInput{Integration: telGoomer, Identifier: identifier, Code: code})
	return err
}

// ref is the audit reference of the directory's customer id.
func (f *telFixture) ref(id string) string {
	return f.keys.Pseudonym("otpguard/audit/v1", f.keys.Pseudonym("otpguard/subject/v1", "customer:"+id))
}

func telWrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

var errTelRetryable = &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true, Status: 503, Reason: "provider down for +5511987654321"}

func TestServiceTelemetryDelivery(t *testing.T) {
	f := newTelFixture(t, nil)
	ref := f.ref(telMariaID)

	// WhatsApp fails, email delivers.
	f.whatsapp.fail(errTelRetryable)
	res, err := f.request(telMaria)
	require.NoError(t, err)
	assert.Equal(t, otpcode.ChannelEmail, res.Channel)

	req := f.rec.SpansNamed("otpguard.request")
	require.Len(t, req, 1)
	assert.Equal(t, "sent", telemetrytest.Attr(req[0], "otpguard.outcome"))
	assert.Equal(t, "email", telemetrytest.Attr(req[0], "otpguard.channel"))
	assert.Equal(t, telGoomer, telemetrytest.Attr(req[0], "otpguard.integration"))
	deliveries := f.rec.SpansNamed("otpguard.deliver")
	require.Len(t, deliveries, 2)
	assert.Equal(t, "whatsapp", telemetrytest.Attr(deliveries[0], "otpguard.channel"))
	assert.Equal(t, codes.Error, deliveries[0].Status().Code)
	assert.Equal(t, "retryable", telemetrytest.Attr(deliveries[0], "error.type"))
	assert.Equal(t, "email", telemetrytest.Attr(deliveries[1], "otpguard.channel"))
	assert.Equal(t, codes.Unset, deliveries[1].Status().Code)
	// Every other span is a child of the request's: the store calls and the
	// delivery attempts.
	var stores []string
	for _, s := range f.rec.Spans() {
		if s.Name() == "otpguard.request" {
			continue
		}
		assert.Equal(t, req[0].SpanContext().SpanID(), s.Parent().SpanID(), "span %s: got another parent than the request's span", s.Name())
		if s.Name() != "otpguard.deliver" {
			stores = append(stores, s.Name())
		}
	}
	assert.Equal(t, []string{
		"otpguard.store.Take", "otpguard.store.Peek", "otpguard.store.Locked",
		"otpguard.store.Hit", "otpguard.store.Hit", "otpguard.store.Hit", "otpguard.store.PutCode",
	}, stores)
	assert.Equal(t, []telemetry.Event{{Kind: telemetry.EventDeliveryFailed, Integration: telGoomer, Customer: ref, Channel: "whatsapp"}}, f.rec.Events())
	for _, s := range f.rec.Spans() {
		telAssertNoSecret(t, s)
	}
	f.rec.Reset()

	// Both fail: the request fails, the span says so, the error names the
	// customer by reference.
	f.email.fail(&otpcode.SendError{Channel: otpcode.ChannelEmail, Reason: "mailbox unavailable"})
	_, err = f.request(telMaria)
	require.ErrorIs(t, err, otpcode.ErrDelivery)
	assert.Equal(t, ref, otpcode.CustomerRef(err))
	req = f.rec.SpansNamed("otpguard.request")
	require.Len(t, req, 1)
	assert.Equal(t, codes.Error, req[0].Status().Code)
	assert.Equal(t, "failed", telemetrytest.Attr(req[0], "otpguard.outcome"))
	assert.Len(t, f.rec.Events(), 2, "got events %v, want a delivery failure per channel", f.rec.Events())

	// João has no email: WhatsApp's failure is final.
	_, err = f.request(telJoao)
	require.ErrorIs(t, err, otpcode.ErrDelivery)

	assert.Equal(t, map[string]int64{
		"channel=whatsapp,outcome=fell_back": 2,
		"channel=email,outcome=sent":         1,
		"channel=email,outcome=failed":       1,
		"channel=whatsapp,outcome=failed":    1,
	}, f.rec.Counts("otpguard_codes_sent"))
	assert.Equal(t, map[string]uint64{"channel=whatsapp": 3, "channel=email": 2}, f.rec.HistogramCounts("otpguard_delivery_duration"))
	m, ok := telemetrytest.Metric(f.rec.Metrics(), "otpguard_delivery_duration")
	require.True(t, ok)
	assert.Equal(t, "s", m.Unit)
}

// telAssertNoSecret checks that span s carries no identifier, code or
// error text from outside otpguard.
func telAssertNoSecret(t *testing.T, s sdktrace.ReadOnlySpan) {
	t.Helper()
	texts := []string{s.Status().Description}
	for _, kv := range s.Attributes() {
		texts = append(texts, kv.Value.Emit())
	}
	for _, e := range s.Events() {
		for _, kv := range e.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
	}
	for _, text := range texts {
		for _, secret := range []string{telMaria, telMariaEmail, telMariaID, "provider down", "connection pool"} {
			assert.NotContains(t, text, secret, "span %s carries %q", s.Name(), secret)
		}
	}
}

func TestServiceTelemetryVerifications(t *testing.T) {
	f := newTelFixture(t, func(l *otpcode.Limits) {
		l.MaxAttempts = 2
		l.LockAfter = 3
	})
	ref := f.ref(telMariaID)
	code := func() string {
		_, err := f.request(telMaria)
		require.NoError(t, err)
		return f.whatsapp.code(telMaria)
	}

	// not_found: nothing was requested.
	err := f.verify(telMaria, "123456")
	require.ErrorIs(t, err, otpcode.ErrNotRequested)
	assert.Equal(t, ref, otpcode.CustomerRef(err))
	// wrong_code, then verified.
	c := code()
	require.ErrorIs(t, f.verify(telMaria, telWrong(c)), otpcode.ErrInvalidCode)
	require.NoError(t, f.verify(telMaria, c))
	// burned: the third attempt on a code of two.
	c = code()
	require.ErrorIs(t, f.verify(telMaria, telWrong(c)), otpcode.ErrInvalidCode)
	require.ErrorIs(t, f.verify(telMaria, telWrong(c)), otpcode.ErrInvalidCode)
	require.ErrorIs(t, f.verify(telMaria, c), otpcode.ErrTooManyAttempts)
	// expired: the third failure of the pair since the right code, which
	// locks it.
	code()
	f.clock.Advance(6 * time.Minute)
	err = f.verify(telMaria, f.whatsapp.code(telMaria))
	require.ErrorIs(t, err, otpcode.ErrLocked)
	assert.Equal(t, ref, otpcode.CustomerRef(err))
	// locked: refused unjudged.
	err = f.verify(telMaria, "123456")
	require.ErrorIs(t, err, otpcode.ErrLocked)
	// A malformed code is no verification.
	var fe *otpcode.FieldError
	require.ErrorAs(t, f.verify(telMaria, "12"), &fe)

	assert.Equal(t, map[string]int64{
		"outcome=not_found":  1,
		"outcome=wrong_code": 3,
		"outcome=verified":   1,
		"outcome=burned":     1,
		"outcome=expired":    1,
		"outcome=locked":     1,
	}, f.rec.Counts("otpguard_verifications"))
	assert.Equal(t, map[string]int64{"scope=integration-customer": 1}, f.rec.Counts("otpguard_locks"))
	assert.Equal(t, map[string]int64{"limit=attempts": 1, "limit=pair_lock": 2}, f.rec.Counts("otpguard_rate_limit_refusals"))

	var outcomes []string
	for _, s := range f.rec.SpansNamed("otpguard.verify") {
		outcomes = append(outcomes, telemetrytest.Attr(s, "otpguard.outcome"))
		assert.Equal(t, codes.Unset, s.Status().Code, "a refusal is no error")
		telAssertNoSecret(t, s)
	}
	assert.Equal(t, []string{"not_found", "wrong_code", "verified", "wrong_code", "wrong_code", "burned", "expired", "locked", "refused"}, outcomes)
	spans := f.rec.SpansNamed("otpguard.verify")
	assert.Equal(t, "pair_lock", telemetrytest.Attr(spans[7], "otpguard.limit"))

	var locked []telemetry.Event
	for _, e := range f.rec.Events() {
		if e.Kind == telemetry.EventLocked {
			locked = append(locked, e)
		}
	}
	require.Len(t, locked, 1)
	assert.Equal(t, telemetry.Event{Kind: telemetry.EventLocked, Integration: telGoomer, Customer: ref, Scope: store.ScopePair, Duration: time.Hour - 6*time.Minute}, locked[0])
	assert.Len(t, ref, 22)
	assert.NotContains(t, ref, telMariaID)

	// The operator unlocks and revokes: events, with the same reference.
	f.rec.Reset()
	require.NoError(t, f.svc.Unlock(context.Background(), telMariaID, ""))
	n, err := f.svc.RevokeCustomer(context.Background(), telMariaID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = f.svc.RevokeIntegration(context.Background(), telGoomer)
	require.NoError(t, err)
	assert.Equal(t, []telemetry.Event{
		{Kind: telemetry.EventUnlocked, Customer: ref},
		{Kind: telemetry.EventRevoked, Customer: ref, Scope: store.ScopeCustomer, Sessions: 1},
		{Kind: telemetry.EventRevoked, Integration: telGoomer, Scope: store.ScopeIntegration},
	}, f.rec.Events())
}

func TestServiceTelemetryRevokeOwned(t *testing.T) {
	f := newTelFixture(t, nil)
	_, err := f.request(telMaria)
	require.NoError(t, err)
	res, err := f.svc.Verify(context.Background(), otpcode.VerifyInput{Integration: telGoomer, Identifier: telMaria, Code: f.whatsapp.code(telMaria)})
	require.NoError(t, err)
	f.rec.Reset()
	ok, err := f.svc.RevokeOwned(context.Background(), "saipos", res.Session)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, f.rec.Events(), "a revocation that ended nothing is no event")
	ok, err = f.svc.RevokeOwned(context.Background(), telGoomer, res.Session)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []telemetry.Event{{Kind: telemetry.EventRevoked, Integration: telGoomer, Customer: f.ref(telMariaID), Sessions: 1}}, f.rec.Events())
}

func TestServiceTelemetryLimits(t *testing.T) {
	f := newTelFixture(t, func(l *otpcode.Limits) {
		l.ResendCooldown = time.Minute
		l.SendLimit = 2
		l.IntegrationSendLimit = 3
		l.IntegrationFailLimit = 2
	})
	// cooldown, then pair_sends.
	_, err := f.request(telMaria)
	require.NoError(t, err)
	_, err = f.request(telMaria)
	require.ErrorIs(t, err, otpcode.ErrCooldown)
	f.clock.Advance(time.Minute)
	_, err = f.request(telMaria)
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = f.request(telMaria)
	require.ErrorIs(t, err, otpcode.ErrSendLimit)
	// João fills the integration's window.
	_, err = f.request(telJoao)
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = f.request(telJoao)
	require.ErrorIs(t, err, otpcode.ErrSendLimit)
	// Two wrong codes trip the breaker.
	for range 2 {
		err = f.verify(telJoao, telWrong(f.whatsapp.code(telJoao)))
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	err = f.verify(telJoao, f.whatsapp.code(telJoao))
	require.ErrorIs(t, err, otpcode.ErrLocked)
	_, err = f.request(telJoao)
	require.ErrorIs(t, err, otpcode.ErrLocked)

	assert.Equal(t, map[string]int64{
		"limit=cooldown":          1,
		"limit=pair_sends":        1,
		"limit=integration_sends": 1,
		"limit=breaker":           2,
	}, f.rec.Counts("otpguard_rate_limit_refusals"))
	assert.Equal(t, map[string]int64{"scope=integration": 1}, f.rec.Counts("otpguard_locks"))
	var kinds []telemetry.EventKind
	for _, e := range f.rec.Events() {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []telemetry.EventKind{telemetry.EventBreakerTripped}, kinds)

	// The integration's rate.
	g := newTelFixture(t, func(l *otpcode.Limits) { l.IntegrationBurst = 1; l.IntegrationRate = 0.001 })
	_, err = g.request(telMaria)
	require.NoError(t, err)
	_, err = g.request(telMaria)
	require.ErrorIs(t, err, otpcode.ErrRateLimited)
	assert.Empty(t, otpcode.CustomerRef(err), "the rate refuses before the customer is known")
	assert.Equal(t, map[string]int64{"limit=integration_rate": 1}, g.rec.Counts("otpguard_rate_limit_refusals"))
	// customer_sends: another fixture, Maria from two integrations.
	h := newTelFixture(t, func(l *otpcode.Limits) { l.CustomerSendLimit = 1 })
	_, err = h.request(telMaria)
	require.NoError(t, err)
	_, err = h.svc.Request(context.Background(), otpcode.RequestInput{Integration: "saipos", Identifier: telMaria})
	require.ErrorIs(t, err, otpcode.ErrSendLimit)
	assert.Equal(t, map[string]int64{"limit=customer_sends": 1}, h.rec.Counts("otpguard_rate_limit_refusals"))
}

func TestServiceTelemetryStoreErrors(t *testing.T) {
	f := newTelFixture(t, nil)
	f.st.fail = "PutCode"
	_, err := f.request(telMaria)
	require.Error(t, err)
	assert.Equal(t, f.ref(telMariaID), otpcode.CustomerRef(err))
	assert.Equal(t, map[string]int64{"operation=PutCode": 1}, f.rec.Counts("otpguard_store_errors"))
	put := f.rec.SpansNamed("otpguard.store.PutCode")
	require.Len(t, put, 1)
	assert.Equal(t, codes.Error, put[0].Status().Code)
	assert.Equal(t, "other", telemetrytest.Attr(put[0], "error.type"))
	req := f.rec.SpansNamed("otpguard.request")
	require.Len(t, req, 1)
	assert.Equal(t, codes.Error, req[0].Status().Code)
	assert.Equal(t, "error", telemetrytest.Attr(req[0], "otpguard.outcome"))
	for _, s := range f.rec.Spans() {
		telAssertNoSecret(t, s)
	}
}

func TestWithTelemetryNil(t *testing.T) {
	keys, err := keyring.New(bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelEmail, Sender: &telSender{}})
	require.NoError(t, err)
	_, err = otpcode.NewService(memory.New(), keys, chain, otpcode.WithTelemetry(nil))
	assert.Error(t, err)
}
