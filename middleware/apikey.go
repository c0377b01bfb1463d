package middleware

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// DefaultAPIKeyHeader is the header APIKeys reads the API key from unless
// WithAPIKeyHeader names another.
const DefaultAPIKeyHeader = "X-API-Key"

// MinAPIKeyLen is the shortest API key APIKeys accepts in its configuration.
const MinAPIKeyLen = 16

// MaxAPIKeyLen is the longest API key APIKeys accepts, in its configuration
// and in a request; a longer header is refused without being hashed.
const MaxAPIKeyLen = 512

// Reasons APIKeys refuses a request, handed to the WithUnauthorizedHandler
// hook and matched with errors.Is.
var (
	// ErrNoKey: the request carries no API key.
	ErrNoKey = errors.New("middleware: no API key")
	// ErrUnknownKey: the request's key is not one of the configured keys,
	// or the request carries more than one key (a repeated header, or a key
	// header and a bearer credential that differ), or a malformed bearer
	// credential.
	ErrUnknownKey = errors.New("middleware: unknown API key")
	// ErrMissingScope: the key is valid but lacks the scope the route
	// requires (APIKeyAuth.Require). The error handed to the hook wraps it
	// and names the scope.
	ErrMissingScope = errors.New("middleware: API key lacks the required scope")
)

// APIKey is one partner credential that APIKeys accepts.
type APIKey struct {
	// Key is the secret the partner sends: MinAPIKeyLen to MaxAPIKeyLen
	// printable ASCII characters without spaces. APIKeys keeps only its
	// SHA-256 digest.
	Key string
	// Integration is the ID of the integration the key belongs to. Several
	// keys may belong to one integration, for rotation.
	Integration string
	// Scopes are the scopes the key has: it passes the routes that require
	// one of them (APIKeyAuth.Require) and the routes that require none.
	// Each is an RFC 6749 scope token (printable ASCII without spaces, '"'
	// or '\'). Empty: every scope.
	Scopes []string
}

// APIKeySet is the key configuration APIKeys accepts: a map from each key
// to its integration, whose keys have every scope, or a list of APIKey.
type APIKeySet interface {
	map[string]string | []APIKey
}

// APIKeyOption configures APIKeys.
type APIKeyOption func(*apiKeyConfig) error

type apiKeyConfig struct {
	header       string // as configured, for the problem's detail
	bearer       bool
	unauthorized func(http.ResponseWriter, *http.Request, error)
}

// WithAPIKeyHeader sets the request header APIKeys reads the key from.
// Default: DefaultAPIKeyHeader ("X-API-Key"). The 401 response's detail
// names the header.
func WithAPIKeyHeader(name string) APIKeyOption {
	return func(c *apiKeyConfig) error {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return !isTokenChar(r) }) {
			return fmt.Errorf("API key header %q is not a valid header name", name)
		}
		c.header = name
		return nil
	}
}

// WithBearer makes APIKeys also accept the key as a bearer credential,
// "Authorization: Bearer <key>" (RFC 6750; the scheme is case-insensitive),
// as PayU-style partner APIs send it. A request may carry the key in
// either header, or in both when they agree; two different keys are
// refused with ErrUnknownKey, as is a repeated Authorization header. An
// Authorization header of another scheme is ignored. The default refusal
// then also carries a WWW-Authenticate: Bearer challenge. Default: off,
// only the key header counts. It cannot be combined with
// WithAPIKeyHeader("Authorization").
func WithBearer() APIKeyOption {
	return func(c *apiKeyConfig) error {
		c.bearer = true
		return nil
	}
}

// WithUnauthorizedHandler sets the hook that answers a request APIKeys
// refuses; reason wraps ErrNoKey, ErrUnknownKey or ErrMissingScope, and
// never contains the presented key. Use it when a partner contract wants
// another body, such as PayU's 401 {"status":"Unauthorized"}. Default: 401
// authentication-required problem details under the problem base, whose
// detail names the key header (or the missing scope), and, with
// WithBearer, a WWW-Authenticate challenge. Security: the request has
// already been refused; the hook cannot reach the protected handler, and
// should answer 401 and not say which keys exist.
func WithUnauthorizedHandler(f func(w http.ResponseWriter, r *http.Request, reason error)) APIKeyOption {
	return func(c *apiKeyConfig) error {
		if f == nil {
			return errors.New("nil unauthorized handler")
		}
		c.unauthorized = f
		return nil
	}
}

// apiKeyEntry is one configured key, held only as its SHA-256 digest.
type apiKeyEntry struct {
	digest [sha256.Size]byte
	// integration is the integration ID, a string boxed once at set-up so
	// that putting it in a request's context does not allocate.
	integration any
	// scopes are the key's scopes; nil for every scope.
	scopes []string
}

