package otphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// Bounds on the optional request fields. They keep the values that reach the
// store and the logs short and printable.
const (
	maxPurposeLen = 64
	maxLocaleLen  = 35
	maxScopeLen   = 64
	maxScopes     = 16
)

// reservedVerifyKeys are the members of a verify-otp response that a
// customer's Profile can never override.
var reservedVerifyKeys = []string{"customer_id", "is_new", "otp_session", "expires_in", "scope"}

// Handlers serves the two steps of the OTP flow that issue sessions:
// request-otp (send a code) and verify-otp (check it and return an
// otp_session token with the customer's profile). Build it with New and
// mount RequestOTP and VerifyOTP where the host likes, usually at
// POST /api/v2/auth/request-otp/ and POST /api/v2/auth/verify-otp/, behind
// the API-key middleware.
//
// The handlers speak the wire format of their Contract: Zupy's, described
// below, unless WithContract chooses another, such as PayU's (see PayU).
// Whatever the contract, the method must be POST, the body is read up to
// the body limit, the calling integration comes from the shared settings,
// and the service (its store, limits and policies) decides: handlers of
// two contracts over one service share every code, lock and budget.
//
// # Request bodies (Zupy's contract)
//
// Both handlers accept only POST (405 with "Allow: POST" otherwise), only
// Content-Type application/json (parameters such as charset are allowed;
// 415 otherwise) and bodies up to the body limit (413 beyond it). A body is
// exactly one JSON object with no unknown members and nothing after it
// (400 otherwise).
//
// request-otp takes {"identifier", "identifier_type"?, "channel"?,
// "purpose"?, "locale"?} and answers
// {"data":{"status":"sent","channel":"whatsapp","expires_in":300},"meta":{}}.
//
// identifier is a phone number, an email address or a CPF as people type
// them: with the service's default region (otpcode.WithRegion), national
// phone formats such as "(11) 98765-4321" work too. identifier_type
// ("phone", "email" or "cpf") says which it is; without it, 11 bare digits
// that are both a valid CPF and a valid phone number of the region are
// refused with 400 and errors.identifier ["ambiguous"], whose message names
// identifier_type. Formatted input ("529.982.247-25", "(11) 98765-4321",
// "+55 11 98765-4321") is never ambiguous.
//
// verify-otp takes {"identifier", "identifier_type"?, "otp_code",
// "purpose"?, "scope"?} and
// answers {"data":{"customer_id","is_new","otp_session","expires_in",
// "scope"?, ...profile},"meta":{}}. scope is one string of space-separated
// action names, as in OAuth 2.0 and PayU ("redeem_reward use_coupon"); a
// scoped session authorizes only those actions and the response repeats the
// scope. The customer's Profile members are merged into data but never
// replace customer_id, is_new, otp_session, expires_in or scope.
//
// # Errors (Zupy's contract)
//
// Every error is an RFC 9457 problem (see WriteProblem), mapped from the
// service's typed errors:
//
//	400 validation-error         a missing or malformed field; errors and messages name it
//	401 authentication-required  no integration (no API key); a wrong or expired code
//	404 not-found                no code was requested for the identifier; an unknown customer
//	413 payload-too-large        a body over the limit
//	415 unsupported-media-type   a body that is not application/json
//	429 rate-limit-exceeded      any limit, with Retry-After and retry_after (and lock_duration while locked)
//	502 delivery-failed          every channel failed to deliver the code
//	503 service-unavailable      any other failure, such as a store that is down (fail closed)
//
// Internal error text never reaches a client. Success and error responses
// carry Cache-Control: no-store.
//
// Handlers is safe for concurrent use.
type Handlers struct {
	svc          *otpcode.Service
	web          *middleware.HTTP
	bodyLimit    int64
	log          *slog.Logger
	scopeAllowed func(string) bool
	allowChannel func(integration string, ch otpcode.Channel) bool
	wire         Contract // WithContract; nil for Zupy
	contract     contract // wire bound to svc

	request http.Handler
	verify  http.Handler
	revoke  http.Handler
}

// Option configures Handlers in New.
type Option func(*Handlers) error

