package hostapp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/hostapp"
	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
)

const goomerKey = "zupy_pk_live_goomer_0123456789"

var env = map[string]string{
	"OTPGUARD_PEPPER": strings.Repeat("5a", 32),
	"GOOMER_API_KEY":  goomerKey,
}

// TestReadmeSetupServes runs the README's set-up as a host would and walks
// the three steps over HTTP: request a code, verify it, redeem with the
// session — and checks that the guard refuses what it must.
func TestReadmeSetupServes(t *testing.T) {
	maria := otpcode.Customer{ID: "maria", Name: "Maria", Contacts: otpcode.Contacts{Phone: "+5511987654321"}}
	customers := hostapp.Customers{"phone:+5511987654321": maria, "cpf:52998224725": maria}
	var outbox testio.Buffer
	dev := otpcode.NewDevSender(&outbox)
	redeem := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := middleware.SessionFrom(r.Context())
		_, _ = io.WriteString(w, "redeemed for "+s.CustomerID)
	})
	h, closeStore, err := hostapp.New(func(k string) string { return env[k] }, customers, dev, dev, redeem)
	require.NoError(t, err)
	defer closeStore()
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(path, session, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", goomerKey)
		req.Header.Set("Content-Type", "application/json")
		if session != "" {
			req.Header.Set("X-OTP-Session", session)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, body := post("/api/v2/auth/request-otp/", "", `{"identifier": "(11) 98765-4321"}`)
	require.Equal(t, http.StatusOK, status, body)
	var sent struct{ To, Code string }
	require.NoError(t, json.Unmarshal([]byte(outbox.String()), &sent))
	assert.Equal(t, "+5511987654321", sent.To)

	status, body = post("/api/v2/auth/verify-otp/", "", `{"identifier": "529.982.247-25", "otp_code": "`+sent.Code+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	var v struct {
		Data struct {
			Session string `json:"otp_session"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &v))

	status, body = post("/api/v2/customers/maria/rewards/r1/redeem/", v.Data.Session, `{}`)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "redeemed for maria", body)

	status, body = post("/api/v2/customers/maria/rewards/r1/redeem/", "", `{}`)
	assert.Equal(t, http.StatusForbidden, status)
	assert.JSONEq(t, `{"type":"https://api.example.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`, body)
	status, _ = post("/api/v2/customers/joao/rewards/r1/redeem/", v.Data.Session, `{}`)
	assert.Equal(t, http.StatusForbidden, status, "Maria's session must not redeem for another customer")

	// Every piece answers under the one problem base.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v2/auth/request-otp/", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(b), `"type":"https://api.example.com/errors/authentication-required"`)
	status, body = post("/api/v2/auth/request-otp/", "", `{"identifier": "nope"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, `"type":"https://api.example.com/errors/validation-error"`)
}

func TestNewRefusesABadPepper(t *testing.T) {
	getenv := func(k string) string {
		if k == "OTPGUARD_PEPPER" {
			return "not hex"
		}
		return env[k]
	}
	_, closeStore, err := hostapp.New(getenv, hostapp.Customers{}, otpcode.NewDevSender(io.Discard), otpcode.NewDevSender(io.Discard), http.NotFoundHandler())
	closeStore()
	assert.Error(t, err)
}