// has reports whether e has scope.
func (e apiKeyEntry) has(scope string) bool {
	return e.scopes == nil || slices.Contains(e.scopes, scope)
}

// apiKeys authenticates requests by API key.
type apiKeys struct {
	web    *HTTP
	header string // canonical
	bearer bool
	keys   map[[sha256.Size]byte]apiKeyEntry
	// unauthorized is the hook; nil for the default answers below.
	unauthorized func(http.ResponseWriter, *http.Request, error)
	denied       encodedProblem // no key or an unknown key
	// challenge and badChallenge are the WWW-Authenticate values of the
	// default answers with WithBearer, nil without.
	challenge, badChallenge []string
}

// APIKeyAuth is the partner authentication APIKeys returns. Used as
// middleware (called with the next handler) it accepts any configured key
// whatever its scopes; Require returns middleware that accepts only keys
// with a given scope. Either way the next handler runs with the key's
// integration in its context (see IntegrationFrom). It is safe for
// concurrent use.
type APIKeyAuth func(http.Handler) http.Handler

// Require returns middleware that accepts only keys that have scope (keys
// configured without scopes have every scope); a valid key without it is
// refused with 401 and ErrMissingScope. The route's scope is fixed at
// set-up: Require panics when scope is not an RFC 6749 scope token, as
// when it wraps a nil handler.
func (a APIKeyAuth) Require(scope string) func(http.Handler) http.Handler {
	if err := checkScope(scope); err != nil {
		panic("middleware: api keys: require: " + err.Error())
	}
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("middleware: api keys: nil handler")
		}
		// a is APIKeys' middleware, which recognises the gate and checks
		// the scope itself; the gate never serves a request through it.
		return a(&scopeGate{scope: scope, next: next})
	}
}

// scopeGate carries a route's scope from Require to APIKeys' middleware,
// which unwraps it.
type scopeGate struct {
	scope string
	next  http.Handler
}

// ServeHTTP runs only when an APIKeyAuth that APIKeys did not build wraps
// the gate: the scope cannot be checked, so the request is refused (fail
// closed).
func (g *scopeGate) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// APIKeys returns partner authentication by API key. keys lists the keys,
// each with the ID of the integration it belongs to (several keys may
// belong to one integration, for rotation) and, in the []APIKey form, the
// scopes it is limited to:
//
//	auth, err := middleware.APIKeys(web, []middleware.APIKey{
//		{Key: os.Getenv("GOOMER_API_KEY"), Integration: "goomer", Scopes: []string{"otp"}},
//		{Key: os.Getenv("SAIPOS_API_KEY"), Integration: "saipos"}, // every scope
//	}, middleware.WithBearer())
//	mux.Handle("/otp/", auth.Require("otp")(otpHandlers))
//	mux.Handle("/customers/", auth(customerHandlers)) // any scope
//
// A map[string]string from key to integration configures keys with every
// scope.
//
// Each request's key is read from its X-API-Key header (or the one
// WithAPIKeyHeader names) and, with WithBearer, from its Authorization:
// Bearer credential. On success the next handler runs with the integration
// in its context (see IntegrationFrom), where the guard finds it. A
// missing, repeated or unknown key, or a key without the route's scope, is
// answered with 401 authentication-required, under the problem base of web
// (or by the WithUnauthorizedHandler hook), and the next handler is not
// called.
//
// The keys are kept only as SHA-256 digests; a presented key is hashed and
// its digest compared in constant time, so neither the map lookup nor the
// comparison leaks the keys' contents through timing.
//
// keys must not be empty; every key must be MinAPIKeyLen to MaxAPIKeyLen
// printable ASCII characters without spaces and appear once, every
// integration ID must be non-empty, and every scope a scope token.
// Otherwise APIKeys returns every problem, joined, each wrapping
// ErrInvalidConfig (the errors never contain a key). keys is copied; later
// changes to it have no effect.
func APIKeys[K APIKeySet](web *HTTP, keys K, opts ...APIKeyOption) (APIKeyAuth, error) {
	cfg := apiKeyConfig{header: DefaultAPIKeyHeader}
	var errs []error
	if err := checkHTTP(web); err != nil {
		errs = append(errs, err)
	}
	for _, opt := range opts {
		if opt == nil {
			errs = append(errs, errors.New("nil option"))
			continue
		}
		if err := opt(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	header := http.CanonicalHeaderKey(cfg.header)
	if cfg.bearer && header == "Authorization" {
		errs = append(errs, errors.New(`WithBearer reads the Authorization header; the key header must be another`))
	}
	var list []APIKey
	switch k := any(keys).(type) {
	case map[string]string:
		list = make([]APIKey, 0, len(k))
		for key, integration := range k {
			list = append(list, APIKey{Key: key, Integration: integration})
		}
	case []APIKey:
		list = k
	}
	if len(list) == 0 {
		errs = append(errs, errors.New("no API keys"))
	}
	a := &apiKeys{web: web, header: header, bearer: cfg.bearer, unauthorized: cfg.unauthorized,
		keys: make(map[[sha256.Size]byte]apiKeyEntry, len(list))}
	var keyErrs []error
	for _, k := range list {
		if err := checkAPIKey(k.Key, k.Integration); err != nil {
			keyErrs = append(keyErrs, err)
			continue
		}
		e := apiKeyEntry{digest: sha256.Sum256([]byte(k.Key)), integration: k.Integration}
		if len(k.Scopes) > 0 {
			e.scopes = slices.Clone(k.Scopes)
		}
		for _, s := range e.scopes {
			if err := checkScope(s); err != nil {
				keyErrs = append(keyErrs, fmt.Errorf("an API key of integration %q: %w", k.Integration, err))
			}
		}
		if prev, dup := a.keys[e.digest]; dup {
			if prev.integration == any(k.Integration) {
				keyErrs = append(keyErrs, fmt.Errorf("an API key of integration %q appears twice", k.Integration))
			} else {
				keyErrs = append(keyErrs, fmt.Errorf("an API key of integration %q is also a key of integration %q", k.Integration, prev.integration))
			}
			continue
		}
		a.keys[e.digest] = e
	}
	if _, isMap := any(keys).(map[string]string); isMap {
		// Map order is random; sort so the errors read the same every time.
		slices.SortFunc(keyErrs, func(x, y error) int { return cmp.Compare(x.Error(), y.Error()) })
	}
	errs = append(errs, keyErrs...)
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("middleware: api keys: %w: %w", ErrInvalidConfig, err)
		}
		return nil, errors.Join(errs...)
	}
	p := authRequiredProblem
	p.Detail = "a valid " + cfg.header + " header is required"
	if cfg.bearer {
		p.Detail = "a valid " + cfg.header + " header or Authorization: Bearer credential is required"
		a.challenge = []string{"Bearer"}
		a.badChallenge = []string{`Bearer error="invalid_token"`}
	}
	a.denied = web.encodeProblem(p)
	return a.middleware, nil
}

