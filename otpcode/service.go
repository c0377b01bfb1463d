package otpcode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/store"
)

// Limits are the service's limits. DefaultLimits returns the defaults; a
// zero field is invalid (NewService rejects it) so that no limit is turned
// off by accident, except ResendCooldown, which 0 turns off.
//
// The per-identifier limits are kept per customer when the Directory knows
// one (so a customer's phone, email and CPF share them), else per
// identifier.
type Limits struct {
	// CodeLength is the number of digits in a code (6 to 10). Default 6.
	CodeLength int
	// CodeTTL is a code's lifetime. Default 5 minutes.
	CodeTTL time.Duration
	// SessionTTL is a session's lifetime. Default 30 minutes.
	SessionTTL time.Duration
	// MaxAttempts is the number of guesses one code allows; the code is
	// burned after that. Default 5.
	MaxAttempts int
	// LockAfter is the failure budget of a customer per LockWindow, across
	// codes and resends: every verification attempt is charged when it is
	// counted (a right code gives the budget back), and the attempt that
	// spends it locks the customer for LockFor or until the window ends,
	// whichever is longer, so no more than LockAfter wrong codes are ever
	// judged per window. Defaults 10, 1 hour, 15 minutes.
	LockAfter  int
	LockWindow time.Duration
	LockFor    time.Duration
	// ResendCooldown is the minimum time between two requests for one
	// customer; 0 turns it off. It is charged before delivery, so a retry
	// after a failed delivery waits for it too. Default 60 seconds.
	ResendCooldown time.Duration
	// SendLimit sends per customer are allowed within SendWindow.
	// Defaults 5 per 10 minutes.
	SendLimit  int
	SendWindow time.Duration
	// IntegrationRate and IntegrationBurst set each integration's token
	// bucket over request-otp and verify-otp calls. Defaults 10 per second,
	// burst 20.
	IntegrationRate  rate.Limit
	IntegrationBurst int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		CodeLength:       6,
		CodeTTL:          5 * time.Minute,
		SessionTTL:       30 * time.Minute,
		MaxAttempts:      5,
		LockAfter:        10,
		LockWindow:       time.Hour,
		LockFor:          15 * time.Minute,
		ResendCooldown:   60 * time.Second,
		SendLimit:        5,
		SendWindow:       10 * time.Minute,
		IntegrationRate:  10,
		IntegrationBurst: 20,
	}
}

// Validate reports the first limit that is out of range.
func (l Limits) Validate() error {
	switch {
	case l.CodeLength < 6 || l.CodeLength > 10:
		return fmt.Errorf("otpcode: code length %d out of range 6..10", l.CodeLength)
	case l.CodeTTL <= 0:
		return errors.New("otpcode: code TTL must be positive")
	case l.SessionTTL <= 0:
		return errors.New("otpcode: session TTL must be positive")
	case l.MaxAttempts < 1:
		return errors.New("otpcode: max attempts must be at least 1")
	case l.LockAfter < 1:
		return errors.New("otpcode: lock-after must be at least 1")
	case l.LockWindow <= 0 || l.LockFor <= 0:
		return errors.New("otpcode: lock window and lock duration must be positive")
	case l.ResendCooldown < 0:
		return errors.New("otpcode: resend cooldown must not be negative")
	case l.SendLimit < 1 || l.SendWindow <= 0:
		return errors.New("otpcode: send limit must be at least 1 per positive window")
	case l.IntegrationRate <= 0 || l.IntegrationBurst < 1:
		return errors.New("otpcode: integration rate and burst must be positive")
	}
	return nil
}

