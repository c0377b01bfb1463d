package loyalty

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store/storetest"
)

// These tests treat sessions as transactions, over HTTP on the memory store
// and on Redis: purpose-bound, single-use and fresh where the policy says
// so, revocable by their partner and by an operator.

const adminToken = "adm_test_0123456789abcdef0123456789abcdef"

// loadPolicies parses a policy file's text.
func loadPolicies(t *testing.T, text string) *policy.Static {
	t.Helper()
	p, err := policy.Load(strings.NewReader(text), "test-policies.json")
	require.NoError(t, err)
	return p
}

// loginFor runs request-otp and verify-otp for Maria with extra members in
// both bodies, and returns the verify-otp status and body.
func (l *live) loginFor(partner, requestExtra, verifyExtra string) (int, string) {
	l.t.Helper()
	status, _, body := l.call("POST", "/api/v2/auth/request-otp/", key[partner], "", `{"identifier": "`+MariaPhone+`"`+requestExtra+`}`)
	require.Equal(l.t, http.StatusOK, status, "request-otp: body %s", body)
	code := devCode(l.t, l.out, MariaPhone)
	status, _, body = l.call("POST", "/api/v2/auth/verify-otp/", key[partner], "", `{"identifier": "`+MariaPhone+`", "otp_code": "`+code+`"`+verifyExtra+`}`)
	return status, body
}

// loginSession runs request-otp and verify-otp for Maria and returns the
// session.
func (l *live) loginSession(partner string) string {
	l.t.Helper()
	status, body := l.loginFor(partner, "", "")
	require.Equal(l.t, http.StatusOK, status, "verify-otp: body %s", body)
	return session(l.t, body)
}

func (l *live) redeem(partner, sess string) int {
	l.t.Helper()
	status, _, _ := l.call("POST", "/api/v2/customers/"+MariaID+"/rewards/rwd_free_coffee/redeem/", key[partner], sess, `{"use_z_tokens": false}`)
	return status
}

func (l *live) validateCoupon(partner, sess string) int {
	l.t.Helper()
	status, _, _ := l.call("POST", "/api/v2/coupons/MARIA10/validate/", key[partner], sess, "")
	return status
}

func TestPurposeBindsTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(noCooldown)})
		status, body := l.loginFor("balcao", `, "purpose": "enroll_customer"`, `, "purpose": "enroll_customer"`)
		require.Equal(t, http.StatusOK, status, "body %s", body)
		assert.Contains(t, body, `"scope":"enroll_customer"`)
		sess := session(t, body)
		// Balcão is strict: both actions need OTP.
		status, _, body = l.call("POST", "/api/v2/customers/enroll/", key["balcao"], sess, `{"identifier": "`+MariaPhone+`"}`)
		assert.Equal(t, http.StatusOK, status, "enroll with the enrollment session: body %s", body)
		assert.Equal(t, http.StatusForbidden, l.redeem("balcao", sess), "an enrollment session must not redeem")

		// A verification may not widen the purpose.
		status, body = l.loginFor("balcao", `, "purpose": "enroll_customer"`, `, "purpose": "enroll_customer", "scope": "enroll_customer redeem_reward"`)
		assert.Equal(t, http.StatusBadRequest, status, "body %s", body)
		assert.Equal(t, problems+"validation-error", problemType(t, body))
		assert.Contains(t, body, `"scope":["not_permitted"]`)
	})
}

const singleUsePolicies = `{
  "default": "strict",
  "integrations": {
    "goomer": {"level": "relaxed", "single_use": ["redeem_reward"]},
    "saipos": {"level": "relaxed", "max_age": {"redeem_reward": "2s"}}
  }
}`

func TestSingleUseAction(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Policies: loadPolicies(t, singleUsePolicies), Limits: limits(noCooldown)})
		status, body := l.loginFor("goomer", "", "")
		require.Equal(t, http.StatusOK, status, "body %s", body)
		sess := session(t, body)
		assert.Equal(t, http.StatusOK, l.redeem("goomer", sess))
		assert.Equal(t, http.StatusForbidden, l.redeem("goomer", sess), "a single-use action twice with one session")
		assert.Equal(t, http.StatusOK, l.validateCoupon("goomer", sess), "other actions keep the session")

		// 20 parallel redeems with one fresh session: exactly one passes.
		// Maria gets points enough for all of them first.
		status, _, body = l.call("POST", "/api/v2/customers/"+MariaID+"/points/", key["repediu"], "", `{"points": 5000, "description": "test"}`)
		require.Equal(t, http.StatusOK, status, "award: body %s", body)
		status, body = l.loginFor("goomer", "", "")
		require.Equal(t, http.StatusOK, status, "body %s", body)
		sess = session(t, body)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			codes = map[int]int{}
		)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := l.request(t.Context(), "POST", "/api/v2/customers/"+MariaID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], sess, `{"use_z_tokens": false}`)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, codes[http.StatusOK], "statuses %v", codes)
		assert.Equal(t, 19, codes[http.StatusForbidden], "statuses %v", codes)
	})
}

