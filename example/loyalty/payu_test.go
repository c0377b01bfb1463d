package loyalty

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run PayU's contract over HTTP on the example server, with the
// PayU documentation's own curl command and samples (the seed
// payu-verify-otp.txt), beside Zupy's contract on the same service.

// payuSeedVerify is the seed's verify_otp request, verbatim. Its second
// data line is how the page we copied it from shows an email address it
// hides ("[email protected]" is a scraper's artifact of email obfuscation):
// a literal run of it sends a parameter no one meant, which the contract
// refuses; payuSeedEmail restores the email address.
const payuSeedVerify = `curl --location -g --request POST '{{partner_base_url}}/api/v1/otps/verify_otp' \
--header 'Authorization: Bearer {{access_token}}' \
--header 'Content-Type: application/x-www-form-urlencoded' \
--data-urlencode 'otp[identity]=9044155723' \
--data-urlencode 'otp[email][email protected]' \
--data-urlencode 'otp[code]=5154' \
--data-urlencode 'otp[type]=SignIn'`

// payuSeedEmail turns the obfuscated line of payuSeedVerify back into the
// merchant's email address.
var payuSeedEmail = []string{"'otp[email][email protected]'", "'otp[email]=merchant@example.com'"}

// payuSendOTP asks for the code that payuSeedVerify checks, in the same
// form (PayU's Send OTP API).
const payuSendOTP = `curl --location -g --request POST '{{partner_base_url}}/api/v1/otps/send_otp' \
--header 'Authorization: Bearer {{access_token}}' \
--header 'Content-Type: application/x-www-form-urlencoded' \
--data-urlencode 'otp[identity]=9044155723' \
--data-urlencode 'otp[channels]=sms' \
--data-urlencode 'otp[type]=SignIn'`

// payuSeedSuccess is the seed's success sample, verbatim.
const payuSeedSuccess = `{
  "access_token": "2ed402f549adc354c7f681ca84a0dec7d9a91a8e229d3ee61e2440d1b61d26ec",
  "token_type": "Bearer",
  "expires_in": 7200,
  "scope": "user_profile create_bank_details update_bank_details",
  "created_at": 1594038150,
  "user_uuid": "11ea-bf7f-3063406a-85a0-02f413145cce",
  "reseller_uuid": null,
  "mid": "7060011",
  "merchant_uuid": "11ea-bf7f-2db8ef5e-9363-0acb18027a2a"
}`

// The seed's failure table, its samples verbatim (typographic quotes and
// all).
const (
	payuSeedUnauthorized = `{ “status”: “Unauthorized” }`
	payuSeedBadType      = `{ “errors”: { “type”: [ “invalid” ] }, “messages”: { “type”: “Type has invalid value” }, “additional_data”: { “type”: { “value”: “SignInas” } } }`
	payuSeedBadIdentity  = `{ “errors”: { “identity”: [ “invalid_format” ], “channels”: [ “not_permitted” ] }, “messages”: { “identity”: “Identity has invalid value”, “channels”: “Channels has invalid value” }, “additional_data”: { “identity”: { “value”: “88027794841” }, “channels”: { “value”: [ “email”, “smsq” ] } } }`
	payuSeedNoUser       = `{ “errors”: { “user”: [ “not_found” ] }, “messages”: { “user”: “User not found” }, “additional_data”: { “user”: { “search_term”: “9044199921” } } }`
	payuSeedLocked       = `{ “errors”: { “user”: [ “locked” ] }, “messages”: { “user”: “User account is locked” }, “additional_data”: { “user”: { “lock_duration”: 1744, “search_term”: “8802779484” } } }`
)

// straight replaces the typographic quotes of the seed's table.
func straight(s string) string {
	return strings.NewReplacer("“", `"`, "”", `"`).Replace(s)
}

