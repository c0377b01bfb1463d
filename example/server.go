package main

import (
	"bytes"
	"crypto/rand"
	_ "embed" // the fallback policy file
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// embeddedPolicies is example/policies.json, compiled in so that the binary
// also runs from another directory.
//
//go:embed policies.json
var embeddedPolicies []byte

// partner is one integration of the example with its fixed test API key.
type partner struct {
	ID   string // the integration ID the policy file uses
	Name string
	Kind string
	Key  string // X-API-Key
}

// partners are the example's integrations. Their keys are fixed so that the
// documentation can use them; a real deployment loads keys from a secret
// store. Balcão Local has no entry in policies.json, so it gets the default
// policy, strict.
var partners = []partner{
	{ID: "repediu", Name: "Repediu", Kind: "CRM", Key: "zupy_pk_test_repediu_4f9c2a7e1b"},
	{ID: "goomer", Name: "Goomer", Kind: "tablet", Key: "zupy_pk_test_goomer_8d3e6b0c5a"},
	{ID: "saipos", Name: "Saipos", Kind: "POS", Key: "zupy_pk_test_saipos_2b7f9e4d6c"},
	{ID: "balcao", Name: "Balcão Local", Kind: "counter", Key: "zupy_pk_test_balcao_6a1d8c3f9e"},
}

// config is everything newServer needs. main fills it from flags; tests
// fill it directly.
type config struct {
	// policies are the integrations' OTP policies. Required.
	policies *policy.Static
	// problemBase prefixes problem types.
	problemBase string
	// limits are the OTP service's limits.
	limits otpcode.Limits
	// peppers are the keys codes are signed with, the first signing; none
	// means one random key (codes do not survive a restart).
	peppers [][]byte
	// audit, when set, receives the guard's and the handlers' audit events.
	audit *slog.Logger
	// now is the clock; nil means time.Now.
	now func() time.Time
	// store keeps codes, sessions and counters; nil means a new memory
	// store. A Redis store goes here.
	store store.Store
}

// newServer builds the loyalty API: the OTP service on the store, the
// request-otp and verify-otp handlers, the API-key middleware and the guard
// around every endpoint. Codes are printed by the development sender to
// stdout, one JSON line each. The returned function releases what
// newServer opened.
func newServer(cfg config, stdout io.Writer) (http.Handler, func(), error) {
	if cfg.policies == nil {
		return nil, nil, errors.New("example: no policies")
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.problemBase == "" {
		cfg.problemBase = middleware.DefaultProblemBase
	}
	cleanup := func() {}
	st := cfg.store
	if st == nil {
		ms := memory.New(memory.WithClock(cfg.now))
		st, cleanup = ms, ms.Close
	}
	fail := func(err error) (http.Handler, func(), error) {
		cleanup()
		return nil, nil, err
	}

	peppers := cfg.peppers
	if len(peppers) == 0 {
		p := make([]byte, 32)
		if _, err := rand.Read(p); err != nil {
			return fail(fmt.Errorf("example: random pepper: %w", err))
		}
		peppers = [][]byte{p}
	}
	keys, err := otpcode.NewKeyring(peppers...)
	if err != nil {
		return fail(fmt.Errorf("example: keyring: %w", err))
	}

	// WhatsApp first, email as the fallback; in development both print the
	// code to stdout.
	dev := otpcode.NewDevSender(stdout)
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: dev},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: dev},
	)
	if err != nil {
		return fail(fmt.Errorf("example: delivery chain: %w", err))
	}

	shop, err := newLoyalty(cfg.now)
	if err != nil {
		return fail(err)
	}
	svc, err := otpcode.NewService(st, keys, chain,
		otpcode.WithLimits(cfg.limits),
		otpcode.WithDirectory(shop),
		otpcode.WithClock(cfg.now),
	)
	if err != nil {
		return fail(fmt.Errorf("example: otp service: %w", err))
	}

	audit := cfg.audit
	if audit == nil {
		audit = slog.New(slog.DiscardHandler)
	}
	otp, err := middleware.NewOTPHandlers(svc,
		middleware.WithHandlerProblemBase(cfg.problemBase),
		middleware.WithHandlerLogger(audit),
		middleware.WithScopesAllowed(policy.NewCatalog().Actions()...),
	)
	if err != nil {
		return fail(err)
	}

	keyMap := make(map[string]string, len(partners))
	for _, p := range partners {
		keyMap[p.Key] = p.ID
	}
	auth, err := middleware.APIKeys(keyMap, middleware.WithAPIKeyProblemBase(cfg.problemBase))
	if err != nil {
		return fail(err)
	}

	guardOpts := []middleware.Option{
		middleware.WithPolicies(cfg.policies),
		middleware.WithSessions(st),
		middleware.WithProblemBase(cfg.problemBase),
		middleware.WithClock(cfg.now),
	}
	if cfg.audit != nil {
		guardOpts = append(guardOpts, middleware.WithLogger(cfg.audit))
	}
	// Routes under /customers/{id}/ act on one customer, and a session
	// counts only for that customer. Coupon and enrollment routes name no
	// customer in the path; their endpoints check the session themselves.
	customerGuard, err := middleware.NewGuard(append(guardOpts,
		middleware.WithCustomerFunc(func(r *http.Request) string { return r.PathValue("id") }))...)
	if err != nil {
		return fail(err)
	}
	plainGuard, err := middleware.NewGuard(guardOpts...)
	if err != nil {
		return fail(err)
	}

	a := &api{l: shop, base: cfg.problemBase, log: audit}
	routes := []struct {
		pattern  string
		action   policy.Action
		customer bool // the path names the customer: {id}
		handler  http.HandlerFunc
	}{
		{"GET /api/v2/customers/search", policy.SearchCustomers, false, a.searchCustomers},
		{"GET /api/v2/customers/{id}/balance", policy.ViewBalance, true, a.balance},
		{"GET /api/v2/customers/{id}/history", policy.ViewHistory, true, a.history},
		{"POST /api/v2/customers/{id}/points/{$}", policy.AwardPoints, true, a.awardPoints},
		{"GET /api/v2/rewards/{$}", policy.ListRewards, false, a.listRewards},
		{"GET /api/v2/coupons/{$}", policy.ListCoupons, false, a.listCoupons},
		{"GET /api/v2/programs/{$}", policy.ViewPrograms, false, a.listPrograms},
		{"POST /api/v2/webhooks/{$}", policy.SendWebhook, false, a.addWebhook},
		{"POST /api/v2/customers/{id}/rewards/{rid}/redeem/{$}", policy.RedeemReward, true, a.redeem},
		{"POST /api/v2/coupons/{code}/validate/{$}", policy.ValidateCoupon, false, a.validateCoupon},
		{"POST /api/v2/coupons/{code}/use/{$}", policy.UseCoupon, false, a.useCoupon},
		{"POST /api/v2/customers/enroll/{$}", policy.EnrollCustomer, false, a.enroll},
	}

	mux := http.NewServeMux()
	// The OTP handlers answer other methods with a 405 problem themselves.
	mux.Handle("/api/v2/auth/request-otp/{$}", auth(otp.RequestOTP()))
	mux.Handle("/api/v2/auth/verify-otp/{$}", auth(otp.VerifyOTP()))
	for _, rt := range routes {
		g := plainGuard
		if rt.customer {
			g = customerGuard
		}
		guard, err := g.Middleware(rt.action)
		if err != nil {
			return fail(err)
		}
		mux.Handle(rt.pattern, auth(guard(rt.handler)))
	}
	return mux, cleanup, nil
}