func TestMaxAgeAction(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		clock := storetest.NewClock(time.Now())
		l := start(Config{Policies: loadPolicies(t, singleUsePolicies), Limits: limits(noCooldown), Now: clock.Now})
		status, body := l.loginFor("saipos", "", "")
		require.Equal(t, http.StatusOK, status, "body %s", body)
		sess := session(t, body)
		assert.Equal(t, http.StatusOK, l.redeem("saipos", sess))
		clock.Advance(3 * time.Second)
		assert.Equal(t, http.StatusForbidden, l.redeem("saipos", sess), "a session verified 3 s ago, max_age 2 s")
		assert.Equal(t, http.StatusOK, l.validateCoupon("saipos", sess), "actions without max_age keep the session")
		assert.Contains(t, l.logs.String(), "verified too long ago")
	})
}

func TestRevokeEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(noCooldown)})
		revoke := func(partner, sess string) string {
			status, _, body := l.call("POST", "/api/v2/auth/revoke-otp-session/", key[partner], sess, "")
			require.Equal(t, http.StatusOK, status, "body %s", body)
			return body
		}
		sess := l.loginSession("goomer")
		// Another partner's key cannot revoke it, and learns nothing.
		assert.JSONEq(t, `{"data":{"revoked":false},"meta":{}}`, revoke("saipos", sess))
		assert.JSONEq(t, `{"data":{"revoked":false},"meta":{}}`, revoke("saipos", "no-such-token-0123456789"))
		assert.Equal(t, http.StatusOK, l.redeem("goomer", sess), "the owner's session still works")
		assert.JSONEq(t, `{"data":{"revoked":true},"meta":{}}`, revoke("goomer", sess))
		assert.Equal(t, http.StatusForbidden, l.redeem("goomer", sess), "a revoked session")
		assert.JSONEq(t, `{"data":{"revoked":false},"meta":{}}`, revoke("goomer", sess))
		status, _, _ := l.call("POST", "/api/v2/auth/revoke-otp-session/", key["goomer"], "", "")
		assert.Equal(t, http.StatusBadRequest, status)
		status, _, _ = l.call("POST", "/api/v2/auth/revoke-otp-session/", "", sess, "")
		assert.Equal(t, http.StatusUnauthorized, status)
	})
}

// adminCall sends one admin request with token.
func (l *live) adminCall(method, path, token string) (int, string) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.admin+path, nil)
	require.NoError(l.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(l.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(l.t, err)
	return resp.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{AdminToken: adminToken, Limits: limits(noCooldown)})
		otp := "/admin/v1/customers/" + MariaID + "/otp"

		status, _ := l.adminCall("GET", otp, "")
		assert.Equal(t, http.StatusUnauthorized, status)
		status, _ = l.adminCall("GET", otp, adminToken+"x")
		assert.Equal(t, http.StatusUnauthorized, status)
		status, _ = l.adminCall("GET", "/admin/v1/customers/nobody/otp", adminToken)
		assert.Equal(t, http.StatusNotFound, status)

		// Goomer locks its pair with Maria.
		l.burnPair("goomer", MariaPhone, 10, 5)
		status, body := l.adminCall("GET", otp, adminToken)
		require.Equal(t, http.StatusOK, status, "body %s", body)
		var st struct {
			Locked       bool `json:"locked"`
			Integrations []struct {
				Integration      string `json:"integration"`
				Locked           bool   `json:"locked"`
				RemainingSeconds int64  `json:"remaining_seconds"`
			} `json:"integrations"`
			CustomerFailures int `json:"customer_failures"`
			LiveSessions     int `json:"live_sessions"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		assert.True(t, st.Locked)
		require.Len(t, st.Integrations, 1, "body %s", body)
		assert.Equal(t, "goomer", st.Integrations[0].Integration)
		assert.True(t, st.Integrations[0].Locked)
		assert.Greater(t, st.Integrations[0].RemainingSeconds, int64(14*60))
		assert.Equal(t, 10, st.CustomerFailures)

		status, _ = l.requestOTP("goomer", MariaPhone)
		require.Equal(t, http.StatusTooManyRequests, status)
		status, body = l.adminCall("POST", otp+"/unlock", adminToken)
		require.Equal(t, http.StatusOK, status, "body %s", body)
		status, body = l.requestOTP("goomer", MariaPhone)
		assert.Equal(t, http.StatusOK, status, "after unlock: body %s", body)

		// Two live sessions of Maria, from two partners.
		status, body = l.verifyOTP("goomer", MariaPhone, devCode(t, l.out, MariaPhone))
		require.Equal(t, http.StatusOK, status, "body %s", body)
		goomerSess := session(t, body)
		saiposSess := l.loginSession("saipos")
		status, body = l.adminCall("GET", otp, adminToken)
		require.Equal(t, http.StatusOK, status)
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		assert.Equal(t, 2, st.LiveSessions)
		assert.False(t, st.Locked)

		status, body = l.adminCall("POST", otp+"/revoke-sessions", adminToken)
		require.Equal(t, http.StatusOK, status)
		assert.JSONEq(t, `{"revoked": 2}`, body)
		assert.Equal(t, http.StatusForbidden, l.redeem("goomer", goomerSess))
		assert.Equal(t, http.StatusForbidden, l.redeem("saipos", saiposSess))

		// Every call is an audit event, never with the token.
		logs := l.logs.String()
		assert.Contains(t, logs, `"msg":"otp.admin"`)
		assert.Contains(t, logs, `"op":"unlock"`)
		assert.Contains(t, logs, `"op":"revoke_sessions"`)
		assert.Contains(t, logs, `"outcome":"unauthorized"`)
		assert.NotContains(t, logs, adminToken)
	})
}
