package otpcode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

const (
	maria      = "+5511987654321"
	mariaEmail = "maria@example.com"
	goomer     = "goomer"
	// subjectDomain is the domain of the service's subject pseudonyms
	// (see keyring.Keyring.Pseudonym), for tests that poke the store.
	subjectDomain = "otpguard/subject/v1"
	// codeDomain is the domain of the service's code MACs.
	codeDomain = "otpguard/code/v1"
)

// outbox is a Sender that keeps every message, so a test can read codes.
type outbox struct {
	mu   sync.Mutex
	msgs []otpcode.Message
	fail error
}

func (o *outbox) Send(ctx context.Context, m otpcode.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) last(t *testing.T) otpcode.Message {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.msgs, "no message was sent")
	return o.msgs[len(o.msgs)-1]
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

// directory knows Maria, with a phone and an email.
type directory struct{}

func (directory) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if id.Value == maria || id.Value == mariaEmail {
		return otpcode.Customer{ID: "cust-maria", Name: "Maria Santos", Contacts: otpcode.Contacts{Phone: maria, Email: mariaEmail}}, true, nil
	}
	return otpcode.Customer{}, false, nil
}

func (d directory) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok, err := d.Lookup(ctx, id)
	if !ok && err == nil && id.Kind != otpcode.KindCPF {
		return otpcode.Customer{ID: "new-" + id.Value, IsNew: true}, true, nil
	}
	return c, ok, err
}

// together runs f(i) for i in [0, n) on n goroutines released at once, so
// that their calls race, and returns the error of each, by i. f must not
// call t.Fatal or require.
func together(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

type fixture struct {
	svc      *otpcode.Service
	store    *memory.Store
	clock    *storetest.Clock
	whatsapp *outbox
	email    *outbox
	keys     *keyring.Keyring
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, keyring.MinKeyBytes) }

// mustKeys returns a keyring over testKey(1).
func mustKeys(tb testing.TB) *keyring.Keyring {
	tb.Helper()
	keys, err := keyring.New(testKey(1))
	require.NoError(tb, err)
	return keys
}

// subject returns the pseudonym under keys of s: of an identifier's
// subject ("phone:+5511987654321"), which is the customer ID the default
// directory gives it, or of a customer ("customer:cust-maria"), which is
// what the store knows the customer by.
func subject(keys *keyring.Keyring, s string) string {
	return keys.Pseudonym(subjectDomain, s)
}

// strangerSubject returns what the store knows an identifier no directory
// knows by ("phone:+5511987654321"): the subject of the customer the
// default directory makes of it, whose ID is the identifier's pseudonym.
func strangerSubject(keys *keyring.Keyring, idSubject string) string {
	return subject(keys, "customer:"+subject(keys, idSubject))
}

// newFixture returns a service over a memory store with the test directory
// and outboxes for senders, on a manual clock. mutate changes the limits,
// wrap the store, and opts are further options.
func newFixture(t *testing.T, mutate func(*otpcode.Limits), wrap func(store.Store) store.Store, opts ...otpcode.Option) *fixture {
	t.Helper()
	f := &fixture{clock: storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)), whatsapp: &outbox{}, email: &outbox{}}
	f.store = memory.New(memory.WithClock(f.clock.Now))
	t.Cleanup(f.store.Close)
	var st store.Store = f.store
	if wrap != nil {
		st = wrap(st)
	}
	keys := mustKeys(t)
	f.keys = keys
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: f.whatsapp},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: f.email},
	)
	require.NoError(t, err)
	limits := otpcode.DefaultLimits()
	if mutate != nil {
		mutate(&limits)
	}
	opts = append([]otpcode.Option{otpcode.WithLimits(limits), otpcode.WithClock(f.clock.Now), otpcode.WithDirectory(directory{})}, opts...)
	f.svc, err = otpcode.NewService(st, keys, chain, opts...)
	require.NoError(t, err)
	return f
}

func (f *fixture) request(t *testing.T, identifier string) otpcode.RequestResult {
	t.Helper()
	res, err := f.svc.Request(context.Background(), otpcode.RequestInput{Integration: goomer, Identifier: identifier})
	require.NoError(t, err)
	return res
}

func (f *fixture) verify(code string) (otpcode.VerifyResult, error) {
	return f.svc.Verify(context.Background(), otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: code})
}

// wrong returns a well-formed code that differs from code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// manyRequests lifts the integration bucket out of the way of tests that
// are about something else.
func manyRequests(l *otpcode.Limits) {
	l.IntegrationRate = rate.Inf
	l.IntegrationBurst = 1 << 20
}