// payuCurlRequest turns a curl command line of the kind PayU's
// documentation uses (--location, -g, --request, --header,
// --data-urlencode; single quotes; backslash-newline continuations) into a
// request.
func payuCurlRequest(t *testing.T, cmd string) *http.Request {
	t.Helper()
	words := shellWords(t, strings.ReplaceAll(cmd, "\\\n", " "))
	require.Equal(t, "curl", words[0])
	method, target := "", ""
	var data []string
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "--location", "-g": // follow redirects; no URL globbing
		case "--request", "-X":
			i++
			method = words[i]
		case "--header", "-H":
			i++
			name, value, ok := strings.Cut(words[i], ":")
			require.True(t, ok, "header %q", words[i])
			header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		case "--data-urlencode":
			i++
			data = append(data, curlURLEncode(words[i]))
		default:
			require.Empty(t, target, "a second URL %q", words[i])
			target = words[i]
		}
	}
	if method == "" {
		method = http.MethodPost
	}
	r, err := http.NewRequest(method, target, strings.NewReader(strings.Join(data, "&")))
	require.NoError(t, err)
	r.Header = header
	return r
}

// curlURLEncode encodes one --data-urlencode argument as curl does:
// "name=content" sends name=<content encoded>; "=content" and "content"
// (no '=') send the encoded content alone.
func curlURLEncode(arg string) string {
	name, content, ok := strings.Cut(arg, "=")
	if !ok {
		return url.QueryEscape(arg)
	}
	if name == "" {
		return url.QueryEscape(content)
	}
	return name + "=" + url.QueryEscape(content)
}

// payu posts a form to a PayU endpoint ("send_otp", "verify_otp") with
// key as the bearer credential ("" for none), and returns the status, the
// headers and the body.
func (l *live) payu(endpoint, key string, kv ...string) (int, http.Header, string) {
	l.t.Helper()
	form := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	r, err := http.NewRequest(http.MethodPost, l.url+"/api/v1/otps/"+endpoint, strings.NewReader(form.Encode()))
	require.NoError(l.t, err)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return l.send(r)
}

// send sends r and returns the status, the headers and the body.
func (l *live) send(r *http.Request) (int, http.Header, string) {
	l.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	require.NoError(l.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(l.t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// payuLock makes partner guess wrong on identity's codes through PayU's
// endpoints until the user is locked, and returns the locked answer.
func (l *live) payuLock(partner, identity string) string {
	l.t.Helper()
	for range 3 {
		status, _, body := l.payu("send_otp", key[partner], "otp[identity]", identity, "otp[type]", "SignIn")
		if status != http.StatusOK {
			require.Contains(l.t, body, `"locked"`, "send_otp by %s: status %d, body %s", partner, status, body)
			return body
		}
		code := devCode(l.t, l.out, "+91"+identity)
		for range 5 {
			status, _, body = l.payu("verify_otp", key[partner], "otp[identity]", identity, "otp[code]", wrongCode(code), "otp[type]", "SignIn")
			require.Equal(l.t, http.StatusUnprocessableEntity, status, "verify_otp by %s: body %s", partner, body)
			if strings.Contains(body, `"locked"`) {
				return body
			}
		}
	}
	l.t.Fatalf("%s is not locked after 15 wrong codes", identity)
	return ""
}

// jsonKind returns the JSON type of v as decoded by encoding/json.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "object"
}

// TestPayUSeedCurl runs the seed's verify_otp command against the example
// server, changing only the host, the bearer key and the code (and, for the
// second run, restoring the email address the seed's page hid).
func TestPayUSeedCurl(t *testing.T) {
	l := startLive(t, Config{})
	fill := func(cmd, code string, repl ...string) *http.Request {
		repl = append([]string{"{{partner_base_url}}", l.url, "{{access_token}}", key["goomer"], "otp[code]=5154", "otp[code]=" + code}, repl...)
		return payuCurlRequest(t, strings.NewReplacer(repl...).Replace(cmd))
	}

	status, _, body := l.send(fill(payuSendOTP, ""))
	require.Equal(t, http.StatusOK, status, "send_otp: body %s", body)
	assert.Contains(t, body, `"payload":{"sms":["90xxxxxx23"]}`)
	code := devCode(t, l.out, "+919044155723")

	// Verbatim, the obfuscated line is an unknown parameter; nothing is
	// judged, and the code stays usable.
	status, _, body = l.send(fill(payuSeedVerify, code))
	require.Equal(t, http.StatusUnprocessableEntity, status, "body %s", body)
	assert.JSONEq(t, `{"errors": {"otp[email][email protected]": ["unknown_field"]},
		"messages": {"otp[email][email protected]": "otp[email][email protected] is not a permitted parameter"},
		"additional_data": {}}`, body)

	before := time.Now().Unix()
	status, h, body := l.send(fill(payuSeedVerify, code, payuSeedEmail...))
	require.Equal(t, http.StatusOK, status, "verify_otp: body %s", body)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	var got, want map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &got), "body %s", body)
	require.NoError(t, json.Unmarshal([]byte(payuSeedSuccess), &want))
	// Every member of the sample, of the sample's type, and no other.
	for k, v := range want {
		if assert.Contains(t, got, k, "member %s of the seed's sample is missing from %s", k, body) {
			assert.Equal(t, jsonKind(v), jsonKind(got[k]), "member %s: got %s %v, want a %s as in the sample", k, jsonKind(got[k]), got[k], jsonKind(v))
		}
	}
	assert.Len(t, got, len(want), "got members %v, want the sample's", body)
	// The values this server gives.
	assert.Equal(t, "Bearer", got["token_type"])
	assert.EqualValues(t, 1800, got["expires_in"], "the session lifetime")
	assert.Equal(t, "", got["scope"], "the session is not limited to some actions")
	assert.InDelta(t, before, got["created_at"], 5)
	for _, k := range []string{"user_uuid", "reseller_uuid", "mid", "merchant_uuid"} {
		assert.Equal(t, want[k], got[k], "member %s", k)
	}
	for _, k := range []string{"expires_in", "created_at"} {
		assert.Regexp(t, `"`+k+`":\d+[,}]`, body, "%s is an integer", k)
	}
	token, _ := got["access_token"].(string)
	assert.NotEmpty(t, token)

	// The token is a session of the guard: a merchant is a customer too.
	status, _, body = l.send(fill(payuSeedVerify, code, payuSeedEmail...))
	assert.Equal(t, http.StatusUnprocessableEntity, status, "the code is spent; body %s", body)
	assert.JSONEq(t, `{"errors":{"code":["invalid"]},"messages":{"code":"Code has invalid value; no code was sent for this user and type"},"additional_data":{}}`, body)
}