// checkAPIKey validates one configured key without ever putting the key in
// the error.
func checkAPIKey(key, integration string) error {
	switch {
	case strings.TrimSpace(integration) == "":
		return errors.New("an API key maps to an empty integration ID")
	case len(key) < MinAPIKeyLen:
		return fmt.Errorf("an API key of integration %q is shorter than %d characters", integration, MinAPIKeyLen)
	case len(key) > MaxAPIKeyLen:
		return fmt.Errorf("an API key of integration %q is longer than %d characters", integration, MaxAPIKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return fmt.Errorf("an API key of integration %q has a character other than printable ASCII", integration)
		}
	}
	return nil
}

// checkScope reports whether s is an RFC 6749 scope token: one or more
// printable ASCII characters other than space, '"' and '\'.
func checkScope(s string) error {
	if s == "" {
		return errors.New("empty scope")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return fmt.Errorf("scope %q is not a scope token", s)
		}
	}
	return nil
}

// middleware is the APIKeyAuth: it wraps next, or the handler of a
// Require gate with that gate's scope.
func (a *apiKeys) middleware(next http.Handler) http.Handler {
	if next == nil {
		panic("middleware: api keys: nil handler")
	}
	h := &keyAuthenticated{keys: a, next: next}
	if g, ok := next.(*scopeGate); ok {
		h.next, h.scope = g.next, g.scope
		h.missing = fmt.Errorf("%w %q", ErrMissingScope, g.scope)
		p := authRequiredProblem
		p.Detail = fmt.Sprintf("the API key lacks the scope %q", g.scope)
		h.missingProblem = a.web.encodeProblem(p)
		if a.bearer {
			h.missingChallenge = []string{fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, g.scope)}
		}
	}
	return h
}

// keyAuthenticated is a handler behind APIKeys.
type keyAuthenticated struct {
	keys  *apiKeys
	next  http.Handler
	scope string // "" for any scope
	// missing, missingProblem and missingChallenge answer a key without
	// scope.
	missing          error
	missingProblem   encodedProblem
	missingChallenge []string
}

