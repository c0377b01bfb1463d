package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/otpguard/otpguard/internal/instrument"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// SessionHeader is the request header that carries the OTP session token.
const SessionHeader = "X-OTP-Session"

// sessionHeaderKey is SessionHeader in canonical form, so the guard reads the
// header map directly instead of canonicalising the name per request.
const sessionHeaderKey = "X-Otp-Session"

// Bounds of an X-OTP-Session value that code reading the header outside
// the guard (the revoke handler) bothers with. The guard itself looks up
// only tokens as otpcode issues them: store.TokenLen characters of
// base64url that carry the MAC of the guard's session keys (see
// store.VerifyToken); any other value is refused without touching the
// session store.
const (
	// MinSessionTokenLen is the shortest value worth reading as a token.
	MinSessionTokenLen = 16
	// MaxSessionTokenLen is the longest value worth reading as a token.
	MaxSessionTokenLen = 512
)

// Reasons the guard refuses a request. The deny hook (see WithDenyHandler)
// receives one of them; compare with errors.Is.
var (
	// ErrNoIntegration: the request names no integration (no API key, or
	// the host's integration function found none). The default deny hook
	// answers 401 authentication-required; all other reasons get 403
	// otp-required.
	ErrNoIntegration = errors.New("middleware: no integration")
	// ErrNoSession: the action requires OTP and the request has no
	// X-OTP-Session header, or an empty one.
	ErrNoSession = errors.New("middleware: no OTP session")
	// ErrSessionInvalid: the X-OTP-Session header is malformed (repeated,
	// of another length than otpcode's tokens, or with characters no token
	// has), carries no MAC of the session keys (a forged or mistyped token,
	// refused without asking the store), or names no session the store
	// knows.
	ErrSessionInvalid = errors.New("middleware: invalid OTP session")
	// ErrSessionExpired: the session's ExpiresAt is not after the guard's
	// clock.
	ErrSessionExpired = errors.New("middleware: OTP session expired")
	// ErrWrongIntegration: the session was issued to another integration.
	ErrWrongIntegration = errors.New("middleware: OTP session issued to another integration")
	// ErrWrongCustomer: the session was issued for another customer than
	// the one the request acts on (see CustomerSource). A request that
	// names no customer is refused with ErrNoCustomer instead.
	ErrWrongCustomer = errors.New("middleware: OTP session issued for another customer")
	// ErrScope: the session's scopes do not include the action.
	ErrScope = errors.New("middleware: OTP session not valid for this action")
	// ErrSessionStale: the policy gives the action a max_age, and the
	// session was verified longer ago than that.
	ErrSessionStale = errors.New("middleware: OTP session verified too long ago for this action")
	// ErrSessionForged: the session record's MAC does not verify under the
	// session keys: it was written, edited or copied under another token
	// by someone without the keys.
	ErrSessionForged = errors.New("middleware: OTP session record failed its integrity check")
	// ErrSessionUsed: the policy makes the action single-use, and the
	// session was already used for it.
	ErrSessionUsed = errors.New("middleware: OTP session already used for this single-use action")
)

// ErrUnavailable is wrapped, together with the underlying error, by every
// error the guard hands to its error hook (see WithErrorHandler): the policy
// source or the session store failed, and the request was refused (fail
// closed).
var ErrUnavailable = errors.New("middleware: service unavailable")

// ErrInvalidConfig is wrapped by every error NewHTTP, NewGuard,
// Guard.Middleware, APIKeys, AuthFunc and otphttp.New return for a
// configuration they refuse.
var ErrInvalidConfig = errors.New("middleware: invalid configuration")

