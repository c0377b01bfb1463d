package middleware_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/middleware"
)

// gScopedKeys are the keys of the scope tests: Goomer's key may only ask
// for codes, Saipos's has every scope.
func gScopedKeys() []middleware.APIKey {
	return []middleware.APIKey{
		{Key: gKeyGoomer, Integration: gIntA, Scopes: []string{"otp"}},
		{Key: gKeyGoomer2, Integration: gIntA, Scopes: []string{"otp", "customers:read"}},
		{Key: gKeySaipos, Integration: gIntB},
	}
}

// gKeyRequest returns a request with the given headers.
func gKeyRequest(headers map[string][]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/otps/verify_otp", nil)
	for name, vals := range headers {
		for _, v := range vals {
			r.Header.Add(name, v)
		}
	}
	return r
}

func TestAPIKeysBearer(t *testing.T) {
	auth, err := middleware.APIKeys(gWeb(t), gScopedKeys(), middleware.WithBearer())
	require.NoError(t, err)
	plain, err := middleware.APIKeys(gWeb(t), gScopedKeys())
	require.NoError(t, err)
	const detail = "a valid X-API-Key header or Authorization: Bearer credential is required"

	tests := []struct {
		name      string
		headers   map[string][]string
		wantInt   string // "" when refused
		challenge string // the refusal's WWW-Authenticate
	}{
		{"bearer", map[string][]string{"Authorization": {"Bearer " + gKeySaipos}}, gIntB, ""},
		{"lower-case scheme", map[string][]string{"Authorization": {"bearer " + gKeySaipos}}, gIntB, ""},
		{"upper-case scheme, two spaces", map[string][]string{"Authorization": {"BEARER  " + gKeySaipos}}, gIntB, ""},
		{"key header still works", map[string][]string{"X-API-Key": {gKeySaipos}}, gIntB, ""},
		{"both headers, same key", map[string][]string{"X-API-Key": {gKeySaipos}, "Authorization": {"Bearer " + gKeySaipos}}, gIntB, ""},
		{"basic authorization ignored", map[string][]string{"X-API-Key": {gKeySaipos}, "Authorization": {"Basic dXNlcjpwYXNz"}}, gIntB, ""},
		{"both headers, different keys", map[string][]string{"X-API-Key": {gKeySaipos}, "Authorization": {"Bearer " + gKeyGoomer}}, "", `Bearer error="invalid_token"`},
		{"both headers, one unknown", map[string][]string{"X-API-Key": {gKeySaipos}, "Authorization": {"Bearer zupy_pk_unknown_0123456789abcdef"}}, "", `Bearer error="invalid_token"`},
		{"repeated authorization", map[string][]string{"Authorization": {"Bearer " + gKeySaipos, "Bearer " + gKeySaipos}}, "", `Bearer error="invalid_token"`},
		{"unknown bearer", map[string][]string{"Authorization": {"Bearer zupy_pk_unknown_0123456789abcdef"}}, "", `Bearer error="invalid_token"`},
		{"empty bearer", map[string][]string{"Authorization": {"Bearer "}}, "", `Bearer error="invalid_token"`},
		{"scheme only", map[string][]string{"Authorization": {"Bearer"}}, "", `Bearer error="invalid_token"`},
		{"scheme glued to the key", map[string][]string{"Authorization": {"Bearer" + gKeySaipos}}, "", "Bearer"},
		{"basic authorization alone", map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}, "", "Bearer"},
		{"nothing", nil, "", "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			auth(next).ServeHTTP(rec, gKeyRequest(tt.headers))
			if tt.wantInt != "" {
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
				assert.Equal(t, tt.wantInt, next.integration, "got integration %q, want %q", next.integration, tt.wantInt)
				return
			}
			gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required", detail)
			assert.Equal(t, tt.challenge, rec.Header().Get("WWW-Authenticate"))
			assert.False(t, next.called, "next ran without a valid key")
		})
	}

	// Without WithBearer the Authorization header is not read, and the
	// refusal has no challenge.
	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	plain(next).ServeHTTP(rec, gKeyRequest(map[string][]string{"Authorization": {"Bearer " + gKeySaipos}}))
	gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required", "a valid X-API-Key header is required")
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
	assert.False(t, next.called)
}

