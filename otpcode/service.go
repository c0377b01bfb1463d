package otpcode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/otpguard/otpguard/internal/instrument"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/telemetry"
)

// Service runs the request and verify flow. It is safe for concurrent use;
// all its state lives in its store.
type Service struct {
	store  store.Store
	keys   *keyring.Keyring
	chain  *Chain
	dir    Directory
	limits Limits
	now    func() time.Time
	rand   io.Reader
	region string

	allowedRegions map[string]bool // WithAllowedRegions; empty allows all
	actionPurposes map[string]bool // WithActionPurposes
	unknown        UnknownRecipients
	tel            *telemetry.Telemetry // WithTelemetry
	obs            observer
}

// Option configures a Service.
type Option func(*Service) error

// WithLimits sets every limit at once. Default DefaultLimits().
func WithLimits(l Limits) Option {
	return func(s *Service) error {
		if err := l.Validate(); err != nil {
			return err
		}
		s.limits = l
		return nil
	}
}

// WithDirectory sets the customer directory. Default: a directory that
// knows no customer, so phone numbers and email addresses are reached at
// themselves and become customers whose ID is their canonical value, and a
// CPF is refused with ErrUnknownCustomer.
func WithDirectory(d Directory) Option {
	return func(s *Service) error {
		if d == nil {
			return errors.New("otpcode: nil directory")
		}
		s.dir = d
		return nil
	}
}

// WithRegion sets the default region of phone numbers: the ISO 3166-1
// alpha-2 code, upper case, of the country whose national formats are
// accepted ("BR" reads "(11) 98765-4321" and "11987654321" as
// +5511987654321), as Parser.Region. NewService refuses a region that
// github.com/nyaruka/phonenumbers does not know. Default "": phone numbers
// only in international form (+ and a country code), and 11 bare digits
// always a CPF.
//
// With a region, 11 bare digits that are both a valid CPF and a valid phone
// number of the region are refused as ambiguous unless the request says
// which it is (RequestInput.IdentifierType).
func WithRegion(region string) Option {
	return func(s *Service) error {
		if err := (Parser{Region: region}).check(); err != nil {
			return err
		}
		s.region = region
		return nil
	}
}

// WithClock sets the clock. Default time.Now. Tests move an injected clock
// instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("otpcode: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithRandom sets the source of codes, code IDs and session tokens. Default
// crypto/rand.Reader; anything else is for tests only.
func WithRandom(r io.Reader) Option {
	return func(s *Service) error {
		if r == nil {
			return errors.New("otpcode: nil random source")
		}
		s.rand = r
		return nil
	}
}