// Guard enforces the per-integration OTP policy in front of net/http
// handlers. Build one with NewGuard at set-up, then wrap each handler with
// Middleware or Require for the action it performs.
//
// A Guard is immutable after NewGuard and safe for concurrent use; the
// handlers it returns may serve any number of requests at once.
//
// Per request, a guarded handler
//
//  1. finds the integration (no integration: 401 authentication-required);
//  2. asks the policy source for the integration's policy and decides the
//     action (source error: 503, fail closed);
//  3. when the decision does not require OTP, calls the next handler at
//     once, without touching the session store;
//  4. otherwise reads the X-OTP-Session header and checks that its token
//     carries the MAC of the session keys (store.CheckToken), refusing a
//     malformed or forged token without asking the store; reads the clock
//     once; looks the session up by the hash of its token (store error:
//     503, fail closed), checks the record's own MAC, and calls the next
//     handler only when the session exists, has not expired, was issued to
//     the same integration, for the request's customer (when configured)
//     and with a scope that covers the action; any other case is a 403
//     otp-required;
//  5. when the integration's policy gives the action a max_age, refuses a
//     session verified longer ago (403); when it makes the action
//     single-use, consumes the session for the action atomically, so that
//     of parallel requests with one session exactly one reaches the
//     handler, and a later one gets 403 (the session still serves other
//     actions).
type Guard struct {
	web      *HTTP
	policies policy.Source
	sessions store.Sessions
	lookup   store.SessionLookup // sessions, when it has the fast lookup
	keys     *keyring.Keyring
	catalog  *policy.Catalog
	customer CustomerSource
	now      func() time.Time
	deny     func(http.ResponseWriter, *http.Request, error)
	onError  func(http.ResponseWriter, *http.Request, error)
	obs      *guardObs // nil: no metrics, no spans

	// The guard's fixed answers, encoded once by NewGuard.
	otpRequired  encodedProblem
	authRequired encodedProblem
	unavailable  encodedProblem
}

// Option configures a Guard in NewGuard.
type Option func(*Guard) error

// WithPolicies sets the source of each integration's policy. Required.
// Security: the source decides which actions need OTP; an integration it
// does not list gets whatever default the source gives (policy.Static's
// default, Strict unless configured otherwise). A source error refuses the
// request with 503.
func WithPolicies(src policy.Source) Option {
	return func(g *Guard) error {
		if src == nil {
			return errors.New("nil policy source")
		}
		g.policies = src
		return nil
	}
}

// WithSessions sets the store OTP sessions are looked up in. Required. It
// must be the store the verify-otp handler creates sessions in. A store
// error refuses the request with 503 (fail closed).
func WithSessions(s store.Sessions) Option {
	return func(g *Guard) error {
		if s == nil {
			return errors.New("nil session store")
		}
		g.sessions = s
		return nil
	}
}

// WithSessionKeys sets the keys session records are sealed with (see
// store.Seal): the keyring of the otpcode.Service that issues the sessions.
// Required. A token that does not carry the keys' MAC (store.VerifyToken)
// is refused with ErrSessionInvalid before the store is asked; a record
// whose MAC does not verify — written or copied by anyone without the keys
// — is refused with ErrSessionForged and logged as an integrity failure.
// Every key of the ring verifies both, so rotated keys keep the sessions
// they issued valid.
func WithSessionKeys(k *keyring.Keyring) Option {
	return func(g *Guard) error {
		if k == nil || k.Len() == 0 {
			return errors.New("nil or empty session keyring")
		}
		g.keys = k
		return nil
	}
}

// WithCatalog sets the catalogue that binds actions to policy flags.
// Default: policy.NewCatalog(), the built-in actions. Register host actions
// in it before calling Middleware or Require: each action is resolved once,
// when its middleware is built, and an action the catalogue does not know is
// a build-time error.
func WithCatalog(c *policy.Catalog) Option {
	return func(g *Guard) error {
		if c == nil {
			return errors.New("nil catalog")
		}
		g.catalog = c
		return nil
	}
}

// WithCustomer sets where the guard's routes find the customer a request
// acts on, unless a route says otherwise in Require or Middleware (see
// CustomerSource). Default: AnyCustomer, no binding — give every route that
// acts on one customer its source, or a session verified for one customer
// authorizes actions on another.
func WithCustomer(src CustomerSource) Option {
	return func(g *Guard) error {
		if err := src.check(); err != nil {
			return err
		}
		g.customer = src
		return nil
	}
}

// WithClock sets the clock sessions' expiry is compared against. Default:
// time.Now. Tests inject a clock to expire sessions without sleeping. It is
// read once per request that reaches the store; a store with
// store.SessionLookup (the memory store) judges its TTL at that reading
// too, instead of reading its own clock.
func WithClock(now func() time.Time) Option {
	return func(g *Guard) error {
		if now == nil {
			return errors.New("nil clock")
		}
		g.now = now
		return nil
	}
}

// WithDenyHandler sets the hook that answers a refused request. err is one
// of ErrNoIntegration, ErrNoSession, ErrSessionInvalid, ErrSessionExpired,
// ErrWrongIntegration, ErrNoCustomer, ErrWrongCustomer, ErrScope,
// ErrSessionStale, ErrSessionUsed and ErrSessionForged (compare with
// errors.Is). Default: 401 authentication-required for ErrNoIntegration and
// the seed's 403 otp-required for every other reason. Security: the hook
// must not call the guarded handler, and telling clients the precise reason
// helps an attacker probe tokens; the default answers every session problem
// with the same body.
func WithDenyHandler(f func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(g *Guard) error {
		if f == nil {
			return errors.New("nil deny handler")
		}
		g.deny = f
		return nil
	}
}

