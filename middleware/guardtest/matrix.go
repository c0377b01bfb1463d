package guardtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// ErrInvalidMatrix is wrapped by every error CheckMatrix and AssertMatrix
// return for a Matrix they refuse before sending any request.
var ErrInvalidMatrix = errors.New("guardtest: invalid matrix")

// maxResultBody bounds the response body a Result keeps.
const maxResultBody = 512

// Partner is one integration the matrix calls the routes as.
type Partner struct {
	// Name names the partner in subtests and results. Default: Integration.
	// It must be unique in the matrix and must not contain "/".
	Name string
	// Integration is the partner's integration ID: the ID its API key maps
	// to, whose policy the matrix looks up and to which it issues sessions.
	// Required.
	Integration string
	// APIKey is sent in the Matrix's APIKeyHeader; empty sends none (for
	// hosts that authenticate partners by Header instead).
	APIKey string
	// Header holds more headers sent with every request of the partner.
	Header http.Header
}

// Route is one guarded route of the host, with everything needed to call
// it successfully.
type Route struct {
	// Name names the route in subtests and results. Default: the action.
	// It must be unique in the matrix and must not contain "/".
	Name string
	// Method is the request method; empty means GET.
	Method string
	// Target is the request target: a path with the customer and any other
	// IDs filled in, and an optional query, such as
	// "/api/v2/customers/2awTHloSJX7kGGprFerOOsvABcd/balance". Required.
	Target string
	// Body is the request body, sent with every request of the route. A
	// non-empty body goes with Content-Type: application/json unless Header
	// sets another.
	Body string
	// Header holds more headers sent with every request of the route.
	Header http.Header
	// Action is the action the route is guarded with; the expectations come
	// from deciding it under each partner's policy. Required, and known to
	// the Matrix's catalogue.
	Action policy.Action
	// CustomerID is the customer the request acts on: the sessions the
	// matrix issues for this route are issued for this customer. Leave it
	// empty for routes that act on no particular customer.
	CustomerID string
	// Accept, when set, decides which statuses count as a pass for the
	// requests the guard must let through. Default: any status but 401 and
	// 403. Requests that must be refused always want the 403 otp-required
	// problem.
	Accept func(status int) bool
}

// Matrix describes the partners and routes CheckMatrix and AssertMatrix
// check, and what they need to issue sessions and compute expectations.
type Matrix struct {
	// Partners are the integrations to call the routes as. Required.
	Partners []Partner
	// Routes are the guarded routes. Required.
	Routes []Route
	// Sessions is the store the host's guard looks sessions up in; the
	// matrix issues its sessions there and revokes each after its request.
	// Required.
	Sessions store.Sessions
	// Keys are the session keys of the host's guard (its
	// middleware.WithSessionKeys); the matrix seals its sessions with them.
	// Required.
	Keys *keyring.Keyring
	// Policies is the policy source the host's guard uses; each partner's
	// policy is looked up in it once. Required.
	Policies policy.Source
	// Catalog binds actions to flags, as in the host's guard. Default:
	// policy.NewCatalog().
	Catalog *policy.Catalog
	// APIKeyHeader is the header Partner.APIKey goes in. Default:
	// middleware.DefaultAPIKeyHeader ("X-API-Key").
	APIKeyHeader string
	// OtherCustomerID, when set, adds the check "other-customer" to every
	// route that acts on a customer (CustomerID set, and not this one)
	// where OTP is required: a session issued to the same integration for
	// this other customer must be refused with 403 otp-required. It catches
	// a route that binds no customer (see middleware.CustomerSource).
	OtherCustomerID string
	// TTL is the lifetime of the sessions the matrix issues. Default:
	// DefaultSessionTTL.
	TTL time.Duration
	// Now is the clock the sessions' expiry is computed from. Default:
	// time.Now; pass the guard's clock when it has an injected one.
	Now func() time.Time
	// Reset, when set, is called before each request (and before the
	// request's session is issued), to restore fixtures that routes change.
	Reset func()
}

// Check names one request the matrix sends for a partner and a route. It is
// the last element of the subtest's name.
type Check string

// The checks, in the order they run for each partner and route.
const (
	// CheckWithoutSession sends the request without X-OTP-Session.
	CheckWithoutSession Check = "without-session"
	// CheckOtherCustomer sends the request with a session issued to the
	// partner's integration for Matrix.OtherCustomerID. It runs only where
	// OTP is required.
	CheckOtherCustomer Check = "other-customer"
	// CheckWithSession sends the request with a session issued to the
	// partner's integration for the route's customer, scoped to the route's
	// action.
	CheckWithSession Check = "with-session"
)