// WithScopesAllowed restricts the scopes a verify-otp request may ask for to
// the given actions, for example policy.NewCatalog().Actions() or only the
// actions that can require OTP. The guard accepts a scoped session only for
// the actions named in its scope. Default: any scope of printable ASCII
// without spaces, at most 64 bytes each and 16 in all. A scope not listed
// gets 400 with errors.scope ["not_permitted"] (422 in PayU's contract).
func WithScopesAllowed(actions ...policy.Action) Option {
	return func(h *Handlers) error {
		if len(actions) == 0 {
			return errors.New("WithScopesAllowed needs at least one action")
		}
		set := make(map[string]bool, len(actions))
		for _, a := range actions {
			if !validScope(string(a)) {
				return fmt.Errorf("action %q cannot be a scope", a)
			}
			set[string(a)] = true
		}
		h.scopeAllowed = func(s string) bool { return set[s] }
		return nil
	}
}

// WithChannelPolicy sets which delivery channels an integration may use; a
// policy may, for example, forbid the low-assurance email channel for some
// integrations. Default: every channel of the service. A request for a
// forbidden channel gets 400 with errors.channel ["not_permitted"] (422
// with errors.channels in PayU's contract, whose offered channels it
// narrows further).
func WithChannelPolicy(allow func(integration string, ch otpcode.Channel) bool) Option {
	return func(h *Handlers) error {
		if allow == nil {
			return errors.New("nil channel policy")
		}
		h.allowChannel = allow
		return nil
	}
}

// New returns the request-otp and verify-otp handlers over svc, answering
// and logging as the shared settings web say (problem base, integration,
// audit log, body limit). It checks the whole configuration and returns
// every problem it finds (nil settings, a nil service, an invalid option),
// joined, each wrapping middleware.ErrInvalidConfig.
func New(web *middleware.HTTP, svc *otpcode.Service, opts ...Option) (*Handlers, error) {
	var errs []error
	if web == nil || web.BodyLimit() == 0 {
		errs = append(errs, errors.New("nil HTTP settings (build them with middleware.NewHTTP)"))
	}
	if svc == nil {
		errs = append(errs, errors.New("nil OTP service"))
	}
	h := &Handlers{svc: svc, web: web, log: slog.New(slog.DiscardHandler)}
	if web != nil {
		h.bodyLimit = web.BodyLimit()
		h.web = web
		if l := web.Logger(); l != nil {
			h.log = l
		}
	}
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("nil option"))
			continue
		}
		if err := o(h); err != nil {
			errs = append(errs, err)
		}
	}
	if h.wire == nil {
		h.wire = Zupy()
	}
	if svc != nil {
		c, err := h.wire.bind(svc)
		if err != nil {
			errs = append(errs, err)
		}
		h.contract = c
	}
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("otphttp: new: %w: %w", middleware.ErrInvalidConfig, err)
		}
		return nil, errors.Join(errs...)
	}
	h.request = http.HandlerFunc(h.serveRequest)
	h.verify = http.HandlerFunc(h.serveVerify)
	h.revoke = http.HandlerFunc(h.serveRevoke)
	return h, nil
}

// RequestOTP returns the request-otp handler: it validates the identifier,
// applies the limits and sends a code.
func (h *Handlers) RequestOTP() http.Handler { return h.request }

// VerifyOTP returns the verify-otp handler: it checks a code and returns an
// otp_session token with the customer's profile.
func (h *Handlers) VerifyOTP() http.Handler { return h.verify }

// RevokeOTP returns the revoke-otp-session handler, usually mounted at
// POST /api/v2/auth/revoke-otp-session/: a partner ends a session it holds
// by sending it in X-OTP-Session (no body needed). It answers 200
// {"data":{"revoked":true},"meta":{}} when the session was the calling
// integration's and is now ended, and {"revoked":false} for anything else
// — another integration's token, an expired, malformed or unknown one — so
// that tokens cannot be probed. A request without the header is a 400.
func (h *Handlers) RevokeOTP() http.Handler { return h.revoke }