// WithErrorHandler sets the hook that answers a request the guard could not
// decide because the policy source or the session store failed. err wraps
// ErrUnavailable and the underlying error. Default: 503
// service-unavailable, without the error's text. Security: the request has
// already been refused (fail closed); the hook must not call the guarded
// handler, and should not echo err to the client — log it instead.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(g *Guard) error {
		if f == nil {
			return errors.New("nil error handler")
		}
		g.onError = f
		return nil
	}
}

// NewGuard returns a guard that answers, logs and reports as the shared
// settings web say (problem base, integration, audit log, body limit,
// telemetry), configured by opts. WithPolicies, WithSessions and
// WithSessionKeys are required. NewGuard checks the whole configuration and
// returns every problem it finds, joined, each wrapping ErrInvalidConfig.
func NewGuard(web *HTTP, opts ...Option) (*Guard, error) {
	g := &Guard{web: web, now: time.Now}
	var missing []error
	if err := checkHTTP(web); err != nil {
		missing = append(missing, err)
	}
	err := applyOptions(g, "new guard", opts, missing...)
	if g.policies == nil {
		err = errors.Join(err, configError("new guard", "no policy source (use WithPolicies)"))
	}
	if g.sessions == nil {
		err = errors.Join(err, configError("new guard", "no session store (use WithSessions)"))
	}
	if g.keys == nil {
		err = errors.Join(err, configError("new guard", "no session keys (use WithSessionKeys)"))
	}
	if err != nil {
		return nil, err
	}
	if g.catalog == nil {
		g.catalog = policy.NewCatalog()
	}
	g.lookup, _ = g.sessions.(store.SessionLookup)
	if err := newGuardObs(g); err != nil {
		return nil, configError("new guard", "telemetry: "+err.Error())
	}
	g.otpRequired = web.encodeProblem(otpRequiredProblem)
	g.authRequired = web.encodeProblem(authRequiredProblem)
	g.unavailable = web.encodeProblem(unavailableProblem)
	if g.deny == nil {
		g.deny = g.defaultDeny
	}
	if g.onError == nil {
		g.onError = g.defaultError
	}
	return g, nil
}

// configError is one configuration problem of what, wrapping
// ErrInvalidConfig.
func configError(what, msg string) error {
	return fmt.Errorf("middleware: %s: %w: %s", what, ErrInvalidConfig, msg)
}

// A RouteOption configures one guarded route in Require or Middleware. A
// CustomerSource is one: it overrides the guard's default (WithCustomer)
// for that route.
type RouteOption interface {
	applyRoute(*guarded) error
}

func (s CustomerSource) applyRoute(h *guarded) error {
	if err := s.check(); err != nil {
		return err
	}
	h.customer = s
	return nil
}

// Middleware returns the middleware that guards handlers performing action
// a, with the route's options. An action the guard's catalogue does not
// know is an error wrapping policy.ErrUnknownAction and ErrInvalidConfig,
// so a misspelt action fails at start-up rather than on a request. The
// action is resolved once, here.
func (g *Guard) Middleware(a policy.Action, opts ...RouteOption) (func(http.Handler) http.Handler, error) {
	rule, err := g.catalog.Rule(a)
	if err != nil {
		return nil, fmt.Errorf("middleware: guard action %q: %w: %w", a, ErrInvalidConfig, err)
	}
	proto := guarded{g: g, rule: rule, customer: g.customer, obs: newRouteObs(g.obs, a)}
	if st, ok := g.policies.(*policy.Static); ok {
		proto.table = newDecisionTable(st, rule)
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("middleware: guard action %q: %w: nil route option", a, ErrInvalidConfig)
		}
		if err := o.applyRoute(&proto); err != nil {
			return nil, fmt.Errorf("middleware: guard action %q: %w: %w", a, ErrInvalidConfig, err)
		}
	}
	proto.customer.limit = g.web.bodyLimit
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("middleware: guard action " + string(a) + ": nil handler")
		}
		h := proto
		h.next = next
		return &h
	}, nil
}