// NewService returns a service keeping its state in st, delivering codes
// through chain, and keyed by keys: codes are stored only as their MAC,
// sessions are sealed (store.Seal), and customers are known to the store
// only by keyed pseudonyms, never by phone, email or CPF.
func NewService(st store.Store, keys *keyring.Keyring, chain *Chain, opts ...Option) (*Service, error) {
	if st == nil {
		return nil, errors.New("otpcode: nil store")
	}
	if keys == nil || keys.Len() == 0 {
		return nil, errors.New("otpcode: keyring without keys (use keyring.New)")
	}
	if chain == nil {
		return nil, errors.New("otpcode: nil delivery chain")
	}
	s := &Service{
		store:  st,
		keys:   keys,
		chain:  chain,
		dir:    selfDirectory{keys: keys},
		limits: DefaultLimits(),
		now:    time.Now,
		rand:   rand.Reader,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	obs, err := newObserver(s.tel, s.chain)
	if err != nil {
		return nil, fmt.Errorf("otpcode: telemetry: %w", err)
	}
	s.obs = obs
	if s.store, err = instrument.Store(s.store, obs.tracer, instrument.Meter(s.tel)); err != nil {
		return nil, fmt.Errorf("otpcode: telemetry: %w", err)
	}
	return s, nil
}

// Limits returns the service's limits.
func (s *Service) Limits() Limits { return s.limits }

// Channels returns the channels the service can deliver over, in order.
func (s *Service) Channels() []Channel { return s.chain.Channels() }

// Region returns the default region of phone numbers set by WithRegion, ""
// for none. Parser{Region: s.Region(), Kind: k} parses an identifier as
// Request and Verify do.
func (s *Service) Region() string { return s.region }

// RequestInput is a request for a code.
type RequestInput struct {
	// Integration is the calling integration's ID. Required.
	Integration string
	// Identifier is the customer's phone, email or CPF as sent. Required.
	Identifier string
	// IdentifierType, when set, parses Identifier as that kind only; zero
	// infers the kind (see Parser).
	IdentifierType Kind
	// Channel asks for one channel; "" lets the chain choose.
	Channel Channel
	// Allow, when set, restricts the channels (a policy may forbid email).
	Allow func(Channel) bool
	// Purpose binds the code to a purpose; "" for none.
	Purpose string
	// Locale overrides the customer's locale for the message.
	Locale string
}

// RequestResult is a sent code.
type RequestResult struct {
	// Channel is the channel that delivered the code.
	Channel Channel
	// ExpiresIn is the code's lifetime; ExpiresAt its expiry.
	ExpiresIn time.Duration
	ExpiresAt time.Time
}

// VerifyInput is a verification of a code.
type VerifyInput struct {
	// Integration is the calling integration's ID. Required.
	Integration string
	// Identifier is the same identifier the code was requested for.
	Identifier string
	// IdentifierType, when set, parses Identifier as that kind only; zero
	// infers the kind (see Parser).
	IdentifierType Kind
	// Code is the code the customer received.
	Code string
	// Purpose must equal the purpose the code was requested for.
	Purpose string
	// Scopes, when set, limits the session to these actions.
	Scopes []string
}

// VerifyResult is a successful verification.
type VerifyResult struct {
	// Customer is the verified customer.
	Customer Customer
	// Session is the session token for the X-OTP-Session header. It is
	// returned once and stored only as its hash.
	Session string
	// ExpiresIn is the session's lifetime; ExpiresAt its expiry.
	ExpiresIn time.Duration
	ExpiresAt time.Time
	// Scopes are the session's scopes (empty: any action).
	Scopes []string
}

// Request validates in, applies the limits (the integration's rate and
// breaker, the pair's and the customer's locks, every send limit) and sends
// a new code, which replaces only the same integration's earlier code for
// the customer. If delivery fails no usable code is left. An error that
// comes once the customer is known carries its pseudonymous reference
// (CustomerRef).
func (s *Service) Request(ctx context.Context, in RequestInput) (RequestResult, error) {
	ctx, span := s.obs.startSpan(ctx, instrument.SpanRequest, in.Integration)
	var subject string
	res, err := s.request(ctx, in, &subject)
	if span != nil && err == nil {
		span.SetAttributes(instrument.SpanChannel.String(string(res.Channel)))
	}
	outcome := ""
	if err == nil {
		outcome = "sent"
	}
	return res, s.finish(ctx, span, subject, outcome, err)
}

// request is Request; it sets *subject once the customer is known.
func (s *Service) request(ctx context.Context, in RequestInput, subject *string) (RequestResult, error) {
	if in.Integration == "" {
		return RequestResult{}, errors.New("otpcode: request without integration")
	}
	if in.Identifier == "" {
		return RequestResult{}, errIdentifierRequired()
	}
	if in.IdentifierType > KindCPF {
		return RequestResult{}, errKindInvalid()
	}
	if in.Channel != "" && !s.chain.has(in.Channel) {
		return RequestResult{}, channelError(in.Channel)
	}
	// The integration's bucket and breaker come before parsing the
	// identifier (the expensive part), so that malformed identifiers are
	// limited too.
	rateKey, breakerKey := integrationKeys(in.Integration)
	if err := s.takeIntegration(ctx, rateKey); err != nil {
		return RequestResult{}, err
	}
	if err := s.checkBreaker(ctx, breakerKey); err != nil {
		return RequestResult{}, err
	}
	id, err := s.parseIdentifier(in.Identifier, in.IdentifierType)
	if err != nil {
		return RequestResult{}, err
	}
	if id.Kind == KindPhone {
		if err := s.destinationError(id.Value); err != nil {
			return RequestResult{}, err
		}
	}
	cust, found, err := s.dir.Lookup(ctx, id)
	if err != nil {
		return RequestResult{}, fmt.Errorf("otpcode: directory lookup: %w", err)
	}
	if !found && !s.unknown.allows(in.Purpose) {
		return RequestResult{}, fmt.Errorf("%w: the directory does not know this %s", ErrUnknownCustomer, id.Kind)
	}
	sub, _ := s.subjectOf(id, cust, found)
	p := store.Pair{Integration: in.Integration, Subject: sub}
	*subject = p.Subject
	if err := s.checkLock(ctx, p); err != nil {
		return RequestResult{}, err
	}
	to := cust.Contacts
	if !found {
		to = selfContacts(id)
	}
	allow := s.allowFor(to, in.Channel, in.Allow)
	if !s.reachable(to, allow) {
		switch {
		case in.Channel != "":
			return RequestResult{}, channelError(in.Channel)
		case !s.reachable(to, s.allowFor(to, "", nil)):
			// Nothing could reach this customer, whatever the policy: an
			// unknown CPF, or a customer without usable contacts.
			return RequestResult{}, fmt.Errorf("%w: no channel reaches this %s", ErrUnknownCustomer, id.Kind)
		default:
			return RequestResult{}, &FieldError{Field: "channel", Code: "not_permitted", Message: "no channel permitted for this integration reaches this customer", Err: ErrChannelNotPermitted}
		}
	}
	if err := s.chargeSend(ctx, p); err != nil {
		return RequestResult{}, err
	}

	code, err := GenerateCode(s.rand, s.limits.CodeLength)
	if err != nil {
		return RequestResult{}, err
	}
	codeID, err := NewToken(s.rand)
	if err != nil {
		return RequestResult{}, err
	}
	now := s.now()
	rec := store.Code{
		ID:          codeID,
		MAC:         s.keys.Sign(codeDomain, in.Integration, p.Subject, in.Purpose, code),
		Integration: in.Integration,
		Purpose:     in.Purpose,
		ExpiresAt:   now.Add(s.limits.CodeTTL),
	}
	// The record outlives the code by one more lifetime, so that a late
	// verification is told "expired" rather than "never requested".
	if err := s.store.PutCode(ctx, p, rec, 2*s.limits.CodeTTL); err != nil {
		return RequestResult{}, fmt.Errorf("otpcode: store code: %w", err)
	}
	locale := in.Locale
	if locale == "" {
		locale = cust.Locale
	}
	msg := Message{Code: code, TTL: s.limits.CodeTTL, ExpiresAt: rec.ExpiresAt, Locale: locale, Name: cust.Name, Purpose: in.Purpose}
	var report *delivery
	if s.obs.reporting() {
		report = &delivery{s: s, integration: in.Integration, subject: p.Subject}
	}
	ch, err := s.chain.deliver(ctx, to, msg, allow, report)
	if err != nil {
		// No usable code is left behind. The request's context may be the
		// reason delivery failed, so the clean-up does not depend on it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, derr := s.store.ConsumeCode(cctx, p, codeID)
		cancel()
		if derr != nil {
			return RequestResult{}, errors.Join(err, fmt.Errorf("otpcode: discard undelivered code: %w", derr))
		}
		return RequestResult{}, err
	}
	return RequestResult{Channel: ch, ExpiresIn: s.limits.CodeTTL, ExpiresAt: rec.ExpiresAt}, nil
}

// Verify validates in, counts the attempt atomically before comparing (so
// parallel guesses can exceed no budget), compares in constant time,
// consumes the code exactly once and creates a session bound to the
// integration, the customer and the identifier. Every attempt is charged to
// the integration's breaker first, and given back unless it was judged
// wrong. An error that comes once the customer is known carries its
// pseudonymous reference (CustomerRef).
func (s *Service) Verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	ctx, span := s.obs.startSpan(ctx, instrument.SpanVerify, in.Integration)
	var subject string
	vo := verifyNone
	res, err := s.verify(ctx, in, &subject, &vo)
	s.obs.verified(ctx, vo)
	return res, s.finish(ctx, span, subject, verifyOutcomeNames[vo], err)
}

