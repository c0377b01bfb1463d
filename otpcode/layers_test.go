package otpcode_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/telemetry"
)

const saipos = "saipos"

func (f *fixture) requestAs(integration, identifier string) (otpcode.RequestResult, error) {
	return f.svc.Request(context.Background(), otpcode.RequestInput{Integration: integration, Identifier: identifier})
}

func (f *fixture) verifyAs(integration, code string) (otpcode.VerifyResult, error) {
	return f.svc.Verify(context.Background(), otpcode.VerifyInput{Integration: integration, Identifier: maria, Code: code})
}

func limitError(t *testing.T, err error, sentinel error) *otpcode.LimitError {
	t.Helper()
	var le *otpcode.LimitError
	require.ErrorAs(t, err, &le, "got %v, want a *LimitError", err)
	require.ErrorIs(t, err, sentinel)
	return le
}

func TestPairsHaveTheirOwnCodes(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 }, nil)
	_, err := f.requestAs(saipos, maria)
	require.NoError(t, err)
	saiposCode := f.whatsapp.last(t).Code
	_, err = f.requestAs(goomer, maria)
	require.NoError(t, err)
	goomerCode := f.whatsapp.last(t).Code
	// Goomer burns its own code; Saipos's is untouched.
	for range 5 {
		_, err = f.verifyAs(goomer, wrong(goomerCode))
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	_, err = f.verifyAs(goomer, goomerCode)
	le := limitError(t, err, otpcode.ErrTooManyAttempts)
	assert.Equal(t, store.ScopePair, le.Scope)
	// Saipos's code verifies, and Goomer's code never worked for Saipos.
	_, err = f.verifyAs(saipos, goomerCode)
	if goomerCode != saiposCode {
		assert.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	v, err := f.verifyAs(saipos, saiposCode)
	require.NoError(t, err)
	assert.Equal(t, "cust-maria", v.Customer.ID)
}

func TestLockScopesAndEvents(t *testing.T) {
	var (
		mu     sync.Mutex
		events []telemetry.Event
	)
	tel, err := telemetry.New(telemetry.WithEvents(func(_ context.Context, e telemetry.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	require.NoError(t, err)
	f := newFixture(t, func(l *otpcode.Limits) {
		l.ResendCooldown = 0
		l.CustomerFailLimit = 12
	}, nil, otpcode.WithTelemetry(tel))
	guess := func(integration string, n int) error {
		t.Helper()
		_, err := f.requestAs(integration, maria)
		require.NoError(t, err)
		code := f.whatsapp.last(t).Code
		for range n {
			if _, err = f.verifyAs(integration, wrong(code)); !errors.Is(err, otpcode.ErrInvalidCode) {
				return err
			}
		}
		return err
	}
	require.ErrorIs(t, guess(goomer, 5), otpcode.ErrInvalidCode)
	// The 10th wrong code locks Goomer's pair, only.
	lockErr := guess(goomer, 5)
	le := limitError(t, lockErr, otpcode.ErrLocked)
	assert.Equal(t, store.ScopePair, le.Scope)
	// Locked for LockFor or the rest of the window, whichever is longer:
	// the window began with the first failure, on this same clock.
	assert.Equal(t, time.Hour, le.LockDuration)
	_, err = f.requestAs(goomer, maria)
	assert.Equal(t, store.ScopePair, limitError(t, err, otpcode.ErrLocked).Scope)
	// Saipos's two wrong codes spend the customer's run of 12.
	le = limitError(t, guess(saipos, 2), otpcode.ErrLocked)
	assert.Equal(t, store.ScopeCustomer, le.Scope)
	assert.Equal(t, 24*time.Hour, le.RetryAfter)
	_, err = f.requestAs("balcao", mariaEmail)
	assert.Equal(t, store.ScopeCustomer, limitError(t, err, otpcode.ErrLocked).Scope)

	mu.Lock()
	defer mu.Unlock()
	// Events name the customer by its audit reference: a pseudonym of the
	// subject in a domain of its own, not the subject the store knows.
	sub := subject(f.keys, "customer:cust-maria")
	ref := f.keys.Pseudonym("otpguard/audit/v1", sub)
	assert.NotEqual(t, sub, ref)
	assert.Equal(t, ref, otpcode.CustomerRef(lockErr), "got another reference in the error than in the event")
	require.Len(t, events, 2)
	assert.Equal(t, telemetry.Event{Kind: telemetry.EventLocked, Integration: goomer, Customer: ref, Scope: store.ScopePair, Duration: time.Hour}, events[0])
	assert.Equal(t, telemetry.Event{Kind: telemetry.EventLocked, Integration: saipos, Customer: ref, Scope: store.ScopeCustomer, Duration: 24 * time.Hour}, events[1])
	assert.Equal(t, "otp.locked", events[0].Kind.String())
}

func TestSendWindowsGiveBackOnRefusal(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) {
		l.ResendCooldown = 0
		l.CustomerSendLimit = 2
		l.SendLimit = 3
	}, nil)
	_, err := f.requestAs(goomer, maria)
	require.NoError(t, err)
	_, err = f.requestAs(saipos, maria)
	require.NoError(t, err)
	// The customer's window is full: Goomer's request is refused by it, and
	// the pair window it had counted is given back.
	_, err = f.requestAs(goomer, maria)
	le := limitError(t, err, otpcode.ErrSendLimit)
	assert.Equal(t, store.ScopeCustomer, le.Scope)
	assert.Equal(t, time.Hour, le.RetryAfter)
	f.clock.Advance(time.Hour)
	for range 2 {
		_, err = f.requestAs(goomer, maria)
		require.NoError(t, err, "Goomer's pair window must hold 3 codes: one, plus two after the refused one was given back")
	}
}

func TestBreakerRefundsRightAndUnjudgedAttempts(t *testing.T) {
	f := newFixture(t, func(l *otpcode.Limits) {
		l.ResendCooldown = 0
		l.IntegrationFailLimit = 2
	}, nil)
	// Right codes and attempts on no code do not count toward the breaker.
	for range 3 {
		_, err := f.requestAs(goomer, maria)
		require.NoError(t, err)
		_, err = f.verifyAs(goomer, f.whatsapp.last(t).Code)
		require.NoError(t, err)
		_, err = f.verifyAs(goomer, "123456")
		require.ErrorIs(t, err, otpcode.ErrNotRequested)
	}
	_, err := f.requestAs(goomer, maria)
	require.NoError(t, err)
	code := f.whatsapp.last(t).Code
	for range 2 {
		_, err = f.verifyAs(goomer, wrong(code))
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	// Two wrong codes: the breaker is open for Goomer's request and verify.
	_, err = f.verifyAs(goomer, code)
	le := limitError(t, err, otpcode.ErrLocked)
	assert.Equal(t, store.ScopeIntegration, le.Scope)
	_, err = f.requestAs(goomer, mariaEmail)
	assert.Equal(t, store.ScopeIntegration, limitError(t, err, otpcode.ErrLocked).Scope)
	_, err = f.requestAs(saipos, maria)
	assert.NoError(t, err, "another integration is not affected")
	f.clock.Advance(time.Hour)
	_, err = f.requestAs(goomer, maria)
	require.NoError(t, err, "the breaker closes when its window ends")
	_, err = f.verifyAs(goomer, f.whatsapp.last(t).Code)
	assert.NoError(t, err)
}

func TestDestinationsRefused(t *testing.T) {
	f := newFixture(t, nil, nil, otpcode.WithAllowedRegions("BR", "IN"))
	for _, number := range []string{"+449098790879", "+979123456789", "+870773111632", "+881612345678", "+19005551234", "+351912345678"} {
		_, err := f.requestAs(goomer, number)
		var fe *otpcode.FieldError
		require.ErrorAs(t, err, &fe, "%s: got %v", number, err)
		assert.Equal(t, "identifier", fe.Field)
		assert.Equal(t, "not_permitted", fe.Code)
		assert.ErrorIs(t, err, otpcode.ErrDestinationNotPermitted)
	}
	assert.Zero(t, f.whatsapp.count())
	_, err := f.requestAs(goomer, "+919044155723")
	assert.NoError(t, err)

	_, err = otpcode.NewService(f.store, f.keys, mustChain(t), otpcode.WithAllowedRegions("XX"))
	assert.Error(t, err)
}

// A fixed line can receive no WhatsApp message: with no email either, it
// cannot be reached.
func TestWhatsAppOnlyToMobiles(t *testing.T) {
	f := newFixture(t, nil, nil)
	_, err := f.requestAs(goomer, "+551134567890")
	assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
	assert.Zero(t, f.whatsapp.count())
}

func TestUnknownRecipientsPolicies(t *testing.T) {
	assert.Equal(t, string(policy.EnrollCustomer), otpcode.EnrollPurpose)
	stranger := "+5521912345678"
	for _, tt := range []struct {
		u                otpcode.UnknownRecipients
		plain, enrolling bool
	}{
		{otpcode.UnknownAllow, true, true},
		{otpcode.UnknownEnroll, false, true},
		{otpcode.UnknownDeny, false, false},
	} {
		t.Run(tt.u.String(), func(t *testing.T) {
			f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 }, nil, otpcode.WithUnknownRecipients(tt.u))
			_, err := f.requestAs(goomer, stranger)
			assert.Equal(t, tt.plain, err == nil, "plain request: %v", err)
			if err != nil {
				assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
			}
			_, err = f.svc.Request(context.Background(), otpcode.RequestInput{Integration: saipos, Identifier: stranger, Purpose: otpcode.EnrollPurpose})
			assert.Equal(t, tt.enrolling, err == nil, "enrolling request: %v", err)
			_, err = f.requestAs(goomer, maria)
			assert.NoError(t, err, "a known customer is always served")
			u, err := otpcode.ParseUnknownRecipients(tt.u.String())
			require.NoError(t, err)
			assert.Equal(t, tt.u, u)
		})
	}
	_, err := otpcode.ParseUnknownRecipients("maybe")
	assert.Error(t, err)
}

func TestLimitsValidateNamesEveryProblem(t *testing.T) {
	l := otpcode.DefaultLimits()
	l.CustomerFailLimit, l.IntegrationSendWindow = 0, 0
	err := l.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "customer fail limit")
	assert.Contains(t, err.Error(), "integration send limit")
	assert.NoError(t, otpcode.DefaultLimits().Validate())
}

func mustChain(t *testing.T) *otpcode.Chain {
	t.Helper()
	c, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: &outbox{}})
	require.NoError(t, err)
	return c
}