// loadPolicies reads the policy file at path. When path is the default and
// there is no such file (the server runs from another directory), it uses
// the copy compiled into the binary.
func loadPolicies(path, defaultPath string) (*policy.Static, string, error) {
	s, err := policy.LoadFile(path)
	if err == nil {
		return s, path, nil
	}
	if path == defaultPath && errors.Is(err, os.ErrNotExist) {
		s, err := policy.Load(bytes.NewReader(embeddedPolicies), "policies.json (embedded)")
		return s, "embedded policies.json", err
	}
	return nil, "", err
}

// printBanner lists the partners with their trust level and test API key.
func printBanner(w io.Writer, addr, policySource string, pol *policy.Static) {
	fmt.Fprintf(w, "otpguard example loyalty API on %s (policies: %s)\n", addr, policySource)
	fmt.Fprintf(w, "codes are printed on stdout, one JSON line per delivery\n\n")
	fmt.Fprintf(w, "%-14s %-8s %-8s %s\n", "partner", "kind", "level", "X-API-Key")
	for _, p := range partners {
		in, ok := pol.Integration(p.ID)
		if !ok {
			in = pol.Default()
		}
		level := in.Level.String()
		if in.Overridden() {
			level += "*" // flags overridden on top of the level
		}
		fmt.Fprintf(w, "%-14s %-8s %-8s %s\n", p.Name, p.Kind, level, p.Key)
	}
	fmt.Fprintln(w)
}