func TestRequestVerifyFlow(t *testing.T) {
	f := newFixture(t, nil, nil)
	res := f.request(t, "+55 11 98765-4321")
	assert.Equal(t, otpcode.ChannelWhatsApp, res.Channel)
	assert.Equal(t, 5*time.Minute, res.ExpiresIn)
	msg := f.whatsapp.last(t)
	assert.Equal(t, maria, msg.To)
	assert.Len(t, msg.Code, 6)
	assert.NotContains(t, msg.String(), msg.Code, "Message.String must redact the code")

	v, err := f.verify(msg.Code)
	require.NoError(t, err)
	assert.Equal(t, "cust-maria", v.Customer.ID)
	assert.False(t, v.Customer.IsNew)
	assert.Len(t, v.Session, store.TokenLen)
	assert.True(t, store.VerifyToken(f.keys, v.Session), "got a session token that does not verify under the service's keys")
	assert.Equal(t, 30*time.Minute, v.ExpiresIn)

	sess, found, err := f.store.GetSession(context.Background(), store.HashToken(v.Session))
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, goomer, sess.Integration)
	assert.Equal(t, "cust-maria", sess.CustomerID)
	assert.Equal(t, f.clock.Now(), sess.VerifiedAt)
	assert.Equal(t, v.ExpiresAt, sess.ExpiresAt)
	assertSealed(t, f.keys, store.HashToken(v.Session), sess)

	// Single use: the same code does not verify twice.
	_, err = f.verify(msg.Code)
	assert.ErrorIs(t, err, otpcode.ErrNotRequested)
}

func TestVerifyWithoutRequest(t *testing.T) {
	f := newFixture(t, nil, nil)
	_, err := f.verify("123456")
	assert.ErrorIs(t, err, otpcode.ErrNotRequested)
}

func TestNewCustomerAndUnknownCPF(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.request(t, "new.person@Example.COM")
	msg := f.email.last(t)
	assert.Equal(t, "new.person@example.com", msg.To)
	v, err := f.svc.Verify(context.Background(), otpcode.VerifyInput{Integration: goomer, Identifier: "new.person@example.com", Code: msg.Code})
	require.NoError(t, err)
	assert.True(t, v.Customer.IsNew)

	_, err = f.svc.Request(context.Background(), otpcode.RequestInput{Integration: goomer, Identifier: "529.982.247-25"})
	assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
}

func TestInputErrors(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	cases := []struct {
		name  string
		err   error
		field string
		code  string
	}{
		{"missing identifier", func() error {
			_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer})
			return err
		}(), "identifier", "required"},
		{"malformed identifier", func() error {
			_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "not-an-id"})
			return err
		}(), "identifier", "invalid_format"},
		{"unknown channel", func() error {
			_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, Channel: "sms"})
			return err
		}(), "channel", "not_permitted"},
		{"missing code", func() error {
			_, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria})
			return err
		}(), "otp_code", "required"},
		{"short code", func() error {
			_, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: "123"})
			return err
		}(), "otp_code", "invalid_format"},
		{"letters in code", func() error {
			_, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: "12a456"})
			return err
		}(), "otp_code", "invalid_format"},
		{"unknown identifier type on request", func() error {
			_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, IdentifierType: otpcode.KindCPF + 1})
			return err
		}(), "identifier_type", "invalid_format"},
		{"unknown identifier type on verify", func() error {
			_, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, IdentifierType: otpcode.KindCPF + 1, Code: "123456"})
			return err
		}(), "identifier_type", "invalid_format"},
		{"identifier not of its type", func() error {
			_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, IdentifierType: otpcode.KindEmail})
			return err
		}(), "identifier", "invalid_format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.err, otpcode.ErrInvalidInput)
			var fe *otpcode.FieldError
			require.ErrorAs(t, tc.err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.Equal(t, tc.code, fe.Code)
		})
	}
	// A channel the customer cannot be reached on is not permitted either.
	_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "+14155552671", Channel: otpcode.ChannelEmail})
	assert.ErrorIs(t, err, otpcode.ErrChannelNotPermitted)
	assert.Zero(t, f.whatsapp.count()+f.email.count(), "nothing may be sent for a refused request")
}

func TestChannelChoiceAndAllow(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 }, nil)
	ctx := context.Background()
	res, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, Channel: otpcode.ChannelEmail})
	require.NoError(t, err)
	assert.Equal(t, otpcode.ChannelEmail, res.Channel)
	assert.Equal(t, mariaEmail, f.email.last(t).To)

	// A policy that forbids email (the low-assurance channel) keeps the
	// request on WhatsApp, and refuses an explicit email request.
	noEmail := func(c otpcode.Channel) bool { return c != otpcode.ChannelEmail }
	f.whatsapp.fail = &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true}
	_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, Allow: noEmail})
	assert.ErrorIs(t, err, otpcode.ErrDelivery)
	_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, Channel: otpcode.ChannelEmail, Allow: noEmail})
	assert.ErrorIs(t, err, otpcode.ErrChannelNotPermitted)

	// An unknown address whose only channel the policy forbids is a channel
	// problem, not an unknown customer.
	_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "someone@example.com", Allow: noEmail})
	assert.ErrorIs(t, err, otpcode.ErrChannelNotPermitted)
	assert.NotErrorIs(t, err, otpcode.ErrUnknownCustomer)
}