func (h *Handlers) serveRevoke(w http.ResponseWriter, r *http.Request) {
	const event = "otp.revoke"
	// Revocation has one wire format, Zupy's, whatever the contract.
	x := &zupyExchange{h: h, w: w, r: r}
	integration, ok := h.caller(x, r)
	if !ok {
		return
	}
	vals := r.Header[http.CanonicalHeaderKey(middleware.SessionHeader)]
	if len(vals) == 0 || vals[0] == "" {
		h.fail(x, r, event, integration, &problemError{p: fieldProblem(middleware.SessionHeader, "required", "the X-OTP-Session header names the session to revoke")})
		return
	}
	revoked := false
	if token := vals[0]; len(vals) == 1 && len(token) <= middleware.MaxSessionTokenLen {
		var err error
		if revoked, err = h.svc.RevokeOwned(r.Context(), integration, token); err != nil {
			h.fail(x, r, event, integration, err)
			return
		}
	}
	h.writeData(w, map[string]bool{"revoked": revoked})
	h.log.LogAttrs(r.Context(), slog.LevelInfo, event,
		slog.String("integration", integration),
		slog.Bool("revoked", revoked),
	)
}

func (h *Handlers) serveRequest(w http.ResponseWriter, r *http.Request) {
	const event = "otp.request"
	x := h.contract.open(h, w, r)
	integration, ok := h.caller(x, r)
	if !ok {
		return
	}
	in, err := x.decodeRequest()
	if err != nil {
		h.fail(x, r, event, integration, err)
		return
	}
	in.Integration = integration
	if allow := h.allowChannel; allow != nil {
		asked := in.Allow // the contract's, such as PayU's otp[channels]
		in.Allow = func(ch otpcode.Channel) bool { return (asked == nil || asked(ch)) && allow(integration, ch) }
	}
	res, err := h.svc.Request(r.Context(), in)
	if err != nil {
		h.fail(x, r, event, integration, err)
		return
	}
	x.requested(res)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, event,
		slog.String("integration", integration),
		slog.String("outcome", "sent"),
		slog.String("channel", string(res.Channel)),
	)
}

func (h *Handlers) serveVerify(w http.ResponseWriter, r *http.Request) {
	const event = "otp.verify"
	x := h.contract.open(h, w, r)
	integration, ok := h.caller(x, r)
	if !ok {
		return
	}
	in, err := x.decodeVerify()
	if err != nil {
		h.fail(x, r, event, integration, err)
		return
	}
	in.Integration = integration
	res, err := h.svc.Verify(r.Context(), in)
	if err != nil {
		h.fail(x, r, event, integration, err)
		return
	}
	if err := x.verified(res); err != nil {
		// A Profile value that cannot be encoded is a host bug. The client
		// gets a 503 and the session it never saw is revoked.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		if _, rerr := h.svc.Revoke(rctx, res.Session); rerr != nil {
			err = errors.Join(err, rerr)
		}
		cancel()
		h.fail(x, r, event, integration, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, event,
		slog.String("integration", integration),
		slog.String("outcome", "verified"),
		slog.String("customer_id", res.Customer.ID),
		slog.Bool("is_new", res.Customer.IsNew),
	)
}

// caller checks the method and returns the calling integration. When it
// refuses the request it has answered it through x.
func (h *Handlers) caller(x exchange, r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		x.failed(errMethodNotAllowed)
		return "", false
	}
	integration, ok := h.web.Integration(r)
	if !ok || integration == "" {
		x.failed(errNoIntegration)
		return "", false
	}
	return integration, true
}

// fail answers err, a refusal of the request or an error of the service,
// through x, and audits it under event (see auditErr).
func (h *Handlers) fail(x exchange, r *http.Request, event, integration string, err error) {
	status := x.failed(err)
	h.auditErr(r.Context(), event, integration, zupyProblem(err).Type, status, err)
}

// readBody reads the request's body, at most the body limit.
func (h *Handlers) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, h.bodyLimit))
}

