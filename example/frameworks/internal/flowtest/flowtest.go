// Package flowtest is the test every framework recipe passes: it builds
// otpguard's pieces over an in-memory store, as example/hostapp does, and
// walks request-otp, verify-otp and a guarded redeem through the recipe's
// router over a real HTTP server.
package flowtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/hostapp"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store/memory"
)

// APIKey is the key of the integration "goomer", whose policy is relaxed:
// redeeming a reward requires OTP.
const APIKey = "zupy_pk_live_goomer_0123456789"

// Pieces are what a recipe mounts, built over one middleware.HTTP with the
// problem base https://api.example.com/errors/. The guard finds the
// customer with middleware.CustomerFromPath("id").
type Pieces struct {
	Auth  func(http.Handler) http.Handler
	OTP   *otphttp.Handlers
	Guard *middleware.Guard
}

// Redeemed is what a recipe's redeem handler in these tests answers: the
// reward, from the framework's own path parameter rid, and the customer of
// the session the guard accepted, from middleware.SessionFrom.
func Redeemed(reward, customer string) string {
	return "redeemed " + reward + " for " + customer
}

// Run builds the pieces, hands them to router, serves the router it returns
// and walks the OTP flow through it: request a code for Maria's phone, read
// it from the dev sender, verify it, redeem with the session; and checks
// the refusals: no API key (401), no session (the seed's 403), and Maria's
// session on another customer's path (403).
func Run(t *testing.T, router func(Pieces) http.Handler) {
	t.Helper()
	var outbox Buffer
	srv := httptest.NewServer(router(newPieces(t, &outbox)))
	defer srv.Close()

	post := func(path, apiKey, session, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if apiKey != "" {
			req.Header.Set("X-API-Key", apiKey)
		}
		if session != "" {
			req.Header.Set(middleware.SessionHeader, session)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	const redeemMaria = "/api/v2/customers/maria/rewards/r1/redeem/"

	status, body := post("/api/v2/auth/request-otp/", APIKey, "", `{"identifier": "+5511987654321"}`)
	require.Equal(t, http.StatusOK, status, body)
	var sent struct{ To, Code string }
	require.NoError(t, json.Unmarshal([]byte(outbox.String()), &sent), "dev sender output %q", outbox.String())
	assert.Equal(t, "+5511987654321", sent.To)

	status, body = post("/api/v2/auth/verify-otp/", APIKey, "", `{"identifier": "+5511987654321", "otp_code": "`+sent.Code+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	var verified struct {
		Data struct {
			Session    string `json:"otp_session"`
			CustomerID string `json:"customer_id"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &verified))
	require.NotEmpty(t, verified.Data.Session, body)
	assert.Equal(t, "maria", verified.Data.CustomerID)
	session := verified.Data.Session

	status, body = post(redeemMaria, APIKey, session, `{}`)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, Redeemed("r1", "maria"), body)

	const otpRequired = `{"type":"https://api.example.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`
	status, body = post(redeemMaria, APIKey, "", `{}`)
	assert.Equal(t, http.StatusForbidden, status, "without a session")
	assert.JSONEq(t, otpRequired, body, "without a session")

	status, body = post("/api/v2/customers/joao/rewards/r1/redeem/", APIKey, session, `{}`)
	assert.Equal(t, http.StatusForbidden, status, "Maria's session must not redeem for João")
	assert.JSONEq(t, otpRequired, body, "Maria's session on João's path")

	for _, path := range []string{"/api/v2/auth/request-otp/", redeemMaria} {
		status, body = post(path, "", session, `{"identifier": "+5511987654321"}`)
		assert.Equal(t, http.StatusUnauthorized, status, "%s without an API key", path)
		assert.Contains(t, body, `"type":"https://api.example.com/errors/authentication-required"`, "%s without an API key", path)
	}
	status, _ = post(redeemMaria, "zupy_pk_live_unknown_0123456789", session, `{}`)
	assert.Equal(t, http.StatusUnauthorized, status, "with an unknown API key")
}

// policies gives the integration goomer the relaxed preset.
const policies = `{
  "default": "strict",
  "integrations": {
    "goomer": {"name": "Goomer", "level": "relaxed"}
  }
}`

// newPieces builds the pieces as example/hostapp does, with the dev sender
// writing to outbox and the store closed when the test ends.
func newPieces(t *testing.T, outbox io.Writer) Pieces {
	t.Helper()
	st := memory.New()
	t.Cleanup(st.Close)
	src, err := policy.Load(strings.NewReader(policies), "policies.json")
	require.NoError(t, err)
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(outbox)})
	require.NoError(t, err)
	maria := otpcode.Customer{ID: "maria", Name: "Maria", Contacts: otpcode.Contacts{Phone: "+5511987654321"}}
	svc, err := otpcode.NewService(st, keys, chain,
		otpcode.WithDirectory(hostapp.Customers{"phone:+5511987654321": maria}),
		otpcode.WithRegion("BR"),
	)
	require.NoError(t, err)

	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.example.com/errors/"))
	require.NoError(t, err)
	auth, err := middleware.APIKeys(web, map[string]string{APIKey: "goomer"})
	require.NoError(t, err)
	otp, err := otphttp.New(web, svc)
	require.NoError(t, err)
	guard, err := middleware.NewGuard(web,
		middleware.WithPolicies(src),
		middleware.WithSessions(st),
		middleware.WithSessionKeys(keys),
		middleware.WithCustomer(middleware.CustomerFromPath("id")),
	)
	require.NoError(t, err)
	return Pieces{Auth: auth, OTP: otp, Guard: guard}
}

// Buffer is a bytes.Buffer that the server's goroutines may write while the
// test reads it. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