func TestExpiryByClock(t *testing.T) {
	t.Run("code at 4:59 verifies", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.request(t, maria)
		f.clock.Advance(4*time.Minute + 59*time.Second)
		_, err := f.verify(f.whatsapp.last(t).Code)
		assert.NoError(t, err)
	})
	t.Run("code at 5:01 is expired, not unrequested", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.request(t, maria)
		f.clock.Advance(5*time.Minute + time.Second)
		_, err := f.verify(f.whatsapp.last(t).Code)
		assert.ErrorIs(t, err, otpcode.ErrExpired)
	})
	t.Run("session lives 30 minutes", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.request(t, maria)
		v, err := f.verify(f.whatsapp.last(t).Code)
		require.NoError(t, err)
		h := store.HashToken(v.Session)
		f.clock.Advance(29*time.Minute + 59*time.Second)
		_, found, err := f.store.GetSession(context.Background(), h)
		require.NoError(t, err)
		assert.True(t, found, "session at 29:59 must be valid")
		f.clock.Advance(2 * time.Second)
		_, found, err = f.store.GetSession(context.Background(), h)
		require.NoError(t, err)
		assert.False(t, found, "session at 30:01 must be gone")
	})
}

func TestWrongGuessesBurnTheCode(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.request(t, maria)
	code := f.whatsapp.last(t).Code
	for i := 0; i < 5; i++ {
		_, err := f.verify(wrong(code))
		require.ErrorIs(t, err, otpcode.ErrInvalidCode, "guess %d", i+1)
	}
	_, err := f.verify(code)
	require.ErrorIs(t, err, otpcode.ErrTooManyAttempts)
	var le *otpcode.LimitError
	require.ErrorAs(t, err, &le)
}

func TestBurnedCodeRetryAfter(t *testing.T) {
	// burn requests a code, moves the clock by after, and spends the code's
	// guesses; it returns the LimitError of the guess after them.
	burn := func(t *testing.T, f *fixture, after time.Duration) *otpcode.LimitError {
		t.Helper()
		f.request(t, maria)
		code := f.whatsapp.last(t).Code
		f.clock.Advance(after)
		for i := 0; i < 5; i++ {
			_, err := f.verify(wrong(code))
			require.ErrorIs(t, err, otpcode.ErrInvalidCode, "guess %d", i+1)
		}
		_, err := f.verify(code)
		require.ErrorIs(t, err, otpcode.ErrTooManyAttempts)
		var le *otpcode.LimitError
		require.ErrorAs(t, err, &le)
		return le
	}
	ctx := context.Background()

	t.Run("inside the cooldown", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		le := burn(t, f, 10*time.Second)
		assert.Equal(t, 50*time.Second, le.RetryAfter, "got RetryAfter %v, want 50s", le.RetryAfter)
		assert.Zero(t, le.LockDuration)
		// The hint agrees with what a new request is told, and is enough.
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
		var cool *otpcode.LimitError
		require.ErrorAs(t, err, &cool)
		require.ErrorIs(t, err, otpcode.ErrCooldown)
		assert.Equal(t, le.RetryAfter, cool.RetryAfter, "got cooldown %v, want the burned code's hint %v", cool.RetryAfter, le.RetryAfter)
		f.clock.Advance(le.RetryAfter)
		f.request(t, maria)
	})
	t.Run("a nanosecond before the cooldown ends", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		le := burn(t, f, 60*time.Second-time.Nanosecond)
		assert.Equal(t, time.Nanosecond, le.RetryAfter)
	})
	t.Run("after the cooldown", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		le := burn(t, f, 60*time.Second)
		assert.Zero(t, le.RetryAfter, "got RetryAfter %v, want 0 (now)", le.RetryAfter)
		assert.Equal(t, otpcode.ErrTooManyAttempts.Error(), le.Error())
		f.request(t, maria)
	})
	t.Run("no cooldown", func(t *testing.T) {
		f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 }, nil)
		le := burn(t, f, 0)
		assert.Zero(t, le.RetryAfter, "got RetryAfter %v, want 0 (now)", le.RetryAfter)
	})
	t.Run("cooldown longer than the code", func(t *testing.T) {
		f := newFixture(t, func(l *otpcode.Limits) {
			l.CodeTTL = time.Minute
			l.ResendCooldown = 3 * time.Minute
		}, nil)
		le := burn(t, f, 20*time.Second)
		assert.Equal(t, 160*time.Second, le.RetryAfter)
	})
}

func TestConcurrentWrongGuesses(t *testing.T) {
	f := newFixture(t, manyRequests, nil)
	f.request(t, maria)
	code := f.whatsapp.last(t).Code

	const n = 200
	errs := together(n, func(int) error {
		_, err := f.verify(wrong(code))
		return err
	})
	var invalid, tooMany, other int
	for _, err := range errs {
		switch {
		case errors.Is(err, otpcode.ErrInvalidCode):
			invalid++
		case errors.Is(err, otpcode.ErrTooManyAttempts):
			tooMany++
		default:
			other++
		}
	}
	assert.Equal(t, 5, invalid, "wrong guesses judged")
	assert.Equal(t, n-5, tooMany, "guesses refused as too many")
	assert.Zero(t, other)

	_, err := f.verify(code)
	assert.ErrorIs(t, err, otpcode.ErrTooManyAttempts, "the burned code must not verify")
}