// Require is like Middleware but panics when the action is unknown or an
// option is invalid. Call it at set-up, while building routes, as with
// regexp.MustCompile; a panic there is a configuration error found before
// the server starts.
func (g *Guard) Require(a policy.Action, opts ...RouteOption) func(http.Handler) http.Handler {
	mw, err := g.Middleware(a, opts...)
	if err != nil {
		panic(err)
	}
	return mw
}

// guarded is a handler wrapped by the guard for one resolved action.
type guarded struct {
	g    *Guard
	rule policy.Rule
	// table holds the rule's decisions when the policies are a
	// *policy.Static; nil asks the policy source on each request.
	table    *decisionTable
	customer CustomerSource
	obs      *routeObs // nil: no metrics, no spans
	next     http.Handler
}

// decisionTable is one route's decisions for every integration of a
// policy.Static, made when the route is built: a Static never changes, so
// a request then costs one map lookup instead of a Policy call, a copy of
// the policy and a decision.
type decisionTable struct {
	byID map[string]policy.Decision
	def  policy.Decision // for the integrations the Static does not list
}

// newDecisionTable returns rule's decisions under every policy of st, its
// default's included: what rule.Decide returns for the policy st gives
// each integration.
func newDecisionTable(st *policy.Static, rule policy.Rule) *decisionTable {
	ids := st.Integrations()
	t := &decisionTable{byID: make(map[string]policy.Decision, len(ids)), def: rule.Decide(st.Default().Policy)}
	for _, id := range ids {
		// A Static's Policy never fails.
		p, _ := st.Policy(context.Background(), id)
		t.byID[id] = rule.Decide(p)
	}
	return t
}

// decide returns the decision for integration.
func (t *decisionTable) decide(integration string) policy.Decision {
	if d, ok := t.byID[integration]; ok {
		return d
	}
	return t.def
}

// Audit outcomes.
const (
	outcomeAllowed = "allowed"
	outcomeDenied  = "denied"
	outcomeError   = "error"
)

func (h *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, span := h.obs.start(r.Context())
	next := h.decide(ctx, span, w, r)
	if span != nil {
		// The span covers the decision, not the handler it lets through.
		span.End()
	}
	if next != nil {
		h.next.ServeHTTP(w, next)
	}
}

// decide decides r, in ctx (r's context, or the decision's span's), and
// returns the request to hand the next handler, or nil when it answered r
// itself.
func (h *guarded) decide(ctx context.Context, span trace.Span, w http.ResponseWriter, r *http.Request) *http.Request {
	g := h.g
	integration, ok := g.web.Integration(r)
	if !ok || integration == "" {
		h.refuse(ctx, span, w, r, "", policy.Decision{Action: h.rule.Action()}, ErrNoIntegration)
		return nil
	}
	var d policy.Decision
	if h.table != nil {
		d = h.table.decide(integration)
	} else {
		p, err := g.policies.Policy(ctx, integration)
		if err != nil {
			h.failed(ctx, span, integration, policy.Decision{Action: h.rule.Action()}, errorPolicy, err)
			g.onError(w, r, fmt.Errorf("middleware: %w: policy of integration %q: %w", ErrUnavailable, integration, err))
			return nil
		}
		d = h.rule.Decide(p)
	}
	if !d.Required {
		h.allowed(ctx, span, integration, d)
		return r
	}
	return h.decideSession(ctx, span, w, r, integration, d)
}