func (h *keyAuthenticated) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, reason := h.keys.identify(r)
	if reason == nil && h.scope != "" && !e.has(h.scope) {
		reason = h.missing
	}
	if reason == nil {
		// The same context value WithIntegration stores.
		h.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), integrationKey, e.integration)))
		return
	}
	a := h.keys
	switch {
	case a.unauthorized != nil:
		a.unauthorized(w, r, reason)
	case reason == h.missing:
		if h.missingChallenge != nil {
			w.Header()["Www-Authenticate"] = h.missingChallenge
		}
		h.missingProblem.write(w)
	default:
		if reason == ErrUnknownKey && a.badChallenge != nil {
			w.Header()["Www-Authenticate"] = a.badChallenge
		} else if a.challenge != nil {
			w.Header()["Www-Authenticate"] = a.challenge
		}
		a.denied.write(w)
	}
}

// identify returns the entry of the request's API key, or ErrNoKey or
// ErrUnknownKey.
func (a *apiKeys) identify(r *http.Request) (apiKeyEntry, error) {
	key, err := a.presented(r)
	if err != nil {
		return apiKeyEntry{}, err
	}
	if len(key) < MinAPIKeyLen || len(key) > MaxAPIKeyLen {
		return apiKeyEntry{}, ErrUnknownKey
	}
	d := sha256Sum(key)
	e, found := a.keys[d]
	// Compare even on a miss (against the zero entry), so both outcomes
	// take the same path.
	eq := subtle.ConstantTimeCompare(e.digest[:], d[:]) == 1
	if !found || !eq {
		return apiKeyEntry{}, ErrUnknownKey
	}
	return e, nil
}

// presented returns the one key the request carries: in the key header,
// or, with WithBearer, as a bearer credential, or in both when they agree.
func (a *apiKeys) presented(r *http.Request) (string, error) {
	var key string
	switch vals := r.Header[a.header]; len(vals) {
	case 0:
	case 1:
		key = vals[0]
	default:
		return "", ErrUnknownKey
	}
	if !a.bearer {
		if key == "" {
			return "", ErrNoKey
		}
		return key, nil
	}
	switch vals := r.Header["Authorization"]; len(vals) {
	case 0:
	case 1:
		token, ok := bearerToken(vals[0])
		switch {
		case !ok: // another scheme: not an API key
		case token == "", key != "" && key != token:
			return "", ErrUnknownKey
		default:
			key = token
		}
	default:
		return "", ErrUnknownKey
	}
	if key == "" {
		return "", ErrNoKey
	}
	return key, nil
}

// bearerToken returns the token of an Authorization header value of the
// Bearer scheme, and whether the value is of that scheme.
func bearerToken(v string) (token string, ok bool) {
	const scheme = "Bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest != "" && rest[0] != ' ' {
		return "", false // another scheme, such as "Bearerx"
	}
	return strings.Trim(rest, " "), true
}

// AuthFunc returns middleware for hosts with their own authentication:
// identify returns the authenticated integration of a request, and on
// success the next handler runs with it in its context (see
// IntegrationFrom), as with APIKeys. When identify reports false or returns
// "", the request is answered with 401 authentication-required under the
// problem base of web and the next handler is not called. A nil web or
// identify is an error wrapping ErrInvalidConfig.
func AuthFunc(web *HTTP, identify func(*http.Request) (integration string, ok bool)) (func(http.Handler) http.Handler, error) {
	var err error
	if e := checkHTTP(web); e != nil {
		err = configError("auth func", e.Error())
	}
	if identify == nil {
		err = errors.Join(err, configError("auth func", "nil identify function"))
	}
	if err != nil {
		return nil, err
	}
	return authMiddleware(func(r *http.Request) (any, bool) {
		id, ok := identify(r)
		if !ok || id == "" {
			return nil, false
		}
		return id, true
	}, web.encodeProblem(authRequiredProblem)), nil
}

// authMiddleware builds the middleware of AuthFunc. identify returns the
// request's integration ID as a non-empty string in an interface.
func authMiddleware(identify func(*http.Request) (any, bool), p encodedProblem) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("middleware: authentication: nil handler")
		}
		return &authenticated{identify: identify, problem: p, next: next}
	}
}

// authenticated is a handler behind AuthFunc.
type authenticated struct {
	identify func(*http.Request) (any, bool)
	problem  encodedProblem
	next     http.Handler
}

func (h *authenticated) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	integration, ok := h.identify(r)
	if !ok {
		h.problem.write(w)
		return
	}
	// The same context value WithIntegration stores.
	h.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), integrationKey, integration)))
}

// isTokenChar reports whether r may appear in an HTTP header name (an RFC
// 9110 token).
func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