// Service runs the request and verify flow. It is safe for concurrent use;
// all its state lives in its store.
type Service struct {
	store  store.Store
	keys   *Keyring
	chain  *Chain
	dir    Directory
	limits Limits
	now    func() time.Time
	rand   io.Reader
	region string
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

// NewService returns a service keeping its state in st, signing codes with
// keys (see Keyring) and delivering them through chain.
func NewService(st store.Store, keys *Keyring, chain *Chain, opts ...Option) (*Service, error) {
	if st == nil {
		return nil, errors.New("otpcode: nil store")
	}
	if keys == nil || len(keys.keys) == 0 {
		return nil, errors.New("otpcode: keyring without keys (use NewKeyring)")
	}
	if chain == nil {
		return nil, errors.New("otpcode: nil delivery chain")
	}
	s := &Service{
		store:  st,
		keys:   keys,
		chain:  chain,
		dir:    selfDirectory{},
		limits: DefaultLimits(),
		now:    time.Now,
		rand:   rand.Reader,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
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

// Request validates in, applies the integration's rate, the identifier's
// lock, cooldown and send window, and sends a new code, which replaces the
// identifier's earlier one. If delivery fails no usable code is left.
func (s *Service) Request(ctx context.Context, in RequestInput) (RequestResult, error) {
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
	// The integration's bucket comes before parsing the identifier (the
	// expensive part), so that malformed identifiers are rate limited too.
	if err := s.takeIntegration(ctx, in.Integration); err != nil {
		return RequestResult{}, err
	}
	id, err := s.parseIdentifier(in.Identifier, in.IdentifierType)
	if err != nil {
		return RequestResult{}, err
	}
	cust, found, err := s.dir.Lookup(ctx, id)
	if err != nil {
		return RequestResult{}, fmt.Errorf("otpcode: directory lookup: %w", err)
	}
	subject := subjectOf(id.Subject(), cust, found)
	if err := s.checkLock(ctx, subject); err != nil {
		return RequestResult{}, err
	}
	to := cust.Contacts
	if !found {
		to = selfContacts(id)
	}
	allow := in.Allow
	if in.Channel != "" {
		allow = func(c Channel) bool { return c == in.Channel && (in.Allow == nil || in.Allow(c)) }
	}
	if !s.reachable(to, allow) {
		switch {
		case in.Channel != "":
			return RequestResult{}, channelError(in.Channel)
		case !s.reachable(to, nil):
			// Nothing could reach this customer, whatever the policy: an
			// unknown CPF, or a customer without contacts.
			return RequestResult{}, fmt.Errorf("%w: no channel reaches this %s", ErrUnknownCustomer, id.Kind)
		default:
			return RequestResult{}, &FieldError{Field: "channel", Code: "not_permitted", Message: "no channel permitted for this integration reaches this customer", Err: ErrChannelNotPermitted}
		}
	}

	if s.limits.ResendCooldown > 0 {
		ok, retry, err := s.store.Cooldown(ctx, subject, s.limits.ResendCooldown)
		if err != nil {
			return RequestResult{}, fmt.Errorf("otpcode: cooldown: %w", err)
		}
		if !ok {
			return RequestResult{}, &LimitError{Err: ErrCooldown, RetryAfter: retry}
		}
	}
	ok, retry, err := s.store.Hit(ctx, subject, s.limits.SendLimit, s.limits.SendWindow)
	if err != nil {
		return RequestResult{}, fmt.Errorf("otpcode: send window: %w", err)
	}
	if !ok {
		return RequestResult{}, &LimitError{Err: ErrSendLimit, RetryAfter: retry}
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
		MAC:         s.keys.Sign(in.Integration, subject, in.Purpose, code),
		Integration: in.Integration,
		Purpose:     in.Purpose,
		ExpiresAt:   now.Add(s.limits.CodeTTL),
	}
	// The record outlives the code by one more lifetime, so that a late
	// verification is told "expired" rather than "never requested".
	if err := s.store.PutCode(ctx, subject, rec, 2*s.limits.CodeTTL); err != nil {
		return RequestResult{}, fmt.Errorf("otpcode: store code: %w", err)
	}
	locale := in.Locale
	if locale == "" {
		locale = cust.Locale
	}
	msg := Message{Code: code, TTL: s.limits.CodeTTL, ExpiresAt: rec.ExpiresAt, Locale: locale, Name: cust.Name, Purpose: in.Purpose}
	ch, err := s.chain.Deliver(ctx, to, msg, allow)
	if err != nil {
		// No usable code is left behind. The request's context may be the
		// reason delivery failed, so the clean-up does not depend on it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, derr := s.store.ConsumeCode(cctx, subject, codeID)
		cancel()
		if derr != nil {
			return RequestResult{}, errors.Join(err, fmt.Errorf("otpcode: discard undelivered code: %w", derr))
		}
		return RequestResult{}, err
	}
	return RequestResult{Channel: ch, ExpiresIn: s.limits.CodeTTL, ExpiresAt: rec.ExpiresAt}, nil
}

// Verify validates in, counts the attempt atomically before comparing (so
// parallel guesses cannot exceed the limit), compares in constant time,
// consumes the code exactly once and creates a session bound to the
// integration, the customer and the identifier.
func (s *Service) Verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
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
	if err := s.takeIntegration(ctx, in.Integration); err != nil {
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
	idSubject := id.Subject()
	subject := subjectOf(idSubject, known, found)
	// One atomic step refuses a locked subject or a spent failure budget,
	// counts the attempt on the code and charges the budget, so that
	// parallel guesses can exceed neither limit.
	att, err := s.store.AttemptCode(ctx, subject, s.limits.MaxAttempts, s.limits.LockAfter, s.limits.LockWindow)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: count attempt: %w", err)
	}
	if att.Locked > 0 {
		return VerifyResult{}, &LimitError{Err: ErrLocked, RetryAfter: att.Locked, LockDuration: att.Locked}
	}
	if !att.Found {
		return VerifyResult{}, ErrNotRequested
	}
	rec := att.Code
	now := s.now()
	if !now.Before(rec.ExpiresAt) {
		// The attempt stays charged (an expired code is no free guess), and
		// counts as a failure: a spent budget becomes a lock here too.
		return VerifyResult{}, s.fail(ctx, subject, ErrExpired)
	}
	if rec.Attempts > s.limits.MaxAttempts {
		return VerifyResult{}, &LimitError{Err: ErrTooManyAttempts, RetryAfter: s.cooldownLeft(rec, now)}
	}
	if !s.keys.Verify(in.Integration, subject, in.Purpose, in.Code, rec.MAC) {
		return VerifyResult{}, s.fail(ctx, subject, ErrInvalidCode)
	}
	consumed, err := s.store.ConsumeCode(ctx, subject, rec.ID)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: consume code: %w", err)
	}
	if !consumed {
		// A parallel verification (or a newer request) took the code first.
		return VerifyResult{}, ErrNotRequested
	}
	if err := s.store.ResetFailures(ctx, subject); err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: reset failures: %w", err)
	}
	cust, found, err := s.dir.Resolve(ctx, id)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: directory resolve: %w", err)
	}
	if !found {
		return VerifyResult{}, ErrUnknownCustomer
	}
	token, err := NewToken(s.rand)
	if err != nil {
		return VerifyResult{}, err
	}
	scopes := slices.Clone(in.Scopes)
	sess := store.Session{
		Integration: in.Integration,
		CustomerID:  cust.ID,
		Subject:     idSubject,
		Purpose:     in.Purpose,
		Scopes:      scopes,
		ExpiresAt:   now.Add(s.limits.SessionTTL),
	}
	if err := s.store.CreateSession(ctx, store.HashToken(token), sess, s.limits.SessionTTL); err != nil {
		return VerifyResult{}, fmt.Errorf("otpcode: create session: %w", err)
	}
	return VerifyResult{Customer: cust, Session: token, ExpiresIn: s.limits.SessionTTL, ExpiresAt: sess.ExpiresAt, Scopes: scopes}, nil
}