// decodeJSON reads exactly one JSON object into dst, or returns the
// *problemError that says why it cannot.
func (h *Handlers) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &problemError{p: middleware.Problem{
			Type:   middleware.TypeUnsupportedMediaType,
			Title:  "Unsupported Media Type",
			Status: http.StatusUnsupportedMediaType,
			Detail: "the body must be application/json",
		}}
	}
	body, err := h.readBody(w, r)
	if err == nil {
		err = strictJSON(body, dst)
	}
	if err != nil {
		return &problemError{p: h.decodeProblem(err)}
	}
	return nil
}

// strictJSON decodes body, exactly one JSON object, into dst (a pointer to
// a struct): a member that is repeated or not exactly the JSON name of a
// field of dst is a *memberError, anything after the object
// errTrailingData.
func strictJSON(body []byte, dst any) error {
	err := checkMembers(body, dst)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err == nil {
		err = dec.Decode(dst)
	}
	if err == nil {
		// Anything but the end of the body after the object is an error.
		var extra json.RawMessage
		if terr := dec.Decode(&extra); !errors.Is(terr, io.EOF) {
			err = errTrailingData
		}
	}
	return err
}

var errTrailingData = errors.New("trailing data")

// memberError is a top-level member of a request body that encoding/json
// would accept but the handlers refuse: a repeated name (encoding/json keeps
// the last value), or a name that differs only in case from a field
// (encoding/json matches names case-insensitively). Either would let a body
// mean one thing to a gateway or WAF in front and another to us.
type memberError struct {
	name string
	code string // "duplicate" or "unknown_field"
}

func (e *memberError) Error() string { return "member " + e.name + ": " + e.code }