// TestPayUSeedFailures reproduces every row of the seed's failure table,
// on the memory store and on Redis.
func TestPayUSeedFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(noCooldown)})
		verify := func(bearer string, kv ...string) (int, string) {
			t.Helper()
			status, h, body := l.payu("verify_otp", bearer, kv...)
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			return status, body
		}
		seed := []string{"otp[identity]", "9044155723", "otp[email]", "merchant@example.com", "otp[code]", "515400", "otp[type]", "SignIn"}
		with := func(kv ...string) []string {
			out := append([]string(nil), seed...)
			for i := 0; i < len(kv); i += 2 {
				replaced := false
				for j := 0; j < len(out); j += 2 {
					if out[j] == kv[i] {
						out[j+1], replaced = kv[i+1], true
					}
				}
				if !replaced {
					out = append(out, kv[i], kv[i+1])
				}
			}
			return out
		}

		t.Run("401 token invalid", func(t *testing.T) {
			for name, bearer := range map[string]string{"missing": "", "unknown": "zupy_pk_test_unknown_0000000000"} {
				status, body := verify(bearer, seed...)
				assert.Equal(t, http.StatusUnauthorized, status, "%s bearer: body %s", name, body)
				assert.JSONEq(t, straight(payuSeedUnauthorized), body, "%s bearer", name)
			}
		})
		t.Run("401 token without scope", func(t *testing.T) {
			status, body := verify(NoOTPPartner.Key, seed...)
			assert.Equal(t, http.StatusUnauthorized, status, "body %s", body)
			assert.JSONEq(t, straight(payuSeedUnauthorized), body)
			status, _, body = l.payu("send_otp", NoOTPPartner.Key, "otp[identity]", "9044155723", "otp[type]", "SignIn")
			assert.Equal(t, http.StatusUnauthorized, status, "body %s", body)
			assert.JSONEq(t, straight(payuSeedUnauthorized), body)
		})
		t.Run("422 type invalid", func(t *testing.T) {
			status, body := verify(key["goomer"], with("otp[type]", "SignInas")...)
			assert.Equal(t, http.StatusUnprocessableEntity, status, "body %s", body)
			assert.JSONEq(t, straight(payuSeedBadType), body)
		})
		t.Run("422 identity and channels", func(t *testing.T) {
			kv := with("otp[identity]", "88027794841")
			kv = append(kv, "otp[channels][]", "email", "otp[channels][]", "smsq")
			status, body := verify(key["goomer"], kv...)
			assert.Equal(t, http.StatusUnprocessableEntity, status, "body %s", body)
			assert.JSONEq(t, straight(payuSeedBadIdentity), body)
		})
		t.Run("422 user not found", func(t *testing.T) {
			status, body := verify(key["goomer"], with("otp[identity]", "9044199921")...)
			assert.Equal(t, http.StatusUnprocessableEntity, status, "body %s", body)
			assert.JSONEq(t, straight(payuSeedNoUser), body)
		})
		t.Run("422 user locked", func(t *testing.T) {
			body := l.payuLock("saipos", "8802779484")
			var got struct {
				AdditionalData struct {
					User map[string]json.RawMessage `json:"user"`
				} `json:"additional_data"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			lock := string(got.AdditionalData.User["lock_duration"])
			assert.Regexp(t, `^[1-9][0-9]*$`, lock, "lock_duration is a positive integer")
			assert.JSONEq(t, strings.Replace(straight(payuSeedLocked), "1744", lock, 1), body)

			// The lock holds on the next attempt, with the right code too.
			status, body := verify(key["saipos"], with("otp[identity]", "8802779484", "otp[email]", "")...)
			assert.Equal(t, http.StatusUnprocessableEntity, status)
			assert.Contains(t, body, `"errors":{"user":["locked"]}`)
		})
	})
}

// TestPayUAndZupyShareLimits locks a merchant through one contract's
// endpoints and finds it locked on the other's: one service, one store,
// one set of limits.
func TestPayUAndZupyShareLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, start starter) {
		l := start(Config{Limits: limits(noCooldown)})

		// Goomer locks the second merchant through PayU's verify_otp...
		body := l.payuLock("goomer", "8802779484")
		assert.Contains(t, body, `"search_term":"8802779484"`)
		// ...and Zupy's endpoints refuse Goomer for that merchant.
		for path, body := range map[string]string{
			"/api/v2/auth/request-otp/": `{"identifier": "+918802779484"}`,
			"/api/v2/auth/verify-otp/":  `{"identifier": "+918802779484", "otp_code": "123456"}`,
		} {
			status, h, body := l.call("POST", path, key["goomer"], "", body)
			require.Equal(t, http.StatusTooManyRequests, status, "%s: body %s", path, body)
			assert.Equal(t, problems+"rate-limit-exceeded", problemType(t, body))
			assert.Contains(t, body, "locked for this integration")
			assert.Positive(t, retryAfter(t, h))
		}
		// Saipos is not locked out of that merchant.
		status, _, body := l.payu("send_otp", key["saipos"], "otp[identity]", "8802779484", "otp[type]", "SignIn")
		assert.Equal(t, http.StatusOK, status, "body %s", body)

		// Repediu locks the seed's merchant through Zupy's endpoints, by
		// phone number...
		l.burnPair("repediu", "+919044155723", 10, 5)
		status, _, _ = l.call("POST", "/api/v2/auth/request-otp/", key["repediu"], "", `{"identifier": "+919044155723"}`)
		require.Equal(t, http.StatusTooManyRequests, status)
		// ...and PayU's endpoints refuse Repediu for that merchant, found
		// by phone or by email: one customer, one lock.
		for _, identity := range []string{"9044155723", "merchant@example.com"} {
			status, _, body = l.payu("send_otp", key["repediu"], "otp[identity]", identity, "otp[type]", "SignIn")
			require.Equal(t, http.StatusUnprocessableEntity, status, "body %s", body)
			assert.Contains(t, body, `"errors":{"user":["locked"]}`)
			assert.Contains(t, body, `"search_term":"`+identity+`"`)
		}
	})
}

// TestZupyUnchangedBesidePayU checks what PayU's contract added around
// Zupy's: SMS stays PayU's, a key without the OTP scope gets Zupy's 401,
// and the partners' keys work as before.
func TestZupyUnchangedBesidePayU(t *testing.T) {
	l := startLive(t, Config{})
	status, body := l.requestOTP("goomer", MariaPhone)
	require.Equal(t, http.StatusOK, status, "body %s", body)
	assert.JSONEq(t, `{"data": {"status": "sent", "channel": "whatsapp", "expires_in": 300}, "meta": {}}`, body)

	status, _, body = l.call("POST", "/api/v2/auth/request-otp/", key["saipos"], "", `{"identifier": "`+MariaPhone+`", "channel": "sms"}`)
	assert.Equal(t, http.StatusBadRequest, status, "body %s", body)
	assert.Contains(t, body, `"errors":{"channel":["not_permitted"]}`)

	for _, path := range []string{"/api/v2/auth/request-otp/", "/api/v2/auth/verify-otp/", "/api/v2/auth/revoke-otp-session/"} {
		status, _, body = l.call("POST", path, NoOTPPartner.Key, "", `{"identifier": "`+MariaPhone+`"}`)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: body %s", path, body)
		assert.Equal(t, problems+"authentication-required", problemType(t, body))
	}
	// The key without the OTP scope still reads what needs no OTP.
	status, _, body = l.call("GET", "/api/v2/customers/"+MariaID+"/balance", NoOTPPartner.Key, "", "")
	assert.Equal(t, http.StatusOK, status, "body %s", body)
	// Zupy's endpoints take no bearer credential.
	r := l.request(t.Context(), "POST", "/api/v2/auth/request-otp/", "", "", `{"identifier": "`+MariaPhone+`"}`)
	r.Header.Set("Authorization", "Bearer "+key["goomer"])
	status, _, body = l.send(r)
	assert.Equal(t, http.StatusUnauthorized, status, "body %s", body)
	// PayU's take X-API-Key as well as the bearer credential.
	form := "otp%5Bidentity%5D=9044155723&otp%5Btype%5D=SignUp"
	r = l.request(t.Context(), "POST", "/api/v1/otps/send_otp", key["balcao"], "", form)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, body = l.send(r)
	assert.Equal(t, http.StatusOK, status, "body %s", body)
}

// TestPayUMerchantsOnZupy: a merchant verified through Zupy's contract
// gets the merchant's profile in Zupy's envelope, and PayU's contract
// serves only merchants.
func TestPayUMerchantsOnZupy(t *testing.T) {
	l := startLive(t, Config{})
	status, body := l.requestOTP("goomer", "merchant@example.com")
	require.Equal(t, http.StatusOK, status, "body %s", body)
	status, body = l.verifyOTP("goomer", "merchant@example.com", devCode(t, l.out, "+919044155723"))
	require.Equal(t, http.StatusOK, status, "body %s", body)
	assert.Contains(t, body, `"customer_id":"11ea-bf7f-3063406a-85a0-02f413145cce"`)
	assert.Contains(t, body, `"mid":"7060011"`)

	status, _, body = l.payu("send_otp", key["goomer"], "otp[identity]", MariaPhone, "otp[type]", "SignIn")
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.JSONEq(t, `{"errors":{"user":["not_found"]},"messages":{"user":"User not found"},"additional_data":{"user":{"search_term":"`+MariaPhone+`"}}}`, body)
}

func TestBannerNoOTPPartner(t *testing.T) {
	var b bytes.Buffer
	PrintBanner(&b, ":8080", "policies.json", testPolicies(t))
	out := b.String()
	assert.Regexp(t, `(?m)^Painel BI\s+reports\s+strict\s+`+NoOTPPartner.Key+`\s+\(no OTP scope`, out)
	assert.Contains(t, out, "Authorization: Bearer")
	assert.Contains(t, out, "/api/v1/otps/send_otp")
	for _, m := range PayUMerchants {
		assert.Contains(t, out, m.Identity)
	}
	assert.Contains(t, out, wantMatrix, "the matrix has the partners that can get OTP sessions")
}