func TestConcurrentCorrectSubmissions(t *testing.T) {
	f := newFixture(t, manyRequests, nil)
	f.request(t, maria)
	code := f.whatsapp.last(t).Code

	const n = 50
	sessions := make([]string, n)
	errs := together(n, func(i int) error {
		v, err := f.verify(code)
		sessions[i] = v.Session
		return err
	})
	var got []string
	for i, err := range errs {
		if err == nil {
			got = append(got, sessions[i])
		}
	}
	assert.Len(t, got, 1, "exactly one session")
}

func TestIdentityLock(t *testing.T) {
	f := newFixture(t, manyRequests, nil)
	ctx := context.Background()
	start := f.clock.Now()
	guesses := 0
	var lockErr error
	var lockedAt time.Time
	// Ten wrong guesses spread over three codes, resent after the cooldown.
	for _, n := range []int{4, 4, 2} {
		f.request(t, maria)
		code := f.whatsapp.last(t).Code
		for i := 0; i < n; i++ {
			guesses++
			_, err := f.verify(wrong(code))
			if guesses < 10 {
				require.ErrorIs(t, err, otpcode.ErrInvalidCode, "guess %d", guesses)
			} else {
				lockErr, lockedAt = err, f.clock.Now()
			}
		}
		f.clock.Advance(61 * time.Second)
	}
	require.ErrorIs(t, lockErr, otpcode.ErrLocked)
	var le *otpcode.LimitError
	require.ErrorAs(t, lockErr, &le)
	// The lock lasts 15 minutes or until the hour that began with the first
	// failure is over, whichever is longer: 10 wrong guesses an hour, never
	// more.
	windowEnd := start.Add(time.Hour)
	assert.Equal(t, windowEnd.Sub(lockedAt), le.LockDuration)

	// The clock moved 61 s after the tenth guess.
	_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
	require.ErrorIs(t, err, otpcode.ErrLocked)
	require.ErrorAs(t, err, &le)
	assert.Equal(t, windowEnd.Sub(lockedAt)-61*time.Second, le.LockDuration)
	assert.Equal(t, le.LockDuration, le.RetryAfter)

	_, err = f.verify("123456")
	assert.ErrorIs(t, err, otpcode.ErrLocked)

	f.clock.Advance(le.LockDuration)
	f.request(t, maria)
	_, err = f.verify(f.whatsapp.last(t).Code)
	assert.NoError(t, err, "the lock ends when the clock passes it")
}

func TestLockIsAtLeastLockFor(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) {
		manyRequests(l)
		l.LockWindow = 10 * time.Minute
	}, nil)
	f.request(t, maria)
	code := f.whatsapp.last(t).Code
	for i := 0; i < 5; i++ {
		_, err := f.verify(wrong(code))
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	f.clock.Advance(8 * time.Minute)
	f.request(t, maria)
	code = f.whatsapp.last(t).Code
	var err error
	for i := 0; i < 5; i++ {
		_, err = f.verify(wrong(code))
	}
	var le *otpcode.LimitError
	require.ErrorAs(t, err, &le)
	require.ErrorIs(t, err, otpcode.ErrLocked)
	assert.Equal(t, 15*time.Minute, le.LockDuration, "2 minutes were left in the window; the lock lasts LockFor")
}

// failCounter counts the wrong codes the service actually compared: each
// one is followed by exactly one call to Fail.
type failCounter struct {
	store.Store
	mu    sync.Mutex
	fails int
}

func (c *failCounter) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	c.mu.Lock()
	c.fails++
	c.mu.Unlock()
	return c.Store.Fail(ctx, p, b)
}

func (c *failCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fails
}

func TestNoMoreThanTenWrongGuessesAnHour(t *testing.T) {
	// The attacker of the security review: a new code every minute, as many
	// guesses as the service will judge, for an hour.
	fc := &failCounter{}
	f := newFixture(t, manyRequests, func(s store.Store) store.Store { fc.Store = s; return fc })
	ctx := context.Background()
	end := f.clock.Now().Add(time.Hour)
	for f.clock.Now().Before(end) {
		if _, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria}); err == nil {
			code := f.whatsapp.last(t).Code
			for i := 0; i < 10; i++ {
				if _, err := f.verify(wrong(code)); !errors.Is(err, otpcode.ErrInvalidCode) {
					break
				}
			}
		}
		f.clock.Advance(time.Minute)
	}
	assert.Equal(t, 10, fc.count(), "wrong guesses judged in one hour")
}