// verify is Verify; it sets *subject once the customer is known and *vo
// once the attempt is judged.
func (s *Service) verify(ctx context.Context, in VerifyInput, subject *string, vo *verifyOutcome) (VerifyResult, error) {
	if in.Integration == "" {
		return VerifyResult{}, errors.New("otpcode: verify without integration")
	}
	if in.Identifier == "" {
		return VerifyResult{}, errIdentifierRequired()
	}
	if in.IdentifierType > KindCPF {
		return VerifyResult{}, errKindInvalid()
	}
	if err := s.checkCodeFormat(in.Code); err != nil {
		return VerifyResult{}, err
	}
	scopes, err := s.sessionScopes(in.Purpose, in.Scopes)
	if err != nil {
		return VerifyResult{}, err
	}
	// The one reading of the clock: the code's expiry, the session's
	// times and every store call of this verification are judged at it.
	now := s.now()
	ctx = store.WithTime(ctx, now)
	rateKey, breakerKey := integrationKeys(in.Integration)
	if err := s.takeIntegration(ctx, rateKey); err != nil {
		return VerifyResult{}, err
	}
	id, err := s.parseIdentifier(in.Identifier, in.IdentifierType)
	if err != nil {
		return VerifyResult{}, err
	}
	known, found, err := s.dir.Lookup(ctx, id)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: directory lookup: %w", err)
	}
	// self is the identifier's pseudonym when the directory does not know
	// it: the ID of the customer the default directory makes of it below.
	sub, self := s.subjectOf(id, known, found)
	p := store.Pair{Integration: in.Integration, Subject: sub}
	*subject = p.Subject

	// The breaker is charged before the attempt, so that parallel guesses
	// cannot exceed it either; an attempt that is not judged wrong gives
	// its charge back.
	breaker, err := s.chargeBreaker(ctx, breakerKey)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			*vo = verifyLocked
		}
		return VerifyResult{}, err
	}
	wrong := false
	defer func() {
		if !wrong {
			s.refund(ctx, breakerKey)
		}
	}()

	// One atomic step refuses a locked pair or customer or a spent budget,
	// counts the attempt on the code and charges the budgets.
	att, err := s.store.AttemptCode(ctx, p, s.limits.budgets())
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: count attempt: %w", err)
	}
	if att.Lock.Locked() {
		*vo = verifyLocked
		return VerifyResult{}, lockError(att.Lock)
	}
	if !att.Found && found {
		// The code may have been requested while the directory did not
		// know the identifier yet, under the subject of a stranger, and the
		// customer made since (by another partner's verification, on this
		// instance or another). Its code is still this pair's: it is
		// judged under the subject it was issued to, with that subject's
		// budgets, as it would have been before the customer existed. A
		// stranger's pair that is locked (or has no code) is not the
		// customer's: the answer stays "not requested", as the operator's
		// view of the customer (Status) shows no lock. The audit and the
		// events keep naming the customer (*subject). The cost, a second
		// store call and two pseudonyms, falls only on verifications of a
		// known customer that find no code.
		if stranger, _ := s.subjectOf(id, Customer{}, false); stranger != p.Subject {
			sp := store.Pair{Integration: p.Integration, Subject: stranger}
			satt, err := s.store.AttemptCode(ctx, sp, s.limits.budgets())
			if err != nil {
				return VerifyResult{}, fmt.Errorf("otpcode: count attempt: %w", err)
			}
			if satt.Found {
				p, att = sp, satt
			}
		}
	}
	if !att.Found {
		*vo = verifyNotFound
		return VerifyResult{}, ErrNotRequested
	}
	rec := att.Code
	if !now.Before(rec.ExpiresAt) {
		// The attempt stays charged (an expired code is no free guess), and
		// counts as a failure: a spent budget becomes a lock here too.
		wrong = true
		*vo = verifyExpired
		return VerifyResult{}, s.fail(ctx, p, *subject, breaker, ErrExpired)
	}
	if rec.Attempts > s.limits.MaxAttempts {
		*vo = verifyBurned
		return VerifyResult{}, &LimitError{Err: ErrTooManyAttempts, RetryAfter: s.cooldownLeft(rec, now), Scope: store.ScopePair}
	}
	if !s.keys.Verify(codeDomain, rec.MAC, in.Integration, p.Subject, in.Purpose, in.Code) {
		wrong = true
		*vo = verifyWrongCode
		return VerifyResult{}, s.fail(ctx, p, *subject, breaker, ErrInvalidCode)
	}
	consumed, err := s.store.ConsumeCode(ctx, p, rec.ID)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: consume code: %w", err)
	}
	if !consumed {
		// A parallel verification (or a newer request) took the code first.
		*vo = verifyNotFound
		return VerifyResult{}, ErrNotRequested
	}
	if err := s.store.Succeed(ctx, p); err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: reset failures: %w", err)
	}
	cust, found, err := s.resolve(ctx, id, self)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: directory resolve: %w", err)
	}
	if !found {
		*vo = verifyNotFound
		return VerifyResult{}, ErrUnknownCustomer
	}
	token, err := NewSessionToken(s.rand, s.keys)
	if err != nil {
		return VerifyResult{}, err
	}
	sess := store.Session{
		Integration: in.Integration,
		CustomerID:  cust.ID,
		Scopes:      scopes,
		VerifiedAt:  now,
		ExpiresAt:   now.Add(s.limits.SessionTTL),
	}
	hash := store.HashToken(token)
	store.Seal(s.keys, hash, &sess)
	if err := s.store.CreateSession(ctx, hash, sess, s.limits.SessionTTL); err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: create session: %w", err)
	}
	*vo = verifyVerified
	return VerifyResult{Customer: cust, Session: token, ExpiresIn: s.limits.SessionTTL, ExpiresAt: sess.ExpiresAt, Scopes: scopes}, nil
}