// Want is what a check expects of the response.
type Want uint8

const (
	// WantOTPRequired expects the guard's refusal: status 403 with the
	// otp-required problem (see IsOTPRequired).
	WantOTPRequired Want = iota + 1
	// WantAllowed expects the request to get past the guard: any status but
	// 401 and 403, or one the route's Accept accepts.
	WantAllowed
)

// String describes the expectation, as in failure messages.
func (w Want) String() string {
	switch w {
	case WantOTPRequired:
		return "403 otp-required"
	case WantAllowed:
		return "neither 401 nor 403"
	}
	return "Want(" + strconv.Itoa(int(w)) + ")"
}

// Result is the outcome of one check of one partner and route.
type Result struct {
	// Partner and Route are the names of the partner and the route.
	Partner, Route string
	// Check is the request that was sent.
	Check Check
	// Decision is the policy's decision for the route's action under the
	// partner's policy, from which Want was computed.
	Decision policy.Decision
	// Want is what the check expected.
	Want Want
	// Status is the response's status code.
	Status int
	// ProblemType is the "type" of the response's JSON problem, if any.
	ProblemType string
	// Body is the response body, cut to its first 512 bytes.
	Body string
	// Failure says why the check failed, in the form "got status X, want
	// Y (decision); body: ..."; it is empty when the check passed.
	Failure string
}

// OK reports whether the check passed.
func (r Result) OK() bool { return r.Failure == "" }

// Name returns the check's subtest name, "partner/route/check".
func (r Result) Name() string { return r.Partner + "/" + r.Route + "/" + string(r.Check) }

// String formats the result on one line, as in
// "ok   goomer/redeem/without-session: got 403 otp-required, want 403 otp-required".
func (r Result) String() string {
	verdict := "ok  "
	if !r.OK() {
		verdict = "FAIL"
	}
	return verdict + " " + r.Name() + ": got " + describeStatus(r.Status, r.ProblemType) + ", want " + r.Want.String()
}

// Failures returns the results that failed, in order.
func Failures(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if !r.OK() {
			out = append(out, r)
		}
	}
	return out
}

// CheckMatrix sends, for every partner and route of m in order, the checks
// "without-session", "other-customer" (see Matrix.OtherCustomerID) and
// "with-session" to h, and returns one Result per check, passed or failed.
// The expectations come from deciding each route's action under each
// partner's policy: without a session (or with another customer's), the 403
// otp-required problem where the decision requires OTP and a pass where it
// does not; with the partner's session, a pass.
//
// It returns an error wrapping ErrInvalidMatrix, and no results, for a
// matrix it refuses (every problem found, joined); an error from the policy
// source or the session store, wrapped, with the results so far. Failed
// checks are not errors: see Result.OK and Failures. Requests are sent one
// at a time; CheckMatrix must not run concurrently with another use of the
// same fixtures.
func CheckMatrix(h http.Handler, m Matrix) ([]Result, error) {
	ctx := context.Background()
	p, err := newPlan(ctx, m)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, byRoute := range p.steps {
		for _, steps := range byRoute {
			for _, st := range steps {
				r, err := p.run(ctx, h, st)
				if err != nil {
					return results, err
				}
				results = append(results, r)
			}
		}
	}
	return results, nil
}

// AssertMatrix runs the checks of CheckMatrix as subtests of t named
// "partner/route/check", each failing with the Result's Failure message. A
// matrix CheckMatrix refuses, or a policy source or store error, stops the
// test with t.Fatalf. Subtests can be selected with go test -run as usual;
// the checks of one route then still run in order.
func AssertMatrix(t *testing.T, h http.Handler, m Matrix) {
	t.Helper()
	p, err := newPlan(t.Context(), m)
	if err != nil {
		t.Fatalf("%v", err)
	}
	for pi, byRoute := range p.steps {
		t.Run(p.partners[pi].Name, func(t *testing.T) {
			t.Helper()
			for ri, steps := range byRoute {
				t.Run(p.routes[ri].Name, func(t *testing.T) {
					t.Helper()
					for _, st := range steps {
						t.Run(string(st.check), func(t *testing.T) {
							t.Helper()
							r, err := p.run(t.Context(), h, st)
							if err != nil {
								t.Fatalf("%v", err)
							}
							if !r.OK() {
								t.Errorf("%s", r.Failure)
							}
						})
					}
				})
			}
		})
	}
}