// checkMembers returns a *memberError for the first top-level member of
// body that is repeated or not exactly the JSON name of a field of dst (a
// pointer to a struct). A body that is not a JSON object is left for the
// decoder to report.
func checkMembers(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	names := jsonNames(dst)
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		switch {
		case seen[name]:
			return &memberError{name: name, code: "duplicate"}
		case !slices.Contains(names, name):
			return &memberError{name: name, code: "unknown_field"}
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// jsonNames returns the JSON names of the fields of the struct dst points
// to. The names of the two request bodies are worked out once.
func jsonNames(dst any) []string {
	switch dst.(type) {
	case *requestBody:
		return requestBodyNames
	case *verifyBody:
		return verifyBodyNames
	}
	return fieldNames(reflect.TypeOf(dst).Elem())
}

var (
	requestBodyNames = fieldNames(reflect.TypeFor[requestBody]())
	verifyBodyNames  = fieldNames(reflect.TypeFor[verifyBody]())
)

func fieldNames(t reflect.Type) []string {
	names := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

func (h *Handlers) decodeProblem(err error) middleware.Problem {
	var (
		mbe *http.MaxBytesError
		ute *json.UnmarshalTypeError
		se  *json.SyntaxError
		me  *memberError
	)
	switch {
	case errors.As(err, &mbe):
		return middleware.Problem{
			Type:   middleware.TypePayloadTooLarge,
			Title:  "Payload Too Large",
			Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body must be at most %d bytes", h.bodyLimit),
		}
	case errors.Is(err, io.EOF):
		return fieldProblem("body", "required", "the body must be a JSON object")
	case errors.As(err, &me):
		if !validFieldName(me.name) {
			return fieldProblem("body", me.code, "the body has a repeated or unknown member")
		}
		if me.code == "duplicate" {
			return fieldProblem(me.name, "duplicate", me.name+" appears more than once")
		}
		return fieldProblem(me.name, "unknown_field", me.name+" is not a known field (names are case-sensitive)")
	case errors.Is(err, errTrailingData):
		return fieldProblem("body", "invalid_format", "the body must hold exactly one JSON object")
	case errors.As(err, &ute):
		if ute.Field == "" || !validFieldName(ute.Field) {
			return fieldProblem("body", "invalid_format", "the body must be a JSON object")
		}
		return fieldProblem(ute.Field, "invalid_type", ute.Field+" must be a string")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldProblem("body", "invalid_format", "the body is not valid JSON")
	}
	// A body that could not be read (the client went away, a broken
	// chunked encoding) is the client's problem, not ours.
	return fieldProblem("body", "invalid_format", "the body could not be read")
}

func fieldProblem(field, code, msg string) middleware.Problem {
	return middleware.Problem{
		Type:     middleware.TypeValidation,
		Title:    "Validation Error",
		Status:   http.StatusBadRequest,
		Detail:   msg,
		Errors:   map[string][]string{field: {code}},
		Messages: map[string]string{field: msg},
	}
}

// checkOptional validates the optional identifier type, purpose and
// locale.
func (h *Handlers) checkOptional(identifierType, purpose, locale string) (otpcode.Kind, middleware.Problem, bool) {
	var kind otpcode.Kind
	if identifierType != "" {
		k, err := otpcode.ParseKind(identifierType)
		if err != nil {
			return 0, fieldProblem("identifier_type", "invalid_format", `identifier_type must be "phone", "email" or "cpf"`), false
		}
		kind = k
	}
	if len(purpose) > maxPurposeLen || !isToken(purpose, "_.:-") {
		return 0, fieldProblem("purpose", "invalid_format",
			fmt.Sprintf("purpose must be at most %d letters, digits or _ . : -", maxPurposeLen)), false
	}
	if len(locale) > maxLocaleLen || !isToken(locale, "-_") {
		return 0, fieldProblem("locale", "invalid_format", "locale must be a language tag such as pt-BR"), false
	}
	return kind, middleware.Problem{}, true
}

// parseScope splits a space-separated scope into distinct names.
func (h *Handlers) parseScope(scope string) ([]string, middleware.Problem, bool) {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return nil, middleware.Problem{}, true
	}
	if len(fields) > maxScopes {
		return nil, fieldProblem("scope", "invalid_format", fmt.Sprintf("scope may name at most %d actions", maxScopes)), false
	}
	out := make([]string, 0, len(fields))
	seen := make(map[string]bool, len(fields))
	for _, s := range fields {
		if !validScope(s) {
			return nil, fieldProblem("scope", "invalid_format", "scope must be action names separated by spaces"), false
		}
		if h.scopeAllowed != nil && !h.scopeAllowed(s) {
			return nil, fieldProblem("scope", "not_permitted", "scope names an action that cannot be scoped"), false
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, middleware.Problem{}, true
}

// validScope reports whether s is an OAuth 2.0 scope token (RFC 6749,
// section 3.3) of at most maxScopeLen bytes.
func validScope(s string) bool {
	if s == "" || len(s) > maxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func validFieldName(s string) bool {
	return s != "" && len(s) <= 64 && isToken(s, "_.")
}

// isToken reports whether s holds only ASCII letters, digits and the bytes
// in extra.
func isToken(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// serviceProblem maps an error of otpcode.Service to its problem. Any error
// it does not recognise is a system failure: 503, with a fixed detail.
func serviceProblem(err error) middleware.Problem {
	var (
		le *otpcode.LimitError
		fe *otpcode.FieldError
	)
	switch {
	case errors.As(err, &le):
		return limitProblem(le)
	case errors.As(err, &fe):
		return fieldProblem(fe.Field, fe.Code, fe.Message)
	case errors.Is(err, otpcode.ErrChannelNotPermitted):
		return fieldProblem("channel", "not_permitted", "no permitted channel reaches this customer")
	case errors.Is(err, otpcode.ErrInvalidInput):
		return fieldProblem("body", "invalid_format", "the request is not valid")
	case errors.Is(err, otpcode.ErrInvalidCode):
		return middleware.Problem{Type: middleware.TypeAuthenticationNeeded, Title: "Authentication Required", Status: http.StatusUnauthorized,
			Detail: "invalid OTP code"}
	case errors.Is(err, otpcode.ErrExpired):
		return middleware.Problem{Type: middleware.TypeAuthenticationNeeded, Title: "Authentication Required", Status: http.StatusUnauthorized,
			Detail: "the OTP code has expired; request a new one"}
	case errors.Is(err, otpcode.ErrNotRequested):
		return middleware.Problem{Type: middleware.TypeNotFound, Title: "Not Found", Status: http.StatusNotFound,
			Detail: "OTP was not requested for this identifier"}
	case errors.Is(err, otpcode.ErrUnknownCustomer):
		return middleware.Problem{Type: middleware.TypeNotFound, Title: "Not Found", Status: http.StatusNotFound,
			Detail: "no customer found for this identifier"}
	case errors.Is(err, otpcode.ErrDelivery):
		return middleware.Problem{Type: middleware.TypeDeliveryFailed, Title: "Delivery Failed", Status: http.StatusBadGateway,
			Detail: "the code could not be delivered on any channel"}
	}
	return middleware.Problem{Type: middleware.TypeServiceUnavailable, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
		Detail: "the service is temporarily unavailable; try again later"}
}

func limitProblem(le *otpcode.LimitError) middleware.Problem {
	p := middleware.Problem{
		Type:       middleware.TypeRateLimited,
		Title:      "Rate Limit Exceeded",
		Status:     http.StatusTooManyRequests,
		RetryAfter: ceilSeconds(le.RetryAfter),
	}
	switch {
	case errors.Is(le, otpcode.ErrLocked):
		p.LockDuration = ceilSeconds(le.LockDuration)
		switch le.Scope {
		case store.ScopeCustomer:
			p.Detail = "too many wrong codes for this customer: it is locked for every integration"
		case store.ScopeIntegration:
			p.Detail = "too many wrong codes from this integration: its OTP requests are suspended"
		default:
			p.Detail = "too many wrong codes: this customer is locked for this integration"
		}
	case errors.Is(le, otpcode.ErrTooManyAttempts):
		p.Detail = "maximum verification attempts reached; request a new code"
	case errors.Is(le, otpcode.ErrCooldown):
		p.Detail = "a code was sent recently; wait before requesting another"
	case errors.Is(le, otpcode.ErrSendLimit):
		switch le.Scope {
		case store.ScopeCustomer:
			p.Detail = "too many codes were sent to this customer"
		case store.ScopeIntegration:
			p.Detail = "this integration has sent all the codes its quota allows"
		default:
			p.Detail = "too many codes were sent to this customer by this integration"
		}
	case errors.Is(le, otpcode.ErrRateLimited):
		p.Detail = "too many requests from this integration"
	default:
		p.Detail = "rate limit exceeded"
	}
	return p
}

// ceilSeconds returns d in whole seconds rounded up, at least 1, so that a
// client honouring Retry-After never retries too early.
func ceilSeconds(d time.Duration) int64 {
	if d <= time.Second {
		return 1
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// seconds returns d in whole seconds rounded down: a lifetime is never
// overstated.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Floor(d.Seconds()))
}

func (h *Handlers) problem(w http.ResponseWriter, p middleware.Problem) {
	h.web.WriteProblem(w, p)
}

func (h *Handlers) writeData(w http.ResponseWriter, data any) {
	if err := h.writeDataChecked(w, data); err != nil {
		h.problem(w, serviceProblem(err))
	}
}

// writeDataChecked encodes the envelope before writing anything, so that an
// encoding failure can still be answered with a problem.
func (h *Handlers) writeDataChecked(w http.ResponseWriter, data any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(envelope{Data: data}); err != nil {
		return fmt.Errorf("otphttp: encode response: %w", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// auditErr logs a refused request under msg: outcome is the refusal's
// problem type (the same whatever the contract), status the status the
// client got. Failures on our side (5xx) are logged at level Error with
// their error, which never holds a code or a token; client mistakes and
// limits at level Warn without it. Once the service knew the customer (a
// wrong or expired code, a lock, a limit), the line carries customer_ref,
// the customer's pseudonymous reference (otpcode.CustomerRef), the same as
// telemetry events carry.
func (h *Handlers) auditErr(ctx context.Context, msg, integration, outcome string, status int, err error) {
	level := slog.LevelWarn
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs,
		slog.String("integration", integration),
		slog.String("outcome", outcome),
		slog.Int("status", status),
	)
	if ref := otpcode.CustomerRef(err); ref != "" {
		attrs = append(attrs, slog.String("customer_ref", ref))
	}
	if level == slog.LevelError {
		attrs = append(attrs, slog.Any("error", err))
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
}