// fail ends a verification whose attempt AttemptCode charged and that was
// judged wrong: it locks the pair or the customer when the attempt spent
// their budget (counting otpguard_locks and emitting
// telemetry.EventLocked), reports a breaker this attempt filled (the same
// with telemetry.EventBreakerTripped), and returns ErrLocked with the lock in
// force, or else reason. ref is the subject the lock's event names: the
// customer's, also when the code was a stranger's (see verify).
func (s *Service) fail(ctx context.Context, p store.Pair, ref string, breaker store.Window, reason error) error {
	if breaker.Left == 0 {
		s.obs.lock(ctx, store.ScopeIntegration)
		s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventBreakerTripped, Integration: p.Integration, Scope: store.ScopeIntegration, Duration: s.limits.IntegrationFailWindow})
	}
	lock, err := s.store.Fail(ctx, p, s.limits.budgets())
	if err != nil {
		return fmt.Errorf("otpcode: count failure: %w", err)
	}
	if lock.Set {
		s.obs.lock(ctx, lock.Scope)
		if s.tel.HasEvents() {
			s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventLocked, Integration: p.Integration, Customer: s.customerRef(ref), Scope: lock.Scope, Duration: lock.Remaining})
		}
	}
	if lock.Locked() {
		return lockError(lock)
	}
	return reason
}

