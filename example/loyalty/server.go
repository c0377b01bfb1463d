// Package loyalty is the example loyalty API of otpguard, the API of the Zupy
// documentation, as an http.Handler that other programs can build and serve:
// the command in the parent directory (go run ./example) serves it, and the
// benchmarks and tests drive it directly.
//
// Partners call it with their API key (see Partners), and for each action the
// partner's OTP policy decides whether the request must also carry a
// customer's X-OTP-Session, obtained from
//
//	POST /api/v2/auth/request-otp/   {"identifier": "+5511987654321"}
//	POST /api/v2/auth/verify-otp/    {"identifier": "+5511987654321", "otp_code": "493021"}
//
// Every endpoint of the seed's action table is served under /api/v2/, and
// GET /healthz answers {"status":"ok"} without an API key. The customers,
// rewards and coupons live in the server's memory (Maria Santos, MariaID, is
// one of them); codes, sessions and counters live in the configured store,
// which may be shared by several servers (store/redisstore).
package loyalty

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed" // the example's policy file
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/telemetry"
)

// MariaPhone is the phone number of Maria Santos, the customer of the Zupy
// documentation's examples (150 points, tier silver).
const MariaPhone = "+5511987654321"

// MariaID is Maria Santos's customer ID.
const MariaID = "2awTHloSJX7kGGprFerOOsvABcd"

// defaultProblemBase is the base URI of problem types when Config leaves
// ProblemBase empty: Zupy's.
const defaultProblemBase = "https://api.zupy.com/errors/"

// policiesJSON is policies.json, compiled in so that the example runs from
// any directory.
//
//go:embed policies.json
var policiesJSON []byte

// DefaultPolicies returns the example's policies, from the policies.json
// file beside this package compiled into the binary: Repediu trusted, Goomer
// and Saipos relaxed, every other integration strict. Each call returns a
// new, independent Static.
func DefaultPolicies() (*policy.Static, error) {
	s, err := policy.Load(bytes.NewReader(policiesJSON), "example/loyalty/policies.json (embedded)")
	if err != nil {
		return nil, fmt.Errorf("loyalty: embedded policies: %w", err)
	}
	return s, nil
}

// Partner is one integration of the example with its fixed test API key.
type Partner struct {
	// ID is the integration ID the policy file uses.
	ID string
	// Name is the partner's display name.
	Name string
	// Kind is what the partner is: CRM, tablet, POS, counter.
	Kind string
	// Key is the partner's X-API-Key.
	Key string
}

// Partners are the example's integrations. Their keys are fixed so that the
// documentation can use them; a real deployment loads keys from a secret
// store. Balcão Local has no entry in policies.json, so it gets the default
// policy, strict. The slice is read when New builds a server; changing it
// afterwards changes nothing.
var Partners = []Partner{
	{ID: "repediu", Name: "Repediu", Kind: "CRM", Key: "zupy_pk_test_repediu_4f9c2a7e1b"},
	{ID: "goomer", Name: "Goomer", Kind: "tablet", Key: "zupy_pk_test_goomer_8d3e6b0c5a"},
	{ID: "saipos", Name: "Saipos", Kind: "POS", Key: "zupy_pk_test_saipos_2b7f9e4d6c"},
	{ID: "balcao", Name: "Balcão Local", Kind: "counter", Key: "zupy_pk_test_balcao_6a1d8c3f9e"},
}

// Senders are the senders of the two channels, WhatsApp tried first and
// email second. When both are nil, the development sender serves both and
// writes each delivery as one JSON line to the server's stdout. Once either
// is set, the other channel is off when nil: a real deployment never mixes
// in the development sender, which would print a live code and answer
// "sent" while the customer receives nothing.
type Senders struct {
	WhatsApp, Email otpcode.Sender
}