// Revoke ends the session with the given token, reporting whether there was
// one.
func (s *Service) Revoke(ctx context.Context, token string) (bool, error) {
	return s.store.RevokeSession(ctx, store.HashToken(token))
}

// fail ends a verification whose attempt AttemptCode charged and that did
// not succeed: it locks subject when the attempt spent its failure budget
// (returning ErrLocked with the lock), and otherwise returns reason.
func (s *Service) fail(ctx context.Context, subject string, reason error) error {
	lock, err := s.store.Fail(ctx, subject, s.limits.LockAfter, s.limits.LockFor)
	if err != nil {
		return fmt.Errorf("otpcode: count failure: %w", err)
	}
	if lock > 0 {
		return &LimitError{Err: ErrLocked, RetryAfter: lock, LockDuration: lock}
	}
	return reason
}

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

func (s *Service) takeIntegration(ctx context.Context, integration string) error {
	ok, retry, err := s.store.Take(ctx, "integration:"+integration, s.limits.IntegrationRate, s.limits.IntegrationBurst)
	if err != nil {
		return fmt.Errorf("otpcode: integration rate: %w", err)
	}
	if !ok {
		return &LimitError{Err: ErrRateLimited, RetryAfter: retry}
	}
	return nil
}

func (s *Service) checkLock(ctx context.Context, subject string) error {
	remaining, locked, err := s.store.Locked(ctx, subject)
	if err != nil {
		return fmt.Errorf("otpcode: check lock: %w", err)
	}
	if locked {
		return &LimitError{Err: ErrLocked, RetryAfter: remaining, LockDuration: remaining}
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
		if (allow == nil || allow(r.Channel)) && contactFor(r.Channel, to) != "" {
			return true
		}
	}
	return false
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

// subjectOf returns the key of an identifier's codes, cooldown, send window,
// failure budget and lock: the customer, when the directory knows one, so
// that a customer's phone, email and CPF share one set of limits rather
// than giving an attacker one per identifier; else the identifier itself.
func subjectOf(idSubject string, c Customer, found bool) string {
	if found && c.ID != "" {
		return "customer:" + c.ID
	}
	return idSubject
}

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
// email address is its own customer.
type selfDirectory struct{}

func (selfDirectory) Lookup(context.Context, Identifier) (Customer, bool, error) {
	return Customer{}, false, nil
}

func (selfDirectory) Resolve(_ context.Context, id Identifier) (Customer, bool, error) {
	if id.Kind == KindCPF {
		return Customer{}, false, nil
	}
	return Customer{ID: id.Subject(), Contacts: selfContacts(id)}, true, nil
}