func TestAPIKeysScopes(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		t.Run(fmt.Sprintf("bearer=%v", bearer), func(t *testing.T) {
			var opts []middleware.APIKeyOption
			if bearer {
				opts = append(opts, middleware.WithBearer())
			}
			auth, err := middleware.APIKeys(gWeb(t), gScopedKeys(), opts...)
			require.NoError(t, err)
			tests := []struct {
				name    string
				mw      func(http.Handler) http.Handler
				scope   string
				key     string
				wantInt string // "" when refused
			}{
				{"any scope, scoped key", auth, "", gKeyGoomer, gIntA},
				{"any scope, key with every scope", auth, "", gKeySaipos, gIntB},
				{"key has the scope", auth.Require("otp"), "otp", gKeyGoomer, gIntA},
				{"key has the scope among others", auth.Require("customers:read"), "customers:read", gKeyGoomer2, gIntA},
				{"key with every scope", auth.Require("admin"), "admin", gKeySaipos, gIntB},
				{"key lacks the scope", auth.Require("customers:read"), "customers:read", gKeyGoomer, ""},
				{"rotated key lacks the scope", auth.Require("admin"), "admin", gKeyGoomer2, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					next := &gNextHandler{}
					r := gKeyRequest(nil)
					if bearer {
						r.Header.Set("Authorization", "Bearer "+tt.key)
					} else {
						r.Header.Set("X-API-Key", tt.key)
					}
					rec := httptest.NewRecorder()
					tt.mw(next).ServeHTTP(rec, r)
					if tt.wantInt != "" {
						assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
						assert.Equal(t, tt.wantInt, next.integration, "got integration %q, want %q", next.integration, tt.wantInt)
						return
					}
					gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required",
						fmt.Sprintf("the API key lacks the scope %q", tt.scope))
					assert.False(t, next.called, "next ran for a key without the scope")
					if bearer {
						assert.Equal(t, fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, tt.scope), rec.Header().Get("WWW-Authenticate"))
					} else {
						assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
					}
				})
			}

			// A route that requires a scope still refuses a missing or unknown
			// key as authentication-required, not as a missing scope.
			rec := httptest.NewRecorder()
			auth.Require("otp")(&gNextHandler{}).ServeHTTP(rec, gKeyRequest(nil))
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.NotContains(t, rec.Body.String(), "lacks the scope")
		})
	}
}

// The map form gives every key every scope.
func TestAPIKeysMapHasEveryScope(t *testing.T) {
	auth, err := middleware.APIKeys(gWeb(t), gTestKeys())
	require.NoError(t, err)
	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	r := gKeyRequest(map[string][]string{"X-API-Key": {gKeyGoomer}})
	auth.Require("anything")(next).ServeHTTP(rec, r)
	assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
	assert.Equal(t, gIntA, next.integration)
}

// The unauthorized hook is told why, and answers as the partner contract
// wants: here PayU's {"status":"Unauthorized"}.
func TestAPIKeysUnauthorizedHandler(t *testing.T) {
	var reasons []error
	payu := func(w http.ResponseWriter, _ *http.Request, reason error) {
		reasons = append(reasons, reason)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "Unauthorized"})
	}
	auth, err := middleware.APIKeys(gWeb(t), gScopedKeys(), middleware.WithBearer(), middleware.WithUnauthorizedHandler(payu))
	require.NoError(t, err)

	tests := []struct {
		name    string
		mw      func(http.Handler) http.Handler
		headers map[string][]string
		want    error
	}{
		{"no key", auth, nil, middleware.ErrNoKey},
		{"empty key header", auth, map[string][]string{"X-API-Key": {""}}, middleware.ErrNoKey},
		{"unknown key", auth, map[string][]string{"Authorization": {"Bearer zupy_pk_unknown_0123456789abcdef"}}, middleware.ErrUnknownKey},
		{"short key", auth, map[string][]string{"X-API-Key": {"short"}}, middleware.ErrUnknownKey},
		{"two keys", auth, map[string][]string{"X-API-Key": {gKeySaipos}, "Authorization": {"Bearer " + gKeyGoomer}}, middleware.ErrUnknownKey},
		{"missing scope", auth.Require("customers:write"), map[string][]string{"Authorization": {"Bearer " + gKeyGoomer}}, middleware.ErrMissingScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reasons = nil
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			tt.mw(next).ServeHTTP(rec, gKeyRequest(tt.headers))
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.JSONEq(t, `{"status":"Unauthorized"}`, rec.Body.String())
			assert.False(t, next.called)
			require.Len(t, reasons, 1)
			assert.ErrorIs(t, reasons[0], tt.want, "got reason %v, want %v", reasons[0], tt.want)
			for _, other := range []error{middleware.ErrNoKey, middleware.ErrUnknownKey, middleware.ErrMissingScope} {
				if other != tt.want {
					assert.NotErrorIs(t, reasons[0], other)
				}
			}
			for _, k := range []string{gKeyGoomer, gKeySaipos} {
				assert.NotContains(t, reasons[0].Error(), k, "the reason reveals a key")
			}
		})
	}
	reasons = nil
	auth.Require("customers:write")(&gNextHandler{}).ServeHTTP(httptest.NewRecorder(),
		gKeyRequest(map[string][]string{"X-API-Key": {gKeyGoomer}}))
	require.Len(t, reasons, 1)
	assert.Contains(t, reasons[0].Error(), `"customers:write"`, "got reason %q, want it to name the scope", reasons[0])
}

