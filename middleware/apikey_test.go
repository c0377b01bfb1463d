package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/middleware"
)

const (
	gKeyGoomer  = "zupy_pk_goomer_0123456789abcdef"
	gKeyGoomer2 = "zupy_pk_goomer_rotated_fedcba98"
	gKeySaipos  = "zupy_pk_saipos_0123456789abcdef"
)

func gTestKeys() map[string]string {
	return map[string]string{gKeyGoomer: gIntA, gKeyGoomer2: gIntA, gKeySaipos: gIntB}
}

func TestAPIKeysConfig(t *testing.T) {
	web := gWeb(t)
	tests := []struct {
		name    string
		web     *middleware.HTTP
		keys    map[string]string
		opts    []middleware.APIKeyOption
		wantErr string // "" for success
	}{
		{"valid", web, gTestKeys(), nil, ""},
		{"valid with options", web, gTestKeys(), []middleware.APIKeyOption{middleware.WithAPIKeyHeader("Authorization-Key")}, ""},
		{"nil web", nil, gTestKeys(), nil, "nil HTTP settings"},
		{"nil map", web, nil, nil, "no API keys"},
		{"empty map", web, map[string]string{}, nil, "no API keys"},
		{"empty key", web, map[string]string{"": gIntA}, nil, "shorter than 16"},
		{"short key", web, map[string]string{"zupy_pk_short": gIntA}, nil, "shorter than 16"},
		{"long key", web, map[string]string{strings.Repeat("k", middleware.MaxAPIKeyLen+1): gIntA}, nil, "longer than 512"},
		{"key with space", web, map[string]string{"zupy_pk_with space_0123": gIntA}, nil, "printable ASCII"},
		{"key with newline", web, map[string]string{"zupy_pk_newline_0123\n": gIntA}, nil, "printable ASCII"},
		{"empty integration", web, map[string]string{gKeyGoomer: ""}, nil, "empty integration ID"},
		{"blank integration", web, map[string]string{gKeyGoomer: "  "}, nil, "empty integration ID"},
		{"empty header name", web, gTestKeys(), []middleware.APIKeyOption{middleware.WithAPIKeyHeader("")}, "not a valid header name"},
		{"bad header name", web, gTestKeys(), []middleware.APIKeyOption{middleware.WithAPIKeyHeader("X API Key")}, "not a valid header name"},
		{"nil option", web, gTestKeys(), []middleware.APIKeyOption{nil}, "nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := middleware.APIKeys(tt.web, tt.keys, tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, mw)
				return
			}
			require.Error(t, err)
			assert.Nil(t, mw)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
			for k := range tt.keys {
				if strings.TrimSpace(k) != "" {
					assert.NotContains(t, err.Error(), k, "the error reveals a key")
				}
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	mw, err := middleware.APIKeys(gWeb(t), gTestKeys())
	require.NoError(t, err)

	// A key that differs from a real one only in its last character, and one
	// that is a real key's prefix: both must fail.
	nearMiss := gKeyGoomer[:len(gKeyGoomer)-1] + "0"
	tests := []struct {
		name    string
		keys    []string
		wantInt string // "" when refused
	}{
		{"right key", []string{gKeyGoomer}, gIntA},
		{"rotated key of the same integration", []string{gKeyGoomer2}, gIntA},
		{"other integration's key", []string{gKeySaipos}, gIntB},
		{"missing", nil, ""},
		{"empty", []string{""}, ""},
		{"wrong key", []string{"zupy_pk_unknown_0123456789abcdef"}, ""},
		{"near miss, same length", []string{nearMiss}, ""},
		{"prefix of a key", []string{gKeyGoomer[:20]}, ""},
		{"key with suffix", []string{gKeyGoomer + "x"}, ""},
		{"short", []string{"abc"}, ""},
		{"10 KB", []string{strings.Repeat("k", 10<<10)}, ""},
		{"repeated header", []string{gKeyGoomer, gKeyGoomer}, ""},
		{"two different keys", []string{gKeyGoomer, gKeySaipos}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &gNextHandler{}
			req := httptest.NewRequest(http.MethodGet, "/customers", nil)
			for _, k := range tt.keys {
				req.Header.Add("X-API-Key", k)
			}
			rec := httptest.NewRecorder()
			mw(next).ServeHTTP(rec, req)
			if tt.wantInt != "" {
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
				require.True(t, next.called, "next was not called")
				assert.Equal(t, tt.wantInt, next.integration, "got integration %q, want %q", next.integration, tt.wantInt)
				return
			}
			gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required",
				"a valid X-API-Key header is required")
			assert.False(t, next.called, "next ran without a valid key")
		})
	}
}