// lockError is the error of a refusal by a lock.
func lockError(l store.Lock) error {
	return &LimitError{Err: ErrLocked, RetryAfter: l.Remaining, LockDuration: l.Remaining, Scope: l.Scope}
}

// checkBreaker refuses an integration whose wrong codes tripped its
// breaker, kept under key (integrationKeys), without charging it.
func (s *Service) checkBreaker(ctx context.Context, key string) error {
	w, err := s.store.Peek(ctx, key, s.limits.IntegrationFailLimit)
	if err != nil {
		return fmt.Errorf("otpcode: integration breaker: %w", err)
	}
	if !w.Allowed {
		return lockError(store.Lock{Scope: store.ScopeIntegration, Remaining: w.RetryAfter})
	}
	return nil
}

// chargeBreaker charges one attempt to the integration's breaker, kept
// under key (integrationKeys), or refuses it when the breaker is open.
func (s *Service) chargeBreaker(ctx context.Context, key string) (store.Window, error) {
	w, err := s.store.Hit(ctx, key, s.limits.IntegrationFailLimit, s.limits.IntegrationFailWindow)
	if err != nil {
		return w, fmt.Errorf("otpcode: integration breaker: %w", err)
	}
	if !w.Allowed {
		return w, lockError(store.Lock{Scope: store.ScopeIntegration, Remaining: w.RetryAfter})
	}
	return w, nil
}

// chargeSend applies the pair's cooldown and the send windows of the pair,
// the customer and the integration, in that order; when one refuses, the
// windows counted before it are given back.
func (s *Service) chargeSend(ctx context.Context, p store.Pair) error {
	if s.limits.ResendCooldown > 0 {
		ok, retry, err := s.store.Cooldown(ctx, pairKey("cool", p), s.limits.ResendCooldown)
		if err != nil {
			return fmt.Errorf("otpcode: cooldown: %w", err)
		}
		if !ok {
			return &LimitError{Err: ErrCooldown, RetryAfter: retry, Scope: store.ScopePair}
		}
	}
	windows := []struct {
		key    string
		limit  int
		window time.Duration
		scope  store.LockScope
	}{
		{pairKey("sends", p), s.limits.SendLimit, s.limits.SendWindow, store.ScopePair},
		{customerKey("sends", p.Subject), s.limits.CustomerSendLimit, s.limits.CustomerSendWindow, store.ScopeCustomer},
		{integrationKey("sends", p.Integration), s.limits.IntegrationSendLimit, s.limits.IntegrationSendWindow, store.ScopeIntegration},
	}
	for i, w := range windows {
		got, err := s.store.Hit(ctx, w.key, w.limit, w.window)
		if err == nil && got.Allowed {
			continue
		}
		for _, back := range windows[:i] {
			s.refund(ctx, back.key)
		}
		if err != nil {
			return fmt.Errorf("otpcode: send window: %w", err)
		}
		return &LimitError{Err: ErrSendLimit, RetryAfter: got.RetryAfter, Scope: w.scope}
	}
	return nil
}