// plan is a checked Matrix with its defaults filled in and every check to
// run, by partner and route.
type plan struct {
	m        Matrix
	partners []Partner
	routes   []Route
	steps    [][][]step // [partner][route]
}

// step is one check to run.
type step struct {
	partner, route int
	check          Check
	decision       policy.Decision
	want           Want
}

// newPlan checks m, fills in its defaults and decides every partner and
// route.
func newPlan(ctx context.Context, m Matrix) (*plan, error) {
	if m.Catalog == nil {
		m.Catalog = policy.NewCatalog()
	}
	if m.APIKeyHeader == "" {
		m.APIKeyHeader = middleware.DefaultAPIKeyHeader
	}
	if m.TTL == 0 {
		m.TTL = DefaultSessionTTL
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	p := &plan{m: m, partners: append([]Partner(nil), m.Partners...), routes: append([]Route(nil), m.Routes...)}
	rules, errs := p.check()
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("guardtest: matrix: %w: %w", ErrInvalidMatrix, err)
		}
		return nil, errors.Join(errs...)
	}
	for pi, pt := range p.partners {
		pol, err := m.Policies.Policy(ctx, pt.Integration)
		if err != nil {
			return nil, fmt.Errorf("guardtest: matrix: policy of integration %q: %w", pt.Integration, err)
		}
		byRoute := make([][]step, len(p.routes))
		for ri, rt := range p.routes {
			d := rules[ri].Decide(pol)
			st := step{partner: pi, route: ri, decision: d}
			if d.Required {
				st.check, st.want = CheckWithoutSession, WantOTPRequired
				byRoute[ri] = append(byRoute[ri], st)
				if m.OtherCustomerID != "" && rt.CustomerID != "" && rt.CustomerID != m.OtherCustomerID {
					st.check = CheckOtherCustomer
					byRoute[ri] = append(byRoute[ri], st)
				}
			} else {
				st.check, st.want = CheckWithoutSession, WantAllowed
				byRoute[ri] = append(byRoute[ri], st)
			}
			st.check, st.want = CheckWithSession, WantAllowed
			byRoute[ri] = append(byRoute[ri], st)
		}
		p.steps = append(p.steps, byRoute)
	}
	return p, nil
}

// check validates the plan's matrix, fills in partner and route names and
// resolves each route's action. It returns every problem found.
func (p *plan) check() ([]policy.Rule, []error) {
	m := p.m
	var errs []error
	if m.Sessions == nil {
		errs = append(errs, errors.New("no session store (set Sessions)"))
	}
	if m.Keys == nil || m.Keys.Len() == 0 {
		errs = append(errs, errors.New("no session keys (set Keys)"))
	}
	if m.Policies == nil {
		errs = append(errs, errors.New("no policy source (set Policies)"))
	}
	if len(p.partners) == 0 {
		errs = append(errs, errors.New("no partners"))
	}
	if len(p.routes) == 0 {
		errs = append(errs, errors.New("no routes"))
	}
	if m.TTL < 0 {
		errs = append(errs, fmt.Errorf("negative TTL %v", m.TTL))
	}
	names := map[string]bool{}
	for i := range p.partners {
		pt := &p.partners[i]
		if pt.Name == "" {
			pt.Name = pt.Integration
		}
		if pt.Integration == "" {
			errs = append(errs, fmt.Errorf("partner %d (%q): no integration", i, pt.Name))
		}
		errs = append(errs, checkName("partner", pt.Name, names)...)
	}
	names = map[string]bool{}
	rules := make([]policy.Rule, len(p.routes))
	for i := range p.routes {
		rt := &p.routes[i]
		if rt.Name == "" {
			rt.Name = string(rt.Action)
		}
		errs = append(errs, checkName("route", rt.Name, names)...)
		label := strconv.Quote(rt.Name)
		if rt.Name == "" {
			label = strconv.Itoa(i)
		}
		rule, err := m.Catalog.Rule(rt.Action)
		switch {
		case rt.Action == "":
			errs = append(errs, fmt.Errorf("route %s: no action", label))
		case err != nil:
			errs = append(errs, fmt.Errorf("route %s: %w", label, err))
		}
		rules[i] = rule
		if err := checkTarget(rt.Method, rt.Target); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", label, err))
		}
	}
	return rules, errs
}

