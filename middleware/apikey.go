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

// APIKeyOption configures APIKeys.
type APIKeyOption func(*apiKeyConfig) error

type apiKeyConfig struct {
	header string // as configured, for the problem's detail
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

// apiKeyEntry is one configured key, held only as its SHA-256 digest.
type apiKeyEntry struct {
	digest [sha256.Size]byte
	// integration is the integration ID, a string boxed once at set-up so
	// that putting it in a request's context does not allocate.
	integration any
}

// apiKeys authenticates requests by API key.
type apiKeys struct {
	header string
	keys   map[[sha256.Size]byte]apiKeyEntry
}

// APIKeys returns middleware that authenticates each request by its
// X-API-Key header (or the one WithAPIKeyHeader names): keys maps each API
// key to the ID of the integration it belongs to (several keys may map to
// one integration, for rotation). On success the next handler runs with the
// integration in its context (see IntegrationFrom), where the guard finds
// it. A missing, repeated or unknown key is answered with 401
// authentication-required, under the problem base of web, and the next
// handler is not called.
//
// The keys are kept only as SHA-256 digests; a presented key is hashed and
// its digest compared in constant time, so neither the map lookup nor the
// comparison leaks the keys' contents through timing.
//
// keys must not be empty; every key must be MinAPIKeyLen to MaxAPIKeyLen
// printable ASCII characters without spaces, and every integration ID
// non-empty. Otherwise APIKeys returns an error wrapping ErrInvalidConfig
// (which never contains a key). The map is copied; later changes to it have
// no effect. The middleware is safe for concurrent use.
func APIKeys(web *HTTP, keys map[string]string, opts ...APIKeyOption) (func(http.Handler) http.Handler, error) {
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
	if len(keys) == 0 {
		errs = append(errs, errors.New("no API keys"))
	}
	a := &apiKeys{header: http.CanonicalHeaderKey(cfg.header), keys: make(map[[sha256.Size]byte]apiKeyEntry, len(keys))}
	var keyErrs []error
	for key, integration := range keys {
		if err := checkAPIKey(key, integration); err != nil {
			keyErrs = append(keyErrs, err)
			continue
		}
		d := sha256.Sum256([]byte(key))
		a.keys[d] = apiKeyEntry{digest: d, integration: integration}
	}
	// Map order is random; sort so the error reads the same every time.
	slices.SortFunc(keyErrs, func(x, y error) int { return cmp.Compare(x.Error(), y.Error()) })
	errs = append(errs, keyErrs...)
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("middleware: api keys: %w: %w", ErrInvalidConfig, err)
		}
		return nil, errors.Join(errs...)
	}
	p := authRequiredProblem
	p.Detail = "a valid " + cfg.header + " header is required"
	return authMiddleware(a.identify, web.encodeProblem(p)), nil
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

// identify returns the integration of the request's API key, a string.
func (a *apiKeys) identify(r *http.Request) (any, bool) {
	vals := r.Header[a.header]
	if len(vals) != 1 {
		return nil, false
	}
	key := vals[0]
	if len(key) < MinAPIKeyLen || len(key) > MaxAPIKeyLen {
		return nil, false
	}
	d := sha256Sum(key)
	e, found := a.keys[d]
	// Compare even on a miss (against the zero entry), so both outcomes
	// take the same path.
	eq := subtle.ConstantTimeCompare(e.digest[:], d[:]) == 1
	if !found || !eq {
		return nil, false
	}
	return e.integration, true
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

// authMiddleware builds the middleware shared by APIKeys and AuthFunc.
// identify returns the request's integration ID as a non-empty string in an
// interface, so that APIKeys can box its IDs once, at set-up.
func authMiddleware(identify func(*http.Request) (any, bool), p encodedProblem) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("middleware: authentication: nil handler")
		}
		return &authenticated{identify: identify, problem: p, next: next}
	}
}

// authenticated is a handler behind authentication.
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