func TestGuessesInFlightAtTheLockAreNotJudged(t *testing.T) {
	fc := &failCounter{}
	f := newFixture(t, manyRequests, func(s store.Store) store.Store { fc.Store = s; return fc })
	// Eight failures: five on a first code, three on a second.
	for _, n := range []int{5, 3} {
		f.request(t, maria)
		code := f.whatsapp.last(t).Code
		for i := 0; i < n; i++ {
			_, err := f.verify(wrong(code))
			require.ErrorIs(t, err, otpcode.ErrInvalidCode)
		}
		f.clock.Advance(61 * time.Second)
	}
	f.request(t, maria)
	code := f.whatsapp.last(t).Code

	const n = 20
	errs := together(n, func(int) error {
		_, err := f.verify(wrong(code))
		return err
	})
	var locked int
	for _, err := range errs {
		if errors.Is(err, otpcode.ErrLocked) {
			locked++
		} else {
			assert.ErrorIs(t, err, otpcode.ErrInvalidCode)
		}
	}
	assert.GreaterOrEqual(t, locked, n-2)
	assert.Equal(t, 10, fc.count(), "only the two guesses left in the budget are judged")
	_, err := f.verify(code)
	assert.ErrorIs(t, err, otpcode.ErrLocked, "even the right code waits for the lock")
}

func TestOneCustomerOneBudget(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	f.request(t, maria)
	// Maria's email is the same customer: the same cooldown, the same code.
	_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "MARIA@example.com"})
	require.ErrorIs(t, err, otpcode.ErrCooldown)
	v, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: mariaEmail, Code: f.whatsapp.last(t).Code})
	require.NoError(t, err)
	assert.Equal(t, "cust-maria", v.Customer.ID)
}

func TestRequestLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("resend cooldown", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.request(t, maria)
		f.clock.Advance(20 * time.Second)
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
		require.ErrorIs(t, err, otpcode.ErrCooldown)
		var le *otpcode.LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 40*time.Second, le.RetryAfter)
		f.clock.Advance(40 * time.Second)
		f.request(t, maria)
	})
	t.Run("send window", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		for i := 0; i < 5; i++ {
			f.request(t, maria)
			f.clock.Advance(time.Minute)
		}
		// Five sends in the window that began 5 minutes ago.
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
		require.ErrorIs(t, err, otpcode.ErrSendLimit)
		var le *otpcode.LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 5*time.Minute, le.RetryAfter)
		f.clock.Advance(le.RetryAfter)
		f.request(t, maria)
	})
	t.Run("integration bucket", func(t *testing.T) {
		f := newFixture(t, func(l *otpcode.Limits) {
			l.IntegrationRate = 2
			l.IntegrationBurst = 3
		}, nil)
		for i := 0; i < 3; i++ {
			_, err := f.verify("123456")
			require.ErrorIs(t, err, otpcode.ErrNotRequested)
		}
		_, err := f.verify("123456")
		require.ErrorIs(t, err, otpcode.ErrRateLimited)
		var le *otpcode.LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 500*time.Millisecond, le.RetryAfter)
		// Another integration has its own bucket.
		_, err = f.svc.Verify(ctx, otpcode.VerifyInput{Integration: "saipos", Identifier: maria, Code: "123456"})
		require.ErrorIs(t, err, otpcode.ErrNotRequested)
		f.clock.Advance(le.RetryAfter)
		_, err = f.verify("123456")
		require.ErrorIs(t, err, otpcode.ErrNotRequested)
	})
}

func TestNewRequestReplacesCodeButNotFailures(t *testing.T) {
	f := newFixture(t, manyRequests, nil)
	f.request(t, maria)
	old := f.whatsapp.last(t).Code
	for i := 0; i < 9; i++ {
		_, err := f.verify(wrong(old))
		if i < 5 {
			require.ErrorIs(t, err, otpcode.ErrInvalidCode)
		} else {
			require.ErrorIs(t, err, otpcode.ErrTooManyAttempts)
		}
	}
	f.clock.Advance(time.Minute)
	f.request(t, maria)
	code := f.whatsapp.last(t).Code
	if code != old {
		_, err := f.verify(old)
		require.ErrorIs(t, err, otpcode.ErrInvalidCode, "the earlier code is replaced")
	}
	// Five wrong guesses were counted for the identity (or six, with the
	// replaced code's); the lock comes at ten all the same.
	for i := 0; ; i++ {
		_, err := f.verify(wrong(code))
		if errors.Is(err, otpcode.ErrLocked) {
			break
		}
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
		require.Less(t, i, 5, "the identity-wide count must survive a new request")
	}
}