// decideSession checks the request's session for an action that requires
// OTP, and returns the request for the next handler when it is valid.
//
// The order keeps refusals cheap: a request without a token, or with one
// that does not carry the keys' MAC, is refused before the clock is read,
// the customer is looked for or the store is asked, without allocating. The
// clock is read once, for the store's expiry and the guard's checks alike;
// the context the handler gets is allocated only for an accepted session.
func (h *guarded) decideSession(ctx context.Context, span trace.Span, w http.ResponseWriter, r *http.Request, integration string, d policy.Decision) *http.Request {
	g := h.g
	token, err := sessionToken(r.Header)
	var digest [sha256.Size]byte
	if err == nil {
		var ok bool
		if digest, ok = store.CheckToken(g.keys, token); !ok {
			err = ErrSessionInvalid
		}
	}
	if err != nil {
		h.refuse(ctx, span, w, r, integration, d, err)
		return nil
	}
	var customer string
	if h.customer.bound() {
		if customer, err = h.customer.customer(r); err != nil {
			h.refuse(ctx, span, w, r, integration, d, err)
			return nil
		}
	}
	now := g.now()
	rec, found, err := g.getSession(ctx, digest, now)
	if err != nil {
		h.failed(ctx, span, integration, d, errorStore, err)
		g.onError(w, r, fmt.Errorf("middleware: %w: get session: %w", ErrUnavailable, err))
		return nil
	}
	var s store.Session
	if found {
		s = rec.Session()
	}
	if err := h.check(integration, customer, &s, found, d, now); err != nil {
		h.refuse(ctx, span, w, r, integration, d, err)
		return nil
	}
	if !store.SealedDigest(g.keys, &digest, &s) {
		g.integrityFailure(ctx, integration, d)
		h.refuse(ctx, span, w, r, integration, d, ErrSessionForged)
		return nil
	}
	if d.SingleUse {
		// Consumed for this action by this request, atomically: of
		// parallel requests with the session, one goes through.
		first, err := g.sessions.UseSession(ctx, hex.EncodeToString(digest[:]), string(d.Action))
		if err != nil {
			h.failed(ctx, span, integration, d, errorStore, err)
			g.onError(w, r, fmt.Errorf("middleware: %w: use session: %w", ErrUnavailable, err))
			return nil
		}
		if !first {
			h.refuse(ctx, span, w, r, integration, d, ErrSessionUsed)
			return nil
		}
	}
	h.allowed(ctx, span, integration, d)
	if g.web.integration != nil {
		return r.WithContext(&hostIntegrationContext{
			guardContext: guardContext{Context: r.Context(), session: rec, decision: d},
			integration:  integration,
		})
	}
	return r.WithContext(&guardContext{Context: r.Context(), session: rec, decision: d})
}

// getSession looks up the session of the token whose digest is digest, as
// the store would at now: through store.SessionLookup when the store has
// it (no key to encode, no clock of its own to read, the stored record
// itself), else through GetSession under the hex key, which allocates the
// key and a copy of the session.
func (g *Guard) getSession(ctx context.Context, digest [sha256.Size]byte, now time.Time) (store.SessionRecord, bool, error) {
	if g.lookup != nil {
		return g.lookup.LookupSession(ctx, digest, now)
	}
	s, found, err := g.sessions.GetSession(ctx, hex.EncodeToString(digest[:]))
	if err != nil || !found {
		return nil, false, err
	}
	return &sessionCopy{s}, true, nil
}

// sessionCopy is a session a store gave by value, held as a record.
type sessionCopy struct{ s store.Session }

func (c *sessionCopy) Session() store.Session { return c.s }

// check returns why session s (found or not) does not authorize the
// request of integration on customer ("" when the route binds none) under
// decision d at now, or nil when it does.
func (h *guarded) check(integration, customer string, s *store.Session, found bool, d policy.Decision, now time.Time) error {
	if !found {
		return ErrSessionInvalid
	}
	switch {
	case s.Integration != integration:
		return ErrWrongIntegration
	case !s.ExpiresAt.After(now):
		return ErrSessionExpired
	case h.customer.bound() && customer != s.CustomerID:
		return ErrWrongCustomer
	case len(s.Scopes) > 0 && !slices.Contains(s.Scopes, string(h.rule.Action())):
		return ErrScope
	case d.MaxAge > 0 && now.Sub(s.VerifiedAt) > d.MaxAge:
		return ErrSessionStale
	}
	return nil
}

// allowed reports a request let through.
func (h *guarded) allowed(ctx context.Context, span trace.Span, integration string, d policy.Decision) {
	h.g.audit(ctx, integration, d, outcomeAllowed, nil, nil)
	h.obs.decided(ctx, span, integration, outcomeAllowed, int(d.Reason), nil)
}

// refuse reports and answers a refused request.
func (h *guarded) refuse(ctx context.Context, span trace.Span, w http.ResponseWriter, r *http.Request, integration string, d policy.Decision, reason error) {
	h.g.audit(ctx, integration, d, outcomeDenied, reason, nil)
	if h.obs != nil {
		h.obs.decided(ctx, span, integration, outcomeDenied, denyIndex(reason), nil)
	}
	h.g.deny(w, r, reason)
}

// failed reports a request the guard could not decide: which (errorPolicy
// or errorStore) failed with cause.
func (h *guarded) failed(ctx context.Context, span trace.Span, integration string, d policy.Decision, which int, cause error) {
	why := errAuditPolicySource
	if which == errorStore {
		why = errAuditSessionStore
	}
	h.g.audit(ctx, integration, d, outcomeError, why, cause)
	h.obs.decided(ctx, span, integration, outcomeError, which, cause)
}