// refund gives back one event counted under key. It runs even when ctx is
// done, and a failure only leaves a limit stricter than it needs to be.
//
// A context that can end (a server request's) is detached for the refund,
// which then has refundTimeout of its own. A context whose Done is nil can
// never end, so the refund already runs to completion under it, bounded as
// every other store call made under it is; detaching it would cost five
// allocations on the success path of every verification, which gives its
// breaker charge back.
func (s *Service) refund(ctx context.Context, key string) {
	if ctx.Done() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
		defer cancel()
	}
	_ = s.store.Refund(ctx, key)
}

// refundTimeout bounds a refund detached from its caller's context.
const refundTimeout = 5 * time.Second

// cooldownLeft returns what is left at now of the resend cooldown that began
// when rec was requested, zero when it is over or off. The request time is
// not stored; rec.ExpiresAt is that time plus CodeTTL.
func (s *Service) cooldownLeft(rec store.Code, now time.Time) time.Duration {
	if s.limits.ResendCooldown <= 0 {
		return 0
	}
	end := rec.ExpiresAt.Add(s.limits.ResendCooldown - s.limits.CodeTTL)
	return max(end.Sub(now), 0)
}

// takeIntegration takes a token from the integration's bucket, kept under
// key (integrationKeys).
func (s *Service) takeIntegration(ctx context.Context, key string) error {
	ok, retry, err := s.store.Take(ctx, key, s.limits.IntegrationRate, s.limits.IntegrationBurst)
	if err != nil {
		return fmt.Errorf("otpcode: integration rate: %w", err)
	}
	if !ok {
		return &LimitError{Err: ErrRateLimited, RetryAfter: retry, Scope: store.ScopeIntegration}
	}
	return nil
}

func (s *Service) checkLock(ctx context.Context, p store.Pair) error {
	lock, err := s.store.Locked(ctx, p)
	if err != nil {
		return fmt.Errorf("otpcode: check lock: %w", err)
	}
	if lock.Locked() {
		return lockError(lock)
	}
	return nil
}

func (s *Service) checkCodeFormat(code string) error {
	if code == "" {
		return &FieldError{Field: "otp_code", Code: "required", Message: "otp_code is required"}
	}
	if len(code) != s.limits.CodeLength {
		return &FieldError{Field: "otp_code", Code: "invalid_format", Message: fmt.Sprintf("otp_code must be %d digits", s.limits.CodeLength)}
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return &FieldError{Field: "otp_code", Code: "invalid_format", Message: fmt.Sprintf("otp_code must be %d digits", s.limits.CodeLength)}
		}
	}
	return nil
}

func (s *Service) reachable(to Contacts, allow func(Channel) bool) bool {
	for _, r := range s.chain.routes {
		if (allow == nil || allow(r.Channel)) && r.Contact(to) != "" {
			return true
		}
	}
	return false
}

// allowFor returns which channels may carry a code to to: only ch when the
// request names one, only those allow permits, and a phone channel only
// when its number can be a mobile and the destination rules allow it.
func (s *Service) allowFor(to Contacts, ch Channel, allow func(Channel) bool) func(Channel) bool {
	return func(c Channel) bool {
		return (ch == "" || c == ch) &&
			(allow == nil || allow(c)) &&
			s.reaches(c, to)
	}
}

func errIdentifierRequired() error {
	return &FieldError{Field: "identifier", Code: "required", Message: "identifier is required"}
}