func TestSessionBindingAndPurpose(t *testing.T) {
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria, Purpose: "redeem"})
	require.NoError(t, err)
	code := f.whatsapp.last(t).Code

	// Another integration cannot verify Goomer's code: it has no code of
	// its own for Maria. Nor can another purpose.
	_, err = f.svc.Verify(ctx, otpcode.VerifyInput{Integration: "saipos", Identifier: maria, Code: code, Purpose: "redeem"})
	assert.ErrorIs(t, err, otpcode.ErrNotRequested)
	_, err = f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: code, Purpose: "enroll"})
	assert.ErrorIs(t, err, otpcode.ErrInvalidCode)

	v, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: code, Purpose: "redeem", Scopes: []string{"redeem_reward"}})
	require.NoError(t, err)
	sess, found, err := f.store.GetSession(ctx, store.HashToken(v.Session))
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, []string{"redeem_reward"}, sess.Scopes)
	assertSealed(t, f.keys, store.HashToken(v.Session), sess)

	ok, err := f.svc.Revoke(ctx, v.Session)
	require.NoError(t, err)
	assert.True(t, ok)
	_, found, err = f.store.GetSession(ctx, store.HashToken(v.Session))
	require.NoError(t, err)
	assert.False(t, found)
}

func TestFallback(t *testing.T) {
	ctx := context.Background()
	t.Run("whatsapp fails, email delivers", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.whatsapp.fail = &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true, Status: 503}
		res := f.request(t, maria)
		assert.Equal(t, otpcode.ChannelEmail, res.Channel)
		msg := f.email.last(t)
		assert.Equal(t, mariaEmail, msg.To)
		_, err := f.verify(msg.Code)
		assert.NoError(t, err)
	})
	t.Run("no email known, whatsapp fails", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.whatsapp.fail = &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true}
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "+14155552671"})
		assert.ErrorIs(t, err, otpcode.ErrDelivery)
		assert.Zero(t, f.email.count(), "email is tried only when the customer's email is known")
	})
	t.Run("both fail, no usable code left", func(t *testing.T) {
		var codes []string
		f := newFixture(t, nil, nil)
		capture := otpcode.SenderFunc(func(_ context.Context, m otpcode.Message) error {
			codes = append(codes, m.Code)
			return &otpcode.SendError{Channel: m.Channel, Status: 500, Retryable: true}
		})
		chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: capture}, otpcode.Route{Channel: otpcode.ChannelEmail, Sender: capture})
		require.NoError(t, err)
		svc, err := otpcode.NewService(f.store, f.keys, chain, otpcode.WithClock(f.clock.Now), otpcode.WithDirectory(directory{}))
		require.NoError(t, err)
		_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
		require.ErrorIs(t, err, otpcode.ErrDelivery)
		require.ErrorIs(t, err, otpcode.ErrRetryable)
		require.Len(t, codes, 2, "both channels tried")
		_, err = svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: codes[0]})
		assert.ErrorIs(t, err, otpcode.ErrNotRequested, "an undelivered code must not verify")
	})
	t.Run("a cancelled context stops the chain", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		cctx, cancel := context.WithCancel(ctx)
		f.whatsapp.fail = errors.New("boom")
		calls := 0
		chain, err := otpcode.NewChain(
			otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.SenderFunc(func(context.Context, otpcode.Message) error {
				cancel()
				return context.Canceled
			})},
			otpcode.Route{Channel: otpcode.ChannelEmail, Sender: otpcode.SenderFunc(func(context.Context, otpcode.Message) error {
				calls++
				return nil
			})},
		)
		require.NoError(t, err)
		svc, err := otpcode.NewService(f.store, f.keys, chain, otpcode.WithClock(f.clock.Now), otpcode.WithDirectory(directory{}))
		require.NoError(t, err)
		_, err = svc.Request(cctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, calls, "email must not be tried after cancellation")
	})
}

// recorder is a store that remembers everything written through it, so a
// test can check that no secret is ever handed to a store.
type recorder struct {
	store.Store
	mu      sync.Mutex
	written []string
}

func (r *recorder) keep(v ...any) {
	b, _ := json.Marshal(v)
	r.mu.Lock()
	r.written = append(r.written, string(b))
	r.mu.Unlock()
}

func (r *recorder) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	r.keep(p, c)
	return r.Store.PutCode(ctx, p, c, ttl)
}

func (r *recorder) CreateSession(ctx context.Context, h string, s store.Session, ttl time.Duration) error {
	r.keep(h, s)
	return r.Store.CreateSession(ctx, h, s, ttl)
}

func TestNoSecretReachesTheStore(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, nil, func(s store.Store) store.Store { rec.Store = s; return rec })
	f.request(t, maria)
	code := f.whatsapp.last(t).Code
	v, err := f.verify(code)
	require.NoError(t, err)
	require.Len(t, rec.written, 2)
	all := strings.Join(rec.written, "\n")
	assert.NotContains(t, all, v.Session)
	// The MAC is base64 in JSON; check the raw record fields as well.
	for _, w := range rec.written {
		assert.NotContains(t, w, `"`+code+`"`)
	}
}