func TestAPIKeysScopedConfig(t *testing.T) {
	web := gWeb(t)
	tests := []struct {
		name    string
		keys    []middleware.APIKey
		opts    []middleware.APIKeyOption
		wantErr []string // nil for success
	}{
		{"valid", gScopedKeys(), []middleware.APIKeyOption{middleware.WithBearer(), middleware.WithAPIKeyHeader("X-Partner-Key")}, nil},
		{"no keys", nil, nil, []string{"no API keys"}},
		{"empty list", []middleware.APIKey{}, nil, []string{"no API keys"}},
		{"same key twice, one integration", []middleware.APIKey{{Key: gKeyGoomer, Integration: gIntA}, {Key: gKeyGoomer, Integration: gIntA, Scopes: []string{"otp"}}},
			nil, []string{`an API key of integration "goomer" appears twice`}},
		{"same key, two integrations", []middleware.APIKey{{Key: gKeyGoomer, Integration: gIntA}, {Key: gKeyGoomer, Integration: gIntB}},
			nil, []string{`an API key of integration "saipos" is also a key of integration "goomer"`}},
		{"empty scope", []middleware.APIKey{{Key: gKeyGoomer, Integration: gIntA, Scopes: []string{""}}}, nil, []string{"empty scope"}},
		{"scope with a space", []middleware.APIKey{{Key: gKeyGoomer, Integration: gIntA, Scopes: []string{"otp send"}}}, nil, []string{`scope "otp send" is not a scope token`}},
		{"scope with a quote", []middleware.APIKey{{Key: gKeyGoomer, Integration: gIntA, Scopes: []string{`otp"`}}}, nil, []string{"is not a scope token"}},
		{"short key", []middleware.APIKey{{Key: "zupy_pk_short", Integration: gIntA}}, nil, []string{"shorter than 16"}},
		{"empty integration", []middleware.APIKey{{Key: gKeyGoomer}}, nil, []string{"empty integration ID"}},
		{"bearer on the key header", gScopedKeys(), []middleware.APIKeyOption{middleware.WithBearer(), middleware.WithAPIKeyHeader("authorization")},
			[]string{"WithBearer reads the Authorization header"}},
		{"nil unauthorized handler", gScopedKeys(), []middleware.APIKeyOption{middleware.WithUnauthorizedHandler(nil)}, []string{"nil unauthorized handler"}},
		{"every problem", []middleware.APIKey{{Key: "zupy_pk_short", Integration: gIntA}, {Key: gKeySaipos, Integration: gIntB, Scopes: []string{""}}},
			[]middleware.APIKeyOption{middleware.WithUnauthorizedHandler(nil)}, []string{"shorter than 16", "empty scope", "nil unauthorized handler"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, err := middleware.APIKeys(web, tt.keys, tt.opts...)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.NotNil(t, auth)
				return
			}
			require.Error(t, err)
			assert.Nil(t, auth)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want, "got error %q, want it to mention %q", err, want)
			}
			for _, k := range tt.keys {
				if strings.TrimSpace(k.Key) != "" {
					assert.NotContains(t, err.Error(), k.Key, "the error reveals a key")
				}
			}
		})
	}
}

// The key list is copied, scopes included.
func TestAPIKeysCopiesList(t *testing.T) {
	keys := gScopedKeys()
	auth, err := middleware.APIKeys(gWeb(t), keys)
	require.NoError(t, err)
	keys[0].Scopes[0] = "customers:write"
	keys[0].Key = "zupy_pk_changed_later_0123456789"

	rec := httptest.NewRecorder()
	auth.Require("otp")(&gNextHandler{}).ServeHTTP(rec, gKeyRequest(map[string][]string{"X-API-Key": {gKeyGoomer}}))
	assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
}