// parseIdentifier parses raw as the service's Parser does with kind, and
// turns a refusal into a *FieldError for "identifier": code "ambiguous"
// (wrapping ErrAmbiguousIdentifier) or "invalid_format".
func (s *Service) parseIdentifier(raw string, kind Kind) (Identifier, error) {
	id, err := Parser{Region: s.region, Kind: kind}.Parse(raw)
	if err == nil {
		return id, nil
	}
	var ie *IdentifierError
	switch {
	case errors.Is(err, ErrAmbiguousIdentifier):
		return Identifier{}, &FieldError{Field: "identifier", Code: "ambiguous", Message: msgAmbiguous, Err: err}
	case errors.As(err, &ie):
		return Identifier{}, &FieldError{Field: "identifier", Code: "invalid_format", Message: ie.Reason, Err: err}
	}
	return Identifier{}, err // region and kind were checked before: unreachable
}

const msgAmbiguous = reasonAmbiguous + `; send identifier_type "phone" or "cpf"`

func channelError(ch Channel) error {
	return &FieldError{Field: "channel", Code: "not_permitted", Message: fmt.Sprintf("channel %q is not offered for this identifier", ch), Err: ErrChannelNotPermitted}
}

// subjectOf returns the subject of an identifier's codes, cooldowns, send
// windows, failure budgets and locks: the customer, when the directory
// knows one, so that a customer's phone, email and CPF share one set of
// limits rather than giving an attacker one per identifier; else the
// identifier itself. Either way the store sees only a keyed pseudonym,
// never the identifier or the customer ID.
//
// For an identifier the directory does not know, the subject is that of
// the customer the default directory makes of it, whose ID is the
// identifier's pseudonym (selfID); subjectOf returns that ID as self, for
// resolve, and "" otherwise. The two pseudonyms share one allocation.
func (s *Service) subjectOf(id Identifier, c Customer, found bool) (subject, self string) {
	if found && c.ID != "" {
		return s.customerSubject(c.ID), ""
	}
	var buf [2 * pseudonymLen]byte
	b := s.keys.AppendPseudonym(buf[:0], subjectDomain, id.Subject())
	b = s.keys.AppendPseudonym(b, subjectDomain, customerPrefix+string(b))
	both := string(b)
	return both[pseudonymLen:], both[:pseudonymLen]
}

// resolve returns the directory's customer for a verified identifier. The
// default directory's customer is made here from self, the identifier's
// pseudonym that subjectOf returned, rather than by Resolve computing it
// again.
func (s *Service) resolve(ctx context.Context, id Identifier, self string) (Customer, bool, error) {
	if d, ok := s.dir.(selfDirectory); ok && self != "" && id.Kind != KindCPF {
		return d.customer(id, self), true, nil
	}
	return s.dir.Resolve(ctx, id)
}

// selfID is the customer ID of an identifier no directory knows: its keyed
// pseudonym. The default directory gives it to the customers it makes, so
// that their sessions, and the operator's view of their limits, use the
// same subject as their codes.
func selfID(k *keyring.Keyring, id Identifier) string {
	return k.Pseudonym(subjectDomain, id.Subject())
}

// customerSubject is the subject of a customer the directory knows.
func (s *Service) customerSubject(id string) string {
	return s.keys.Pseudonym(subjectDomain, customerPrefix+id)
}

// customerPrefix prefixes a customer ID in the value of its subject
// pseudonym, which no identifier's subject ("phone:…", "email:…", "cpf:…")
// can then share.
const customerPrefix = "customer:"

// pseudonymLen is the length of a keyed pseudonym (keyring.Pseudonym).
const pseudonymLen = keyring.PseudonymLen

func selfContacts(id Identifier) Contacts {
	switch id.Kind {
	case KindPhone:
		return Contacts{Phone: id.Value}
	case KindEmail:
		return Contacts{Email: id.Value}
	}
	return Contacts{}
}

// selfDirectory is the default directory: it knows no customer; a phone or
// email address is its own customer, whose ID is the identifier's keyed
// pseudonym, so that no session record or index names it.
type selfDirectory struct{ keys *keyring.Keyring }

func (selfDirectory) Lookup(context.Context, Identifier) (Customer, bool, error) {
	return Customer{}, false, nil
}

func (d selfDirectory) Resolve(_ context.Context, id Identifier) (Customer, bool, error) {
	if id.Kind == KindCPF {
		return Customer{}, false, nil
	}
	return d.customer(id, selfID(d.keys, id)), true, nil
}

// customer is the customer Resolve makes of id, a phone number or an email
// address, given its pseudonym self (selfID).
func (selfDirectory) customer(id Identifier, self string) Customer {
	return Customer{ID: self, Contacts: selfContacts(id)}
}