func TestWithRegion(t *testing.T) {
	keys := mustKeys(t)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	require.NoError(t, err)
	st := memory.New()
	t.Cleanup(st.Close)
	for _, region := range []string{"BR", "US", "PT", ""} {
		svc, err := otpcode.NewService(st, keys, chain, otpcode.WithRegion(region))
		require.NoError(t, err, "region %q", region)
		assert.Equal(t, region, svc.Region())
	}
	svc, err := otpcode.NewService(st, keys, chain)
	require.NoError(t, err)
	assert.Equal(t, "", svc.Region(), "got region %q by default, want none", svc.Region())
	for _, region := range []string{"ZZ", "br", "BRA", "001", "076", " BR"} {
		_, err := otpcode.NewService(st, keys, chain, otpcode.WithRegion(region))
		assert.Error(t, err, "region %q", region)
	}
}

// TestRequestWithRegion runs identifiers as people type them through a
// service with region BR.
func TestRequestWithRegion(t *testing.T) {
	ctx := context.Background()
	const (
		ambiguous      = "11987650034"    // a valid CPF and a valid São Paulo mobile
		ambiguousPhone = "+5511987650034" // the same digits as a phone number
	)
	t.Run("national formats reach the phone", func(t *testing.T) {
		for _, in := range []string{"11987654321", "(11) 98765-4321", "11 98765-4321", "+55 11 98765-4321"} {
			t.Run(in, func(t *testing.T) {
				f := newFixture(t, nil, nil, otpcode.WithRegion("BR"))
				f.request(t, in)
				assert.Equal(t, maria, f.whatsapp.last(t).To)
				// Verified in another format, it is the same identifier.
				v, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: "(11) 98765-4321", Code: f.whatsapp.last(t).Code})
				require.NoError(t, err)
				assert.Equal(t, "cust-maria", v.Customer.ID)
			})
		}
	})
	t.Run("ambiguous digits are refused", func(t *testing.T) {
		f := newFixture(t, nil, nil, otpcode.WithRegion("BR"))
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: ambiguous})
		require.ErrorIs(t, err, otpcode.ErrAmbiguousIdentifier)
		assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier)
		assert.ErrorIs(t, err, otpcode.ErrInvalidInput)
		var fe *otpcode.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "identifier", fe.Field)
		assert.Equal(t, "ambiguous", fe.Code)
		assert.Contains(t, fe.Message, "identifier_type")
		assert.Equal(t, `identifier names both a CPF and a phone number; send identifier_type "phone" or "cpf"`, fe.Message)
		assert.NotContains(t, fe.Error(), ambiguous, "the error must not echo the identifier")
		var ie *otpcode.IdentifierError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, otpcode.KindUnknown, ie.Kind)
		assert.Zero(t, f.whatsapp.count()+f.email.count(), "nothing may be sent for an ambiguous identifier")

		// Verify refuses it too, before any attempt is charged.
		_, err = f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: ambiguous, Code: "123456"})
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "ambiguous", fe.Code)
	})
	t.Run("formatted digits are not ambiguous", func(t *testing.T) {
		f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 }, nil, otpcode.WithRegion("BR"))
		for _, in := range []string{"(11) 98765-0034", "11 98765-0034", "+55 11 98765-0034"} {
			res, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: in})
			require.NoError(t, err, in)
			assert.Equal(t, otpcode.ChannelWhatsApp, res.Channel)
			assert.Equal(t, ambiguousPhone, f.whatsapp.last(t).To)
		}
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "119.876.500-34"})
		assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer, "a punctuated CPF is a CPF")
	})
	t.Run("identifier type phone", func(t *testing.T) {
		f := newFixture(t, nil, nil, otpcode.WithRegion("BR"))
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: ambiguous, IdentifierType: otpcode.KindPhone})
		require.NoError(t, err)
		msg := f.whatsapp.last(t)
		assert.Equal(t, ambiguousPhone, msg.To)
		v, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: ambiguous, IdentifierType: otpcode.KindPhone, Code: msg.Code})
		require.NoError(t, err)
		sess, found, err := f.store.GetSession(ctx, store.HashToken(v.Session))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, "new-"+ambiguousPhone, v.Customer.ID, "got the customer of another identifier")
		assert.Equal(t, v.Customer.ID, sess.CustomerID)
		assertSealed(t, f.keys, store.HashToken(v.Session), sess)
	})
	t.Run("identifier type cpf", func(t *testing.T) {
		f := newFixture(t, nil, nil, otpcode.WithRegion("BR"))
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: ambiguous, IdentifierType: otpcode.KindCPF})
		assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer, "the test directory knows no CPF")
		_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "(11) 98765-0034", IdentifierType: otpcode.KindCPF})
		var fe *otpcode.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "invalid_format", fe.Code)
	})
	t.Run("without a region bare digits are a CPF", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: ambiguous})
		assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
		_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "11987654321"})
		var fe *otpcode.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "invalid_format", fe.Code)
		assert.Equal(t, "CPF check digits do not match", fe.Message)
		_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: ambiguous, IdentifierType: otpcode.KindPhone})
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "phone numbers must start with + and a country code", fe.Message)
	})
}