// checkName checks a partner's or route's name: without "/" and not seen
// before. An empty name (no integration, no action) is reported by the
// caller.
func checkName(kind string, name string, seen map[string]bool) []error {
	switch {
	case name == "":
		return nil
	case strings.Contains(name, "/"):
		return []error{fmt.Errorf("%s %q: name contains \"/\"", kind, name)}
	case seen[name]:
		return []error{fmt.Errorf("%s %q: repeated name", kind, name)}
	}
	seen[name] = true
	return nil
}

// checkTarget reports whether NewRequest can build a request for method and
// target, which it would otherwise report by panicking.
func checkTarget(method, target string) (err error) {
	if target == "" {
		return errors.New("no target")
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("method %q, target %q: %v", method, target, v)
		}
	}()
	NewRequest(method, target, nil)
	return nil
}

// run sends one check's request and evaluates the response.
func (p *plan) run(ctx context.Context, h http.Handler, st step) (Result, error) {
	pt, rt := p.partners[st.partner], p.routes[st.route]
	res := Result{Partner: pt.Name, Route: rt.Name, Check: st.check, Decision: st.decision, Want: st.want}
	if p.m.Reset != nil {
		p.m.Reset()
	}
	var token string
	if st.check != CheckWithoutSession {
		s := Session{
			Integration: pt.Integration,
			CustomerID:  rt.CustomerID,
			Scopes:      []policy.Action{rt.Action},
			TTL:         p.m.TTL,
			Now:         p.m.Now,
			Keys:        p.m.Keys,
		}
		if st.check == CheckOtherCustomer {
			s.CustomerID = p.m.OtherCustomerID
		}
		var err error
		if token, err = IssueSession(ctx, p.m.Sessions, s); err != nil {
			return res, fmt.Errorf("guardtest: matrix: %s: %w", res.Name(), err)
		}
	}

	rec := Serve(h, p.request(pt, rt, token))

	if token != "" {
		if _, err := p.m.Sessions.RevokeSession(ctx, store.HashToken(token)); err != nil {
			return res, fmt.Errorf("guardtest: matrix: %s: revoke session: %w", res.Name(), err)
		}
	}
	body := rec.Body.Bytes()
	res.Status = rec.Code
	res.ProblemType = problemType(body)
	res.Body = string(body[:min(len(body), maxResultBody)])
	res.Failure = evaluate(res, rt.Accept)
	return res, nil
}

// request builds a check's request: the partner's and the route's headers,
// the API key, the session token (if any) and the body.
func (p *plan) request(pt Partner, rt Route, token string) *http.Request {
	var body io.Reader
	if rt.Body != "" {
		body = strings.NewReader(rt.Body)
	}
	r := NewRequest(rt.Method, rt.Target, body)
	for _, hdr := range []http.Header{pt.Header, rt.Header} {
		for k, vs := range hdr {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	}
	if rt.Body != "" && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if pt.APIKey != "" {
		r.Header.Set(p.m.APIKeyHeader, pt.APIKey)
	}
	if token != "" {
		r.Header.Set(middleware.SessionHeader, token)
	}
	return r
}

// evaluate returns why res does not meet its expectation, or "".
func evaluate(res Result, accept func(int) bool) string {
	var ok bool
	want := res.Want.String()
	switch res.Want {
	case WantOTPRequired:
		ok = res.Status == http.StatusForbidden && isOTPRequiredType(res.ProblemType)
	case WantAllowed:
		if accept != nil {
			ok = accept(res.Status)
			want = "a status the route's Accept accepts"
		} else {
			ok = res.Status != http.StatusUnauthorized && res.Status != http.StatusForbidden
		}
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("got status %s, want %s (%s); body: %s",
		describeStatus(res.Status, res.ProblemType), want, res.Decision, strings.TrimSpace(res.Body))
}

// describeStatus formats a status with the problem type that matters: "403
// otp-required", `403 (problem type "about:blank#forbidden")`, "200".
func describeStatus(status int, problemType string) string {
	s := strconv.Itoa(status)
	switch {
	case status == http.StatusForbidden && isOTPRequiredType(problemType):
		return s + " otp-required"
	case problemType != "":
		return s + " (problem type " + strconv.Quote(problemType) + ")"
	}
	return s
}