// Config is everything New needs. Every field is optional.
type Config struct {
	// Policies are the integrations' OTP policies; nil means
	// DefaultPolicies.
	Policies *policy.Static
	// ProblemBase prefixes problem types; "" means "https://api.zupy.com/errors/".
	ProblemBase string
	// Limits are the OTP service's limits; the zero value means
	// otpcode.DefaultLimits(). Any other value must be complete: a zero
	// field is an error.
	Limits otpcode.Limits
	// Peppers are the keys codes are signed with, the first signing (at
	// least 32 bytes each). nil means one random key: codes do not survive
	// a restart, and servers sharing a store cannot verify each other's
	// codes. Servers that share a store must share the peppers.
	Peppers [][]byte
	// Audit, when set, receives the guard's and the OTP handlers' audit
	// events (never a code or a token); nil discards them.
	Audit *slog.Logger
	// AllowedCountries limits the phone numbers codes go to to these
	// countries (otpcode.WithAllowedRegions); nil allows every country.
	AllowedCountries []string
	// UnknownRecipients says what request-otp does with an identifier the
	// directory does not know (otpcode.WithUnknownRecipients); the zero
	// value, UnknownAllow, is the seed's enrollment flow.
	UnknownRecipients otpcode.UnknownRecipients
	// Events receives otpguard's events (locks, unlocks, revocations,
	// breaker trips, delivery and integrity failures), for alerts; nil drops
	// them. With Audit set they are also logged.
	Events func(context.Context, telemetry.Event)
	// MeterProvider and TracerProvider receive otpguard's metrics and
	// spans; nil means none (no cost).
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	// Region is the default region of phone numbers (otpcode.WithRegion),
	// so that customers can type national formats such as
	// "(11) 98765-4321"; "" means "BR".
	Region string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Store keeps codes, sessions and counters; nil means a new memory
	// store, which Close closes. A store passed here stays the caller's:
	// Close does not close it.
	Store store.Store
	// Senders deliver the codes; nil ones fall back to the development
	// sender.
	Senders Senders
	// AdminToken, when set, builds the operators' API (Server.Admin),
	// protected by this bearer token of at least 32 characters.
	AdminToken string
	// Redis, when set, keeps the loyalty data (customers, points, history,
	// coupons, webhooks) on this Redis, so that every server sharing it
	// sees the same customers: pass the client of the Redis store in
	// Store, with its prefix in RedisPrefix. nil keeps the data in the
	// server's memory, each server its own. The client stays the caller's
	// and must be built with ContextTimeoutEnabled. New writes the sample
	// customers there unless they are there already, so Redis must answer
	// when New runs.
	Redis redis.UniversalClient
	// RedisPrefix is the Redis store's key prefix; the loyalty data lives
	// under RedisPrefix + "loyalty:", every key expiring 30 days after its
	// customer's last change. "" means redisstore.DefaultPrefix. It may
	// not contain '{' or '}'. Unused without Redis.
	RedisPrefix string
	// Pseudonym maps an identifier's subject ("phone:+5511987654321") to
	// the name under which Redis indexes its customer, so that no key
	// holds a phone number, email address or CPF. It must be deterministic
	// and the same on every server sharing the Redis, and should be a
	// keyed hash (an HMAC under a secret). nil means an HMAC-SHA-256 under
	// a key derived from the first pepper (HKDF), so that nobody without
	// the pepper can test guesses (every phone number of a region)
	// against it; rotating the first pepper then re-keys it (customers are
	// no longer found by identifier). Unused without Redis.
	Pseudonym func(subject string) string
	// DataKey is the AES-256 key (32 bytes) that seals customers' names
	// and contacts on Redis. nil means keys derived from the peppers
	// (HKDF-SHA-256, one per pepper: the first seals, each opens), so that
	// servers sharing their peppers share the data, and random peppers
	// make data only their server can read. Unused without Redis.
	DataKey []byte
}

// Server is the loyalty API. It is safe for concurrent use. Close releases
// what New opened.
type Server struct {
	mux       *http.ServeMux
	admin     http.Handler
	closeOnce sync.Once
	close     func()
}

// Admin returns the operators' API (otphttp.NewAdmin: status, unlock and
// revocation per customer), or nil when Config.AdminToken was empty. Serve
// it on a listener of its own that partners cannot reach.
func (s *Server) Admin() http.Handler { return s.admin }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close releases what New opened: the memory store, when Config.Store was
// nil. It does not close a store or senders the caller passed. Close may be
// called more than once; the server must not serve after it.
func (s *Server) Close() {
	s.closeOnce.Do(s.close)
}