func TestNewServiceValidates(t *testing.T) {
	keys := mustKeys(t)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: &outbox{}})
	require.NoError(t, err)
	st := memory.New()
	t.Cleanup(st.Close)
	_, err = otpcode.NewService(nil, keys, chain)
	assert.Error(t, err)
	_, err = otpcode.NewService(st, nil, chain)
	assert.Error(t, err)
	_, err = otpcode.NewService(st, &keyring.Keyring{}, chain)
	assert.Error(t, err, "a keyring without keys must be refused, not panic later")
	_, err = otpcode.NewService(st, keys, nil)
	assert.Error(t, err)
	for name, mutate := range map[string]func(*otpcode.Limits){
		"code length 5":  func(l *otpcode.Limits) { l.CodeLength = 5 },
		"code length 11": func(l *otpcode.Limits) { l.CodeLength = 11 },
		"zero code TTL":  func(l *otpcode.Limits) { l.CodeTTL = 0 },
		"zero attempts":  func(l *otpcode.Limits) { l.MaxAttempts = 0 },
		"zero rate":      func(l *otpcode.Limits) { l.IntegrationRate = 0 },
		"zero send":      func(l *otpcode.Limits) { l.SendLimit = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			l := otpcode.DefaultLimits()
			mutate(&l)
			_, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(l))
			assert.Error(t, err)
		})
	}
}

func TestDevSender(t *testing.T) {
	var buf bytes.Buffer
	d := otpcode.NewDevSender(&buf)
	exp := time.Date(2026, 11, 22, 12, 5, 0, 0, time.UTC)
	require.NoError(t, d.Send(context.Background(), otpcode.Message{Channel: otpcode.ChannelWhatsApp, To: maria, Code: "012345", ExpiresAt: exp}))
	assert.Equal(t, `{"channel":"whatsapp","to":"+5511987654321","code":"012345","expires_at":"2026-11-22T12:05:00Z"}`+"\n", buf.String())
}

func BenchmarkRequest(b *testing.B) {
	st := memory.New()
	b.Cleanup(st.Close)
	keys := mustKeys(b)
	chain, _ := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	l := otpcode.DefaultLimits()
	l.ResendCooldown = 0
	l.SendLimit = 1 << 30
	l.CustomerSendLimit = 1 << 30
	l.IntegrationSendLimit = 1 << 30
	manyRequests(&l)
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(l))
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	st := memory.New()
	b.Cleanup(st.Close)
	keys := mustKeys(b)
	chain, _ := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	l := otpcode.DefaultLimits()
	manyRequests(&l)
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(l))
	require.NoError(b, err)
	ctx := context.Background()
	const code = "123456"

	// Codes are put straight into the store, a batch at a time outside the
	// timer, each for its own customer, so that only Verify is measured.
	const batch = 4096
	inputs := make([]otpcode.VerifyInput, batch)
	for i := range inputs {
		phone := fmt.Sprintf("+551198%07d", i)
		_, err := otpcode.Parser{}.Parse(phone) // valid, and now cached
		require.NoError(b, err)
		inputs[i] = otpcode.VerifyInput{Integration: goomer, Identifier: phone, Code: code}
	}
	// Sessions of the previous batch are revoked with the timer stopped,
	// so the live heap stays that of a server in steady state rather than
	// growing with b.N (which would bill the benchmark for marking it).
	tokens := make([]string, 0, batch)
	fill := func() {
		for _, tok := range tokens {
			if _, err := svc.Revoke(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		tokens = tokens[:0]
		for _, in := range inputs {
			sub := strangerSubject(keys, "phone:"+in.Identifier)
			rec := store.Code{ID: "bench", MAC: keys.Sign(codeDomain, goomer, sub, "", code), Integration: goomer, ExpiresAt: time.Now().Add(time.Hour)}
			if err := st.PutCode(ctx, store.Pair{Integration: goomer, Subject: sub}, rec, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		v, err := svc.Verify(ctx, inputs[i%batch])
		if err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, v.Session)
	}
}

func TestMalformedIdentifiersAreRateLimited(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) {
		l.IntegrationRate = 1
		l.IntegrationBurst = 2
	}, nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "+99 not a phone"})
		require.ErrorIs(t, err, otpcode.ErrInvalidIdentifier)
	}
	// Parsing is the expensive part: the bucket is spent before it.
	_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "+99 not a phone"})
	assert.ErrorIs(t, err, otpcode.ErrRateLimited)
}

func TestExpiredAttemptsSpendTheBudgetAndLock(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) {
		manyRequests(l)
		l.LockAfter = 3
	}, nil)
	ctx := context.Background()
	f.request(t, maria)
	code := f.whatsapp.last(t).Code
	f.clock.Advance(6 * time.Minute)
	for i := 0; i < 2; i++ {
		_, err := f.verify(code)
		require.ErrorIs(t, err, otpcode.ErrExpired, "attempt %d", i+1)
	}
	// The third attempt spends the budget: the customer is locked, and a
	// new request is refused instead of sending a code that cannot verify.
	_, err := f.verify(code)
	require.ErrorIs(t, err, otpcode.ErrLocked)
	_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
	assert.ErrorIs(t, err, otpcode.ErrLocked)
}
