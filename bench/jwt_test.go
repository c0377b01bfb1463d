package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/lestrrat-go/jwx/v2/jwt/openid"
)

// The JWT peers: a stateless bearer token in place of an OTP session. The
// claims are the session's: the customer (sub), the integration (aud),
// when it was verified (iat) and when it expires (exp), HMAC-SHA-256
// signed (HS256) with a 32-byte key. Each client has its own token, sent
// as Authorization: Bearer.

// jwtClaims are the claims of client i's token, valid for an hour.
func jwtClaims(i int) jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{
		Subject:   fmt.Sprintf("cust-%d", i),
		Audience:  jwt.ClaimStrings{strictIntegration},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}
}

// jwtClaimsKey is the context key of the claims golang-jwt's middleware
// hands to the handler.
type jwtClaimsKey struct{}

// buildJWT is golang-jwt/jwt/v5 in front of the handler, written as the
// package's documentation does it: parse the bearer token with the HS256
// key, accepting HS256 only, requiring exp and checking aud, and hand the
// claims to the handler through the context. The handler answers 200 only
// when it finds them.
func buildJWT(tb testing.TB) (http.Handler, []*http.Request) {
	key := benchKey
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(strictIntegration),
		jwt.WithIssuedAt(),
	)
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := r.Context().Value(jwtClaimsKey{}).(*jwt.RegisteredClaims); c == nil || c.Subject == "" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		claims := new(jwt.RegisteredClaims)
		if _, err := parser.ParseWithClaims(bearer, claims, keyFunc); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), jwtClaimsKey{}, claims)))
	})
	return h, requests(func(i int, r *http.Request) *http.Request {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims(i)).SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	})
}

// buildJWTAuth is go-chi/jwtauth/v5 (on lestrrat-go/jwx) with the same
// claims: Verifier then Authenticator, validating the audience; the
// handler reads the claims with jwtauth.FromContext.
func buildJWTAuth(tb testing.TB) (http.Handler, []*http.Request) {
	ja := jwtauth.New("HS256", benchKey, nil, jwxjwt.WithAudience(strictIntegration))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, claims, err := jwtauth.FromContext(r.Context())
		if err != nil || claims[openid.SubjectKey] == "" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(next))
	return h, requests(func(i int, r *http.Request) *http.Request {
		c := jwtClaims(i)
		claims := map[string]any{
			openid.SubjectKey:    c.Subject,
			openid.AudienceKey:   []string{strictIntegration},
			openid.IssuedAtKey:   c.IssuedAt.Time,
			openid.ExpirationKey: c.ExpiresAt.Time,
		}
		_, tok, err := ja.Encode(claims)
		if err != nil {
			tb.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	})
}