// sha256Sum returns the SHA-256 of s. A string of usual token size is copied
// to a small stack buffer first, because []byte(s) would allocate.
func sha256Sum(s string) [sha256.Size]byte {
	var buf [128]byte
	if len(s) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], s)])
	}
	return sha256.Sum256([]byte(s))
}

// sessionToken returns the request's session token, or why it has none
// worth checking. It never reads more than the header map; the token's
// characters and MAC are checked by store.CheckToken.
func sessionToken(h http.Header) (string, error) {
	vals := h[sessionHeaderKey]
	switch {
	case len(vals) == 0:
		return "", ErrNoSession
	case len(vals) > 1:
		return "", ErrSessionInvalid
	}
	t := vals[0]
	switch {
	case t == "":
		return "", ErrNoSession
	case len(t) != store.TokenLen:
		return "", ErrSessionInvalid
	}
	return t, nil
}

// Audit reasons of the outcome "error". The underlying errors are not
// logged, nor recorded on spans: their text is not under the guard's
// control. Their class is (error_class, error.type: timeout, canceled,
// unavailable or other).
var (
	errAuditPolicySource = errors.New("policy source failed")
	errAuditSessionStore = errors.New("session store failed")
)

// integrityFailure logs a session record that failed its integrity check,
// at level Error, whether or not the audit log is on at Info, and emits
// telemetry.EventIntegrityFailure: someone wrote to the session store
// without the keys.
func (g *Guard) integrityFailure(ctx context.Context, integration string, d policy.Decision) {
	g.emitIntegrityFailure(ctx, integration, d)
	if l := g.web.logger; l != nil {
		l.LogAttrs(ctx, slog.LevelError, "otp.integrity_failure",
			slog.String("integration", integration),
			slog.String("action", string(d.Action)),
		)
	}
}

// audit writes the decision event when an audit logger is set. why is the
// reason of a refusal or failure; nil means d.Reason. cause is the
// failure behind the outcome "error", logged as its class only.
func (g *Guard) audit(ctx context.Context, integration string, d policy.Decision, outcome string, why, cause error) {
	l := g.web.logger
	if l == nil || !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	reason := d.Reason.String()
	if why != nil {
		reason = why.Error()
	}
	if cause != nil {
		l.LogAttrs(ctx, slog.LevelInfo, "otp.decision",
			slog.String("integration", integration),
			slog.String("action", string(d.Action)),
			slog.Bool("required", d.Required),
			slog.String("outcome", outcome),
			slog.String("reason", reason),
			slog.String("error_class", instrument.Class(cause)),
		)
		return
	}
	l.LogAttrs(ctx, slog.LevelInfo, "otp.decision",
		slog.String("integration", integration),
		slog.String("action", string(d.Action)),
		slog.Bool("required", d.Required),
		slog.String("outcome", outcome),
		slog.String("reason", reason),
	)
}

func (g *Guard) defaultDeny(w http.ResponseWriter, _ *http.Request, err error) {
	if errors.Is(err, ErrNoIntegration) {
		g.authRequired.write(w)
		return
	}
	g.otpRequired.write(w)
}

func (g *Guard) defaultError(w http.ResponseWriter, _ *http.Request, _ error) {
	g.unavailable.write(w)
}

// The guard's fixed problems, with their types relative to the problem
// base.
var (
	// otpRequiredProblem is the seed's 403 body.
	otpRequiredProblem = Problem{
		Type:   TypeOTPRequired,
		Title:  "OTP Required",
		Status: http.StatusForbidden,
		Detail: "Customer OTP verification required for this action",
	}
	authRequiredProblem = Problem{
		Type:   TypeAuthenticationNeeded,
		Title:  "Authentication Required",
		Status: http.StatusUnauthorized,
		Detail: "authentication is required",
	}
	unavailableProblem = Problem{
		Type:   TypeServiceUnavailable,
		Title:  "Service Unavailable",
		Status: http.StatusServiceUnavailable,
		Detail: "the service is temporarily unavailable; try again later",
	}
)

// checkProblemBase reports whether base can prefix problem types: an
// absolute URI ending in "/" or "#".
func checkProblemBase(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("problem base %q: %w", base, err)
	}
	if !u.IsAbs() {
		return fmt.Errorf("problem base %q is not an absolute URI", base)
	}
	if !strings.HasSuffix(base, "/") && !strings.HasSuffix(base, "#") {
		return fmt.Errorf("problem base %q does not end in \"/\" or \"#\"", base)
	}
	return nil
}