func TestAPIKeysRequirePanics(t *testing.T) {
	auth, err := middleware.APIKeys(gWeb(t), gScopedKeys())
	require.NoError(t, err)
	for _, scope := range []string{"", "otp send", `a\b`} {
		assert.Panics(t, func() { auth.Require(scope) }, "got no panic for scope %q", scope)
	}
	assert.Panics(t, func() { auth.Require("otp")(nil) }, "got no panic wrapping a nil handler")
	assert.Panics(t, func() { auth(nil) }, "got no panic wrapping a nil handler")

	// An APIKeyAuth that APIKeys did not build cannot check a scope: the
	// request is refused, not served.
	foreign := middleware.APIKeyAuth(func(next http.Handler) http.Handler { return next })
	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	foreign.Require("otp")(next).ServeHTTP(rec, gKeyRequest(nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.False(t, next.called)
}

// Requiring a scope, reading a bearer credential and refusing cost no more
// allocations than plain API-key authentication.
func TestAPIKeysScopeAllocations(t *testing.T) {
	auth, err := middleware.APIKeys(gWeb(t), gScopedKeys(), middleware.WithBearer())
	require.NoError(t, err)
	plainReq := gKeyRequest(map[string][]string{"X-API-Key": {gKeyGoomer}})
	bearerReq := gKeyRequest(map[string][]string{"Authorization": {"Bearer " + gKeyGoomer}})
	allocs := func(h http.Handler, r *http.Request) float64 {
		w := &gDiscardWriter{h: http.Header{}}
		return testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) })
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	base := allocs(auth(ok), plainReq)
	assert.Equal(t, base, allocs(auth.Require("otp")(ok), plainReq), "a scope check allocates")
	assert.Equal(t, base, allocs(auth.Require("otp")(ok), bearerReq), "a bearer credential allocates")
	assert.Zero(t, allocs(auth.Require("customers:write")(ok), bearerReq), "a refusal allocates")
}

// gDiscardWriter is a ResponseWriter that keeps nothing.
type gDiscardWriter struct{ h http.Header }

func (w *gDiscardWriter) Header() http.Header         { return w.h }
func (w *gDiscardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *gDiscardWriter) WriteHeader(int)             {}

// Partner keys as bearer tokens with scopes: Goomer's key may only ask for
// codes, Saipos's may do anything. The refusal answers as PayU's partner
// API does; leave out WithUnauthorizedHandler for 401 problem details.
func ExampleAPIKeyAuth_Require() {
	web, err := middleware.NewHTTP()
	if err != nil {
		panic(err)
	}
	auth, err := middleware.APIKeys(web, []middleware.APIKey{
		{Key: "zupy_pk_test_goomer_0001", Integration: "goomer", Scopes: []string{"otp"}},
		{Key: "zupy_pk_test_saipos_0001", Integration: "saipos"}, // every scope
	},
		middleware.WithBearer(), // Authorization: Bearer <key>, or X-API-Key
		middleware.WithUnauthorizedHandler(func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":"Unauthorized"}`+"\n")
		}),
	)
	if err != nil {
		panic(err)
	}

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		integration, _ := middleware.IntegrationFrom(r.Context())
		fmt.Fprintf(w, "hello %s\n", integration)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/otps/verify_otp", auth.Require("otp")(hello))
	mux.Handle("POST /api/v1/merchants", auth.Require("merchants")(hello))
	mux.Handle("GET /api/v1/ping", auth(hello)) // any scope

	for _, c := range []struct{ method, path, key string }{
		{http.MethodPost, "/api/v1/otps/verify_otp", "zupy_pk_test_goomer_0001"},
		{http.MethodPost, "/api/v1/merchants", "zupy_pk_test_goomer_0001"},
		{http.MethodPost, "/api/v1/merchants", "zupy_pk_test_saipos_0001"},
		{http.MethodGet, "/api/v1/ping", "zupy_pk_test_goomer_0001"},
		{http.MethodGet, "/api/v1/ping", ""},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.key != "" {
			r.Header.Set("Authorization", "Bearer "+c.key)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 hello goomer
	// 401 {"status":"Unauthorized"}
	// 200 hello saipos
	// 200 hello goomer
	// 401 {"status":"Unauthorized"}
}