// New builds the loyalty API: the OTP service on the store, with the
// senders in a WhatsApp-then-email chain, the request-otp and verify-otp
// handlers, the API-key middleware of Partners, the guard around every
// endpoint, and GET /healthz. Development senders write to stdout (nil
// means io.Discard). New checks the whole configuration and returns an
// error when part of it is invalid.
func New(cfg Config, stdout io.Writer) (*Server, error) {
	if cfg.Policies == nil {
		pol, err := DefaultPolicies()
		if err != nil {
			return nil, err
		}
		cfg.Policies = pol
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Region == "" {
		cfg.Region = "BR"
	}
	if cfg.ProblemBase == "" {
		cfg.ProblemBase = defaultProblemBase
	}
	if cfg.Limits == (otpcode.Limits{}) {
		cfg.Limits = otpcode.DefaultLimits()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	srv := &Server{close: func() {}}
	st := cfg.Store
	if st == nil {
		ms := memory.New(memory.WithClock(cfg.Now))
		st, srv.close = ms, ms.Close
	}
	fail := func(err error) (*Server, error) {
		srv.Close()
		return nil, err
	}

	peppers := cfg.Peppers
	if len(peppers) == 0 {
		p := make([]byte, 32)
		if _, err := rand.Read(p); err != nil {
			return fail(fmt.Errorf("loyalty: random pepper: %w", err))
		}
		peppers = [][]byte{p}
	}
	keys, err := keyring.New(peppers...)
	if err != nil {
		return fail(fmt.Errorf("loyalty: keyring: %w", err))
	}

	chain, err := cfg.Senders.chain(stdout)
	if err != nil {
		return fail(fmt.Errorf("loyalty: delivery chain: %w", err))
	}

	shop, err := newClub(cfg, peppers)
	if err != nil {
		return fail(err)
	}
	// The service's customers: PayU's merchants, then the club's.
	dir, err := newDirectory(shop)
	if err != nil {
		return fail(err)
	}
	telOpts := []telemetry.Option{telemetry.WithEvents(eventHook(cfg.Events, cfg.Audit))}
	if cfg.MeterProvider != nil {
		telOpts = append(telOpts, telemetry.WithMeterProvider(cfg.MeterProvider))
	}
	if cfg.TracerProvider != nil {
		telOpts = append(telOpts, telemetry.WithTracerProvider(cfg.TracerProvider))
	}
	tel, err := telemetry.New(telOpts...)
	if err != nil {
		return fail(fmt.Errorf("loyalty: telemetry: %w", err))
	}
	svc, err := otpcode.NewService(st, keys, chain,
		otpcode.WithLimits(cfg.Limits),
		otpcode.WithDirectory(dir),
		otpcode.WithRegion(cfg.Region),
		otpcode.WithAllowedRegions(cfg.AllowedCountries...),
		otpcode.WithUnknownRecipients(cfg.UnknownRecipients),
		otpcode.WithTelemetry(tel),
		// A code requested for an action authorizes only that action.
		otpcode.WithActionPurposes(actionNames(policy.NewCatalog().Actions())...),
		otpcode.WithClock(cfg.Now),
	)
	if err != nil {
		return fail(fmt.Errorf("loyalty: otp service: %w", err))
	}

	audit := cfg.Audit
	if audit == nil {
		audit = slog.New(slog.DiscardHandler)
	}
	// One set of HTTP settings for the guard, the API keys and the OTP
	// handlers: one problem base, one audit log.
	webOpts := []middleware.HTTPOption{middleware.WithProblemBase(cfg.ProblemBase), middleware.WithTelemetry(tel)}
	if cfg.Audit != nil {
		webOpts = append(webOpts, middleware.WithLogger(cfg.Audit))
	}
	web, err := middleware.NewHTTP(webOpts...)
	if err != nil {
		return fail(fmt.Errorf("loyalty: http settings: %w", err))
	}
	otp, err := otphttp.New(web, svc, otphttp.WithScopesAllowed(policy.NewCatalog().Actions()...),
		otphttp.WithChannelPolicy(zupyChannels))
	if err != nil {
		return fail(fmt.Errorf("loyalty: otp handlers: %w", err))
	}

	apiKeys := partnerKeys()
	auth, err := middleware.APIKeys(web, apiKeys)
	if err != nil {
		return fail(fmt.Errorf("loyalty: api keys: %w", err))
	}

	// One guard for every route. By default a route acts on the customer
	// of its {id} path value, and a session counts only for that customer;
	// the routes that name their customer another way say so.
	guard, err := middleware.NewGuard(web,
		middleware.WithPolicies(cfg.Policies),
		middleware.WithSessions(st),
		middleware.WithSessionKeys(keys),
		middleware.WithClock(cfg.Now),
		middleware.WithCustomer(middleware.CustomerFromPath("id")),
	)
	if err != nil {
		return fail(fmt.Errorf("loyalty: guard: %w", err))
	}
	// A coupon's customer is its owner; an enrollment's is the customer
	// its identifier names (verify-otp made one for a new phone or email).
	couponOwner := middleware.CustomerFunc(func(r *http.Request) (string, error) {
		cp, err := shop.coupon(r.PathValue("code"))
		return cp.CustomerID, err
	})
	enrollee := middleware.CustomerFromJSON("identifier").Map(func(_ *http.Request, identifier string) (string, error) {
		id, err := otpcode.Parser{Region: svc.Region()}.Parse(identifier)
		if err != nil {
			return "", err
		}
		return shop.customerID(id), nil
	})

	var (
		anyone     = []middleware.RouteOption{middleware.AnyCustomer}
		byOwner    = []middleware.RouteOption{couponOwner}
		byEnrollee = []middleware.RouteOption{enrollee}
	)
	a := &api{l: shop, web: web, log: audit, svc: svc}
	routes := []struct {
		pattern  string
		action   policy.Action
		customer []middleware.RouteOption // none: the guard's default, the {id} path value
		handler  http.HandlerFunc
	}{
		{"GET /api/v2/customers/search", policy.SearchCustomers, anyone, a.searchCustomers},
		{"GET /api/v2/customers/{id}/balance", policy.ViewBalance, nil, a.balance},
		{"GET /api/v2/customers/{id}/history", policy.ViewHistory, nil, a.history},
		{"POST /api/v2/customers/{id}/points/{$}", policy.AwardPoints, nil, a.awardPoints},
		{"GET /api/v2/rewards/{$}", policy.ListRewards, anyone, a.listRewards},
		{"GET /api/v2/coupons/{$}", policy.ListCoupons, anyone, a.listCoupons},
		{"GET /api/v2/programs/{$}", policy.ViewPrograms, anyone, a.listPrograms},
		{"POST /api/v2/webhooks/{$}", policy.SendWebhook, anyone, a.addWebhook},
		{"POST /api/v2/customers/{id}/rewards/{rid}/redeem/{$}", policy.RedeemReward, nil, a.redeem},
		{"POST /api/v2/coupons/{code}/validate/{$}", policy.ValidateCoupon, byOwner, a.validateCoupon},
		{"POST /api/v2/coupons/{code}/use/{$}", policy.UseCoupon, byOwner, a.useCoupon},
		{"POST /api/v2/customers/enroll/{$}", policy.EnrollCustomer, byEnrollee, a.enroll},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	// The OTP handlers answer other methods with a 405 problem themselves.
	otpKey := auth.Require(OTPScope)
	mux.Handle("/api/v2/auth/request-otp/{$}", otpKey(otp.RequestOTP()))
	mux.Handle("/api/v2/auth/verify-otp/{$}", otpKey(otp.VerifyOTP()))
	mux.Handle("/api/v2/auth/revoke-otp-session/{$}", otpKey(otp.RevokeOTP()))
	// PayU's contract on the same service, its keys as bearer credentials.
	if err := mountPayU(mux, web, svc, dir.merchants, apiKeys); err != nil {
		return fail(fmt.Errorf("loyalty: PayU endpoints: %w", err))
	}
	for _, rt := range routes {
		mw, err := guard.Middleware(rt.action, rt.customer...)
		if err != nil {
			return fail(fmt.Errorf("loyalty: route %s: %w", rt.pattern, err))
		}
		mux.Handle(rt.pattern, auth(mw(rt.handler)))
	}
	srv.mux = mux
	if cfg.AdminToken != "" {
		srv.admin, err = otphttp.NewAdmin(web, svc, cfg.AdminToken,
			otphttp.WithCustomerExists(func(_ context.Context, id string) (bool, error) {
				return shop.has(id), nil
			}))
		if err != nil {
			return fail(fmt.Errorf("loyalty: admin API: %w", err))
		}
	}
	return srv, nil
}

// actionNames returns the actions' names.
func actionNames(actions []policy.Action) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}

// eventHook returns the event hook: the host's, and an audit event named
// after the kind ("otp.locked", "otp.breaker_tripped", ...) when audit is
// set. Events name customers only by their pseudonymous reference.
func eventHook(host func(context.Context, telemetry.Event), audit *slog.Logger) func(context.Context, telemetry.Event) {
	return func(ctx context.Context, e telemetry.Event) {
		if audit != nil {
			audit.LogAttrs(ctx, slog.LevelWarn, e.Kind.String(),
				slog.String("integration", e.Integration),
				slog.String("customer_ref", e.Customer),
				slog.String("scope", e.Scope.String()),
				slog.Duration("duration", e.Duration),
				slog.String("channel", e.Channel),
				slog.Int("sessions", e.Sessions),
				slog.String("action", e.Action),
			)
		}
		if host != nil {
			host(ctx, e)
		}
	}
}

// chain returns the delivery chain: WhatsApp first, email as the fallback,
// each with its real sender; the development sender for both only when
// neither has one.
func (s Senders) chain(stdout io.Writer) (*otpcode.Chain, error) {
	if s.WhatsApp == nil && s.Email == nil {
		dev := otpcode.NewDevSender(stdout)
		return otpcode.NewChain(
			otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: dev},
			otpcode.Route{Channel: otpcode.ChannelSMS, Sender: dev}, // PayU's
			otpcode.Route{Channel: otpcode.ChannelEmail, Sender: dev},
		)
	}
	var routes []otpcode.Route
	if s.WhatsApp != nil {
		routes = append(routes, otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: s.WhatsApp})
	}
	if s.Email != nil {
		routes = append(routes, otpcode.Route{Channel: otpcode.ChannelEmail, Sender: s.Email})
	}
	return otpcode.NewChain(routes...)
}

// healthz is the liveness check: it answers 200 {"status":"ok"} as long as
// the process serves HTTP. It needs no API key and touches no store, so a
// load balancer keeps routing to an instance whose Redis is down; that
// instance then answers guarded requests with 503 on its own.
func healthz(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}