func TestAPIKeysHeaderOption(t *testing.T) {
	mw, err := middleware.APIKeys(gWeb(t), gTestKeys(), middleware.WithAPIKeyHeader("x-partner-key"))
	require.NoError(t, err)

	next := &gNextHandler{}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Partner-Key", gKeySaipos)
	rec := httptest.NewRecorder()
	mw(next).ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, gIntB, next.integration)

	// The default header no longer counts.
	next = &gNextHandler{}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-API-Key", gKeySaipos)
	rec = httptest.NewRecorder()
	mw(next).ServeHTTP(rec, req)
	gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required",
		"a valid x-partner-key header is required")
	assert.False(t, next.called)
}

func TestAPIKeysCopiesMap(t *testing.T) {
	keys := gTestKeys()
	mw, err := middleware.APIKeys(gWeb(t), keys)
	require.NoError(t, err)
	delete(keys, gKeyGoomer)
	keys["zupy_pk_added_later_0123456789"] = gIntB

	h := mw(&gNextHandler{})
	for key, want := range map[string]int{gKeyGoomer: http.StatusOK, "zupy_pk_added_later_0123456789": http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-API-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, "key %q: got status %d, want %d", key[:12], rec.Code, want)
	}
}

func TestAPIKeysReportsEveryProblem(t *testing.T) {
	_, err := middleware.APIKeys(nil, map[string]string{"zupy_pk_short": gIntA}, middleware.WithAPIKeyHeader(""))
	require.Error(t, err)
	assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
	for _, want := range []string{"nil HTTP settings", "not a valid header name", "shorter than 16"} {
		assert.Contains(t, err.Error(), want, "got error %q, want it to mention %q", err, want)
	}
	assert.NotContains(t, err.Error(), "zupy_pk_short", "the error reveals a key")
}

func TestAuthFunc(t *testing.T) {
	identify := func(r *http.Request) (string, bool) {
		if r.Header.Get("Authorization") == "Bearer partner-token" {
			return gIntTrusted, true
		}
		return "", false
	}
	mw, err := middleware.AuthFunc(gWeb(t), identify)
	require.NoError(t, err)

	next := &gNextHandler{}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer partner-token")
	rec := httptest.NewRecorder()
	mw(next).ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, gIntTrusted, next.integration)

	next = &gNextHandler{}
	rec = httptest.NewRecorder()
	mw(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required", "authentication is required")
	assert.False(t, next.called)

	// An identify function that reports ok with an empty ID is refused too,
	// here under the default problem base.
	defaults, err := middleware.NewHTTP()
	require.NoError(t, err)
	empty, err := middleware.AuthFunc(defaults, func(*http.Request) (string, bool) { return "", true })
	require.NoError(t, err)
	next = &gNextHandler{}
	rec = httptest.NewRecorder()
	empty(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Body.String(), `"type":"about:blank#authentication-required"`)
	assert.False(t, next.called)
}

func TestAuthFuncConfig(t *testing.T) {
	ok := func(*http.Request) (string, bool) { return gIntA, true }
	web := gWeb(t)
	tests := []struct {
		name     string
		web      *middleware.HTTP
		identify func(*http.Request) (string, bool)
		wantErrs []string // nil for success
	}{
		{"valid", web, ok, nil},
		{"nil identify", web, nil, []string{"nil identify function"}},
		{"nil web", nil, ok, []string{"nil HTTP settings"}},
		{"both nil", nil, nil, []string{"nil HTTP settings", "nil identify function"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mw  func(http.Handler) http.Handler
				err error
			)
			require.NotPanics(t, func() { mw, err = middleware.AuthFunc(tt.web, tt.identify) })
			if tt.wantErrs == nil {
				require.NoError(t, err)
				assert.NotNil(t, mw)
				return
			}
			require.Error(t, err)
			assert.Nil(t, mw)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			for _, want := range tt.wantErrs {
				assert.Contains(t, err.Error(), want, "got error %q, want it to mention %q", err, want)
			}
		})
	}

	mw, err := middleware.AuthFunc(web, ok)
	require.NoError(t, err)
	assert.Panics(t, func() { mw(nil) }, "got no panic wrapping a nil handler")
}
