package otphttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

const (
	pMerchantPhone = "+919044155723" // otp[identity]=9044155723 in region IN
	pLockedPhone   = "+918802779484"
	pUserUUID      = "11ea-bf7f-3063406a-85a0-02f413145cce"
)

// pDirectory is the PayU merchants of the seed, and Maria of Zupy's.
func pDirectory() hDirectory {
	merchant := otpcode.Customer{
		ID:       pUserUUID,
		Contacts: otpcode.Contacts{Phone: pMerchantPhone, Email: "merchant@example.com"},
		Profile: map[string]any{
			"user_uuid":     pUserUUID,
			"reseller_uuid": nil,
			"mid":           "7060011",
			"merchant_uuid": "11ea-bf7f-2db8ef5e-9363-0acb18027a2a",
			// A profile cannot override the token's members.
			"access_token": "forged",
			"expires_in":   1,
		},
	}
	other := otpcode.Customer{ID: "11ea-0000-merchant-two", Contacts: otpcode.Contacts{Phone: pLockedPhone},
		Profile: map[string]any{"mid": "7060012"}}
	d := hMariaDirectory()
	d.customers["phone:"+pMerchantPhone] = merchant
	d.customers["email:merchant@example.com"] = merchant
	d.customers["phone:"+pLockedPhone] = other
	return d
}

// knownOnly is a directory's Lookup alone: PayU's Users.
type knownOnly struct{ hDirectory }

func (d knownOnly) Resolve(context.Context, otpcode.Identifier) (otpcode.Customer, bool, error) {
	return otpcode.Customer{}, false, errors.New("not used")
}

// pEnv is Zupy's and PayU's handlers over one service.
type pEnv struct {
	zupy, payu *otphttp.Handlers
	clock      *storetest.Clock
	out, logs  *testio.Buffer
}

type pConfig struct {
	payu    otphttp.PayUConfig
	opts    []otphttp.Option
	limits  otpcode.Limits
	noUsers bool
}

func newPEnv(t *testing.T, mods ...func(*pConfig)) *pEnv {
	t.Helper()
	e := &pEnv{clock: storetest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), out: &testio.Buffer{}, logs: &testio.Buffer{}}
	cfg := pConfig{
		payu:   otphttp.PayUConfig{Types: []string{"SignIn", "SignUp"}, Channels: []otpcode.Channel{otpcode.ChannelSMS, otpcode.ChannelEmail}},
		limits: otpcode.DefaultLimits(),
	}
	for _, m := range mods {
		m(&cfg)
	}
	dir := pDirectory()
	if !cfg.noUsers && cfg.payu.Users == nil {
		cfg.payu.Users = knownOnly{dir}
	}
	ms := memory.New(memory.WithClock(e.clock.Now))
	t.Cleanup(ms.Close)
	keys, err := keyring.New(bytes.Repeat([]byte{0x42}, 32))
	require.NoError(t, err)
	dev := otpcode.NewDevSender(e.out)
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: dev},
		otpcode.Route{Channel: otpcode.ChannelSMS, Sender: dev},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: dev},
	)
	require.NoError(t, err)
	svc, err := otpcode.NewService(ms, keys, chain,
		otpcode.WithLimits(cfg.limits), otpcode.WithDirectory(dir), otpcode.WithRegion("BR"), otpcode.WithClock(e.clock.Now))
	require.NoError(t, err)
	web, err := middleware.NewHTTP(middleware.WithProblemBase(hBase),
		middleware.WithLogger(slog.New(slog.NewJSONHandler(e.logs, nil))))
	require.NoError(t, err)
	e.zupy, err = otphttp.New(web, svc)
	require.NoError(t, err)
	e.payu, err = otphttp.New(web, svc, append([]otphttp.Option{otphttp.WithContract(otphttp.PayU(cfg.payu))}, cfg.opts...)...)
	require.NoError(t, err)
	return e
}

// pRequest is one call to a PayU handler.
type pRequest struct {
	verify      bool
	method      string // default POST
	contentType string // default form; "-" for none
	body        string
	integration string // default hIntegration; "-" for none
}

func (e *pEnv) do(rq pRequest) *httptest.ResponseRecorder {
	h := e.payu.RequestOTP()
	if rq.verify {
		h = e.payu.VerifyOTP()
	}
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/api/v1/otps/", strings.NewReader(rq.body))
	switch rq.contentType {
	case "":
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "-":
	default:
		r.Header.Set("Content-Type", rq.contentType)
	}
	if rq.integration != "-" {
		in := rq.integration
		if in == "" {
			in = hIntegration
		}
		r = r.WithContext(middleware.WithIntegration(r.Context(), in))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// form encodes key-value pairs in order, keys repeated as given.
func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func (e *pEnv) send(kv ...string) *httptest.ResponseRecorder {
	return e.do(pRequest{body: form(kv...)})
}

func (e *pEnv) verify(kv ...string) *httptest.ResponseRecorder {
	return e.do(pRequest{verify: true, body: form(kv...)})
}

// lastCode returns the code of the dev sender's last delivery to to.
func (e *pEnv) lastCode(t *testing.T, to string) string {
	t.Helper()
	return (&hEnv{out: e.out}).lastCode(t, to)
}

// pRefusal is a PayU refusal body.
type pRefusal struct {
	Errors         map[string][]string       `json:"errors"`
	Messages       map[string]string         `json:"messages"`
	AdditionalData map[string]map[string]any `json:"additional_data"`
}

// pAssertRefusal checks a PayU refusal and returns it.
func pAssertRefusal(t *testing.T, w *httptest.ResponseRecorder, status int) pRefusal {
	t.Helper()
	require.Equal(t, status, w.Code, "got status %d, want %d; body %s", w.Code, status, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got), "body %s", w.Body.String())
	assert.Len(t, got, 3, "got members %v, want errors, messages and additional_data", w.Body.String())
	var r pRefusal
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r))
	require.NotNil(t, r.AdditionalData, "additional_data is always an object")
	return r
}

func TestPayUSendAndVerify(t *testing.T) {
	for _, tt := range []struct {
		name, contentType string
		send, verify      func(code string) string
	}{
		{"form", "", func(string) string {
			return form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels][]", "sms")
		}, func(code string) string {
			return form("otp[identity]", "9044155723", "otp[email]", "merchant@example.com", "otp[code]", code, "otp[type]", "SignIn")
		}},
		{"json", "application/json", func(string) string {
			return `{"otp": {"identity": "9044155723", "type": "SignIn", "channels": ["sms"]}}`
		}, func(code string) string {
			return `{"otp": {"identity": "9044155723", "email": "merchant@example.com", "code": "` + code + `", "type": "SignIn"}}`
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPEnv(t)
			w := e.do(pRequest{contentType: tt.contentType, body: tt.send("")})
			require.Equal(t, http.StatusOK, w.Code, "send_otp: body %s", w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var sent struct {
				Data struct {
					ID         string `json:"id"`
					Type       string `json:"type"`
					Attributes struct {
						Status        string              `json:"status"`
						SendAt        string              `json:"send-at"`
						StatusDetails map[string]any      `json:"status-details"`
						Payload       map[string][]string `json:"payload"`
					} `json:"attributes"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &sent))
			assert.Regexp(t, `^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$`, sent.Data.ID)
			assert.Equal(t, "notifications", sent.Data.Type)
			a := sent.Data.Attributes
			assert.Equal(t, "sent", a.Status)
			assert.Equal(t, strconv.FormatInt(e.clock.Now().Unix(), 10), a.SendAt, "send-at is the send time, a string of unix seconds")
			assert.NotNil(t, a.StatusDetails)
			assert.Empty(t, a.StatusDetails)
			assert.Equal(t, map[string][]string{"sms": {"90xxxxxx23"}}, a.Payload)

			code := e.lastCode(t, pMerchantPhone)
			e.clock.Advance(3 * time.Second)
			w = e.do(pRequest{verify: true, contentType: tt.contentType, body: tt.verify(code)})
			require.Equal(t, http.StatusOK, w.Code, "verify_otp: body %s", w.Body.String())
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			// The seed's success sample: these members, these types, the
			// token's members first in the sample's order.
			assert.Regexp(t, `^\{"access_token":"[A-Za-z0-9_-]{43,}","token_type":"Bearer","expires_in":1800,"scope":"","created_at":\d+,`, w.Body.String())
			var got map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, map[string]any{
				"access_token":  got["access_token"],
				"token_type":    "Bearer",
				"expires_in":    float64(1800),
				"scope":         "",
				"created_at":    float64(e.clock.Now().Unix()),
				"user_uuid":     pUserUUID,
				"reseller_uuid": nil,
				"mid":           "7060011",
				"merchant_uuid": "11ea-bf7f-2db8ef5e-9363-0acb18027a2a",
			}, got)

			// The code is spent.
			r := pAssertRefusal(t, e.do(pRequest{verify: true, contentType: tt.contentType, body: tt.verify(code)}), 422)
			assert.Equal(t, []string{"invalid"}, r.Errors["code"])
		})
	}
}

func TestPayUSendChannels(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		payload map[string][]string
	}{
		{"no channels: the first offered that reaches", form("otp[identity]", "9044155723", "otp[type]", "SignIn"), map[string][]string{"sms": {"90xxxxxx23"}}},
		{"email named", form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels][]", "email"), map[string][]string{"email": {"mexxxxxx@example.com"}}},
		{"email and sms: the service's order", form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels][]", "email", "otp[channels][]", "sms"), map[string][]string{"sms": {"90xxxxxx23"}}},
		{"otp[channels] once", form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels]", "email"), map[string][]string{"email": {"mexxxxxx@example.com"}}},
		{"identity by email", form("otp[identity]", "Merchant@Example.com", "otp[type]", "SignUp"), map[string][]string{"sms": {"90xxxxxx23"}}},
		{"email alone", form("otp[email]", "merchant@example.com", "otp[type]", "SignIn"), map[string][]string{"sms": {"90xxxxxx23"}}},
		{"international identity", form("otp[identity]", "+91 90441 55723", "otp[type]", "SignIn"), map[string][]string{"sms": {"90xxxxxx23"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPEnv(t)
			w := e.do(pRequest{body: tt.body})
			require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
			var got struct {
				Data struct {
					Attributes struct {
						Payload map[string][]string `json:"payload"`
					} `json:"attributes"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, tt.payload, got.Data.Attributes.Payload)
		})
	}
	t.Run("never over a channel not offered", func(t *testing.T) {
		// Maria has WhatsApp first in the service; PayU offers SMS and email.
		e := newPEnv(t)
		w := e.send("otp[identity]", "+5511987654321", "otp[type]", "SignIn")
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"payload":{"sms":["11xxxxxxx21"]}`)
	})
	t.Run("without Users the identity is the address", func(t *testing.T) {
		e := newPEnv(t, func(c *pConfig) { c.noUsers = true })
		w := e.send("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels][]", "email")
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"payload":{"email":[]}`, "the address is the directory's, unknown here")
	})
}

func TestPayURefusals(t *testing.T) {
	e := newPEnv(t)
	tests := []struct {
		name   string
		rq     pRequest
		status int
		want   string // the whole body, as JSON
	}{
		{"type not registered", pRequest{verify: true, body: form("otp[identity]", "9044155723", "otp[code]", "123456", "otp[type]", "SignInas")}, 422,
			`{"errors":{"type":["invalid"]},"messages":{"type":"Type has invalid value"},"additional_data":{"type":{"value":"SignInas"}}}`},
		{"identity and channels", pRequest{verify: true, body: form("otp[identity]", "88027794841", "otp[code]", "123456", "otp[type]", "SignIn", "otp[channels][]", "email", "otp[channels][]", "smsq")}, 422,
			`{"errors":{"identity":["invalid_format"],"channels":["not_permitted"]},"messages":{"identity":"Identity has invalid value","channels":"Channels has invalid value"},"additional_data":{"identity":{"value":"88027794841"},"channels":{"value":["email","smsq"]}}}`},
		{"identity and channels on send_otp", pRequest{body: form("otp[identity]", "88027794841", "otp[type]", "SignIn", "otp[channels][]", "email", "otp[channels][]", "smsq")}, 422,
			`{"errors":{"identity":["invalid_format"],"channels":["not_permitted"]},"messages":{"identity":"Identity has invalid value","channels":"Channels has invalid value"},"additional_data":{"identity":{"value":"88027794841"},"channels":{"value":["email","smsq"]}}}`},
		{"whatsapp is not offered", pRequest{body: form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels][]", "whatsapp")}, 422,
			`{"errors":{"channels":["not_permitted"]},"messages":{"channels":"Channels has invalid value"},"additional_data":{"channels":{"value":["whatsapp"]}}}`},
		{"unknown user on verify", pRequest{verify: true, body: form("otp[identity]", "9044199921", "otp[code]", "123456", "otp[type]", "SignIn")}, 422,
			`{"errors":{"user":["not_found"]},"messages":{"user":"User not found"},"additional_data":{"user":{"search_term":"9044199921"}}}`},
		{"unknown user on send", pRequest{body: form("otp[identity]", "9044199921", "otp[type]", "SignIn")}, 422,
			`{"errors":{"user":["not_found"]},"messages":{"user":"User not found"},"additional_data":{"user":{"search_term":"9044199921"}}}`},
		{"nothing sent", pRequest{verify: true}, 422,
			`{"errors":{"identity":["required"],"type":["required"],"code":["required"]},"messages":{"identity":"Identity can't be blank","type":"Type can't be blank","code":"Code can't be blank"},"additional_data":{}}`},
		{"email malformed", pRequest{body: form("otp[identity]", "9044155723", "otp[email]", "not an email", "otp[type]", "SignIn")}, 422,
			`{"errors":{"email":["invalid_format"]},"messages":{"email":"Email has invalid value"},"additional_data":{"email":{"value":"not an email"}}}`},
		{"key twice", pRequest{body: form("otp[identity]", "9044155723", "otp[identity]", "8802779484", "otp[type]", "SignIn")}, 422,
			`{"errors":{"identity":["duplicate"]},"messages":{"identity":"Identity is given more than once"},"additional_data":{}}`},
		{"channels twice, two ways", pRequest{body: form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[channels]", "sms", "otp[channels][]", "email")}, 422,
			`{"errors":{"channels":["duplicate"]},"messages":{"channels":"Channels is given more than once"},"additional_data":{}}`},
		{"code on send_otp", pRequest{body: form("otp[identity]", "9044155723", "otp[type]", "SignIn", "otp[code]", "123456")}, 422,
			`{"errors":{"code":["unknown_field"]},"messages":{"code":"Code is not a permitted parameter"},"additional_data":{}}`},
		{"unknown key", pRequest{body: form("otp[identity]", "9044155723", "otp[type]", "SignIn", "identity", "1")}, 422,
			`{"errors":{"identity":["unknown_field"]},"messages":{"identity":"Identity is not a permitted parameter"},"additional_data":{}}`},
		{"list of identities", pRequest{body: form("otp[identity][]", "9044155723", "otp[type]", "SignIn")}, 422,
			`{"errors":{"identity":["invalid_type"]},"messages":{"identity":"Identity has invalid type"},"additional_data":{}}`},
		{"malformed code", pRequest{verify: true, body: form("otp[identity]", "9044155723", "otp[code]", "5154", "otp[type]", "SignIn")}, 422,
			`{"errors":{"code":["invalid"]},"messages":{"code":"Code has invalid value"},"additional_data":{}}`},
		{"no code was sent", pRequest{verify: true, body: form("otp[identity]", "9044155723", "otp[code]", "123456", "otp[type]", "SignUp")}, 422,
			`{"errors":{"code":["invalid"]},"messages":{"code":"Code has invalid value; no code was sent for this user and type"},"additional_data":{}}`},
		{"scope with a quote", pRequest{verify: true, body: form("otp[identity]", "9044155723", "otp[code]", "123456", "otp[type]", "SignIn", "otp[scope]", `a"b`)}, 422,
			`{"errors":{"scope":["invalid_format"]},"messages":{"scope":"Scope has invalid value"},"additional_data":{"scope":{"value":"a\"b"}}}`},
		{"JSON: identity a number", pRequest{contentType: "application/json", body: `{"otp": {"identity": 9044155723, "type": "SignIn"}}`}, 422,
			`{"errors":{"identity":["invalid_type"]},"messages":{"identity":"Identity has invalid type"},"additional_data":{}}`},
		{"JSON: otp not an object", pRequest{contentType: "application/json", body: `{"otp": "x"}`}, 422,
			`{"errors":{"otp":["invalid_type"]},"messages":{"otp":"Otp has invalid type"},"additional_data":{}}`},
		{"JSON: flat", pRequest{contentType: "application/json", body: `{"identity": "9044155723"}`}, 422,
			`{"errors":{"identity":["unknown_field"]},"messages":{"identity":"Identity is not a permitted parameter"},"additional_data":{}}`},
		{"JSON: member twice", pRequest{contentType: "application/json", body: `{"otp": {"type": "SignIn", "type": "SignUp"}}`}, 422,
			`{"errors":{"type":["duplicate"]},"messages":{"type":"Type is given more than once"},"additional_data":{}}`},
		{"JSON: member in another case", pRequest{contentType: "application/json", body: `{"otp": {"Type": "SignIn"}}`}, 422,
			`{"errors":{"Type":["unknown_field"]},"messages":{"Type":"Type is not a permitted parameter"},"additional_data":{}}`},
		{"JSON: channels of numbers", pRequest{contentType: "application/json", body: `{"otp": {"identity": "9044155723", "type": "SignIn", "channels": [1]}}`}, 422,
			`{"errors":{"channels":["invalid_type"]},"messages":{"channels":"Channels has invalid type"},"additional_data":{}}`},
		{"JSON: not JSON", pRequest{contentType: "application/json", body: `{"otp":`}, 400, `{"status":"Bad Request"}`},
		{"JSON: trailing data", pRequest{contentType: "application/json", body: `{"otp":{}} {}`}, 400, `{"status":"Bad Request"}`},
		{"form: bad escape", pRequest{body: "otp[identity]=%zz"}, 400, `{"status":"Bad Request"}`},
		{"text/plain", pRequest{contentType: "text/plain", body: "x"}, 415, `{"status":"Unsupported Media Type"}`},
		{"5 KiB", pRequest{body: form("otp[identity]", strings.Repeat("1", 5<<10))}, 413, `{"status":"Request Entity Too Large"}`},
		{"GET", pRequest{method: http.MethodGet}, 405, `{"status":"Method Not Allowed"}`},
		{"no integration", pRequest{integration: "-", body: form("otp[identity]", "9044155723")}, 401, `{"status":"Unauthorized"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(tt.rq)
			assert.Equal(t, tt.status, w.Code, "got status %d, want %d; body %s", w.Code, tt.status, w.Body.String())
			assert.JSONEq(t, tt.want, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			switch tt.status {
			case 405:
				assert.Equal(t, "POST", w.Header().Get("Allow"))
			case 415:
				assert.Equal(t, "application/x-www-form-urlencoded, application/json", w.Header().Get("Accept-Post"))
			case 401:
				assert.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPayUWrongExpiredAndLocked(t *testing.T) {
	e := newPEnv(t)
	send := func(identity string) string {
		t.Helper()
		w := e.send("otp[identity]", identity, "otp[type]", "SignIn")
		require.Equal(t, http.StatusOK, w.Code, "send_otp: body %s", w.Body.String())
		return e.lastCode(t, "+91"+identity)
	}
	verify := func(identity, code string) *httptest.ResponseRecorder {
		return e.verify("otp[identity]", identity, "otp[code]", code, "otp[type]", "SignIn")
	}

	code := send("8802779484")
	r := pAssertRefusal(t, verify("8802779484", hWrongCode(code)), 422)
	assert.Equal(t, map[string][]string{"code": {"invalid"}}, r.Errors)
	assert.Equal(t, "Code has invalid value", r.Messages["code"])

	// A code sent as SignIn does not verify as SignUp.
	w := e.verify("otp[identity]", "8802779484", "otp[code]", code, "otp[type]", "SignUp")
	assert.Equal(t, []string{"invalid"}, pAssertRefusal(t, w, 422).Errors["code"])

	e.clock.Advance(5*time.Minute + time.Second)
	r = pAssertRefusal(t, verify("8802779484", code), 422)
	assert.Equal(t, map[string][]string{"code": {"invalid"}}, r.Errors)
	assert.Equal(t, "Code has expired; request a new one", r.Messages["code"])

	// A code takes five guesses, then is spent even for the right one.
	code = send("8802779484")
	for range 5 {
		verify("8802779484", hWrongCode(code))
	}
	r = pAssertRefusal(t, verify("8802779484", code), 422)
	assert.Equal(t, map[string][]string{"code": {"invalid"}}, r.Errors)
	assert.Equal(t, "Maximum verification attempts reached; request a new code", r.Messages["code"])

	// Ten wrong guesses an hour lock the user for this partner.
	e.clock.Advance(61 * time.Second)
	code = send("8802779484")
	for i := 0; ; i++ {
		require.Less(t, i, 5, "not locked after 12 wrong guesses")
		w = verify("8802779484", hWrongCode(code))
		if !strings.Contains(w.Body.String(), `"code":["invalid"]`) {
			break
		}
	}
	r = pAssertRefusal(t, w, 422)
	assert.Equal(t, map[string][]string{"user": {"locked"}}, r.Errors)
	assert.Equal(t, map[string]string{"user": "User account is locked"}, r.Messages)
	assert.Equal(t, "8802779484", r.AdditionalData["user"]["search_term"])
	assert.Len(t, r.AdditionalData["user"], 2)
	lock, ok := r.AdditionalData["user"]["lock_duration"].(float64)
	require.True(t, ok, "lock_duration %v is not a number", r.AdditionalData["user"]["lock_duration"])
	assert.Positive(t, lock)
	assert.Equal(t, float64(int64(lock)), lock, "lock_duration is whole seconds")
	assert.Regexp(t, `"lock_duration":\d+,`, w.Body.String(), "lock_duration is an integer")

	// Locked on send_otp too, and on Zupy's verify-otp over the same
	// service: one store, one set of limits.
	r = pAssertRefusal(t, e.send("otp[identity]", "8802779484", "otp[type]", "SignIn"), 422)
	assert.Equal(t, []string{"locked"}, r.Errors["user"])
	zw := (&hEnv{h: e.zupy}).do(e.zupy.VerifyOTP(), hRequest{body: hVerifyBody(pLockedPhone, code)})
	p := hAssertProblem(t, zw, 429, "rate-limit-exceeded")
	require.NotNil(t, p.LockDuration)
	assert.Equal(t, int64(lock), *p.LockDuration)
	// Another partner is not locked out.
	w = e.do(pRequest{verify: true, integration: "saipos", body: form("otp[identity]", "8802779484", "otp[code]", "123456", "otp[type]", "SignIn")})
	assert.Equal(t, []string{"invalid"}, pAssertRefusal(t, w, 422).Errors["code"])
}

func TestPayUZupyLockHoldsOnPayU(t *testing.T) {
	e := newPEnv(t)
	z := &hEnv{h: e.zupy, out: e.out}
	for round := range 2 {
		require.Equal(t, http.StatusOK, z.request(`{"identifier": "+919044155723"}`).Code, "round %d", round)
		code := z.lastCode(t, pMerchantPhone)
		for range 5 {
			z.verify(hVerifyBody(pMerchantPhone, hWrongCode(code)))
		}
		e.clock.Advance(61 * time.Second)
	}
	r := pAssertRefusal(t, e.send("otp[identity]", "9044155723", "otp[type]", "SignIn"), 422)
	assert.Equal(t, []string{"locked"}, r.Errors["user"])
	assert.EqualValues(t, 3478, r.AdditionalData["user"]["lock_duration"])
}

func TestPayULimits(t *testing.T) {
	e := newPEnv(t)
	require.Equal(t, http.StatusOK, e.send("otp[identity]", "9044155723", "otp[type]", "SignIn").Code)
	e.clock.Advance(500 * time.Millisecond)
	w := e.send("otp[identity]", "9044155723", "otp[type]", "SignIn")
	r := pAssertRefusal(t, w, 429)
	assert.Equal(t, "60", w.Header().Get("Retry-After"))
	assert.Equal(t, map[string][]string{"otp": {"rate_limited"}}, r.Errors)
	assert.Equal(t, "A code was sent recently; wait before requesting another", r.Messages["otp"])
	assert.EqualValues(t, 60, r.AdditionalData["otp"]["retry_after"])
}

func TestPayUPolicies(t *testing.T) {
	t.Run("channel policy", func(t *testing.T) {
		e := newPEnv(t, func(c *pConfig) {
			c.opts = append(c.opts, otphttp.WithChannelPolicy(func(_ string, ch otpcode.Channel) bool { return ch != otpcode.ChannelSMS }))
		})
		w := e.send("otp[identity]", "9044155723", "otp[type]", "SignIn")
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"payload":{"email":["mexxxxxx@example.com"]}`)
		// The second merchant has only a phone.
		r := pAssertRefusal(t, e.send("otp[identity]", "8802779484", "otp[type]", "SignIn", "otp[channels][]", "sms"), 422)
		assert.Equal(t, map[string][]string{"channels": {"not_permitted"}}, r.Errors)
		assert.Equal(t, map[string]any{"value": []any{"sms"}}, r.AdditionalData["channels"])
	})
	t.Run("scopes", func(t *testing.T) {
		e := newPEnv(t, func(c *pConfig) { c.opts = append(c.opts, otphttp.WithScopesAllowed("redeem_reward", "use_coupon")) })
		require.Equal(t, http.StatusOK, e.send("otp[identity]", "9044155723", "otp[type]", "SignIn").Code)
		code := e.lastCode(t, pMerchantPhone)
		r := pAssertRefusal(t, e.verify("otp[identity]", "9044155723", "otp[code]", code, "otp[type]", "SignIn", "otp[scope]", "user_profile"), 422)
		assert.Equal(t, map[string][]string{"scope": {"not_permitted"}}, r.Errors)
		w := e.verify("otp[identity]", "9044155723", "otp[code]", code, "otp[type]", "SignIn", "otp[scope]", "use_coupon redeem_reward")
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"scope":"use_coupon redeem_reward"`)
	})
	t.Run("unknown user without Users", func(t *testing.T) {
		e := newPEnv(t, func(c *pConfig) { c.noUsers = true })
		w := e.verify("otp[identity]", "9044199921", "otp[code]", "123456", "otp[type]", "SignIn")
		r := pAssertRefusal(t, w, 422)
		assert.Equal(t, []string{"invalid"}, r.Errors["code"], "the service alone cannot tell an unknown user")
	})
}

func TestPayUAudit(t *testing.T) {
	e := newPEnv(t)
	pAssertRefusal(t, e.verify("otp[identity]", "9044199921", "otp[code]", "123456", "otp[type]", "SignIn"), 422)
	pAssertRefusal(t, e.send("otp[identity]", "9044155723", "otp[type]", "SignInas"), 422)
	require.Equal(t, http.StatusOK, e.send("otp[identity]", "9044155723", "otp[type]", "SignIn").Code)
	logs := e.logs.String()
	// The same outcomes as Zupy's contract, with the status PayU's got.
	assert.Contains(t, logs, `"msg":"otp.verify","integration":"goomer","outcome":"not-found","status":422`)
	assert.Contains(t, logs, `"msg":"otp.request","integration":"goomer","outcome":"validation-error","status":422`)
	assert.Contains(t, logs, `"msg":"otp.request","integration":"goomer","outcome":"sent","channel":"sms"`)
	assert.NotContains(t, logs, "9044155723", "the identity is in the logs")
	assert.NotContains(t, logs, "9044199921", "the identity is in the logs")
}

func TestPayUStoreDown(t *testing.T) {
	svc := newHServiceOn(t, hFailingStore{})
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	h, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"SignIn"}})))
	require.NoError(t, err)
	e := &pEnv{payu: h}
	w := e.send("otp[identity]", "9044155723", "otp[type]", "SignIn")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"status":"Service Unavailable"}`, w.Body.String())
	assert.NotContains(t, w.Body.String(), "connection refused")
}

func TestPayUConfig(t *testing.T) {
	svc := newHService(t) // WhatsApp only
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	tests := []struct {
		name string
		opt  otphttp.Option
		want string
	}{
		{"nil contract", otphttp.WithContract(nil), "nil contract"},
		{"no types", otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{})), "without types"},
		{"type with space", otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"Sign In"}})), `"Sign In" is not a purpose`},
		{"type twice", otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"SignIn", "SignIn"}})), "appears twice"},
		{"region", otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"SignIn"}, Region: "in"})), `region "in"`},
		{"channel not in the service", otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"SignIn"}, Channels: []otpcode.Channel{otpcode.ChannelSMS}})), `channel "sms" is not a channel of the service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := otphttp.New(web, svc, tt.opt)
			assert.Nil(t, h)
			require.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	h, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{Types: []string{"SignIn"}})))
	require.NoError(t, err, "region IN and the service's channels by default")
	assert.NotNil(t, h)
}

func TestPayUUnauthorized(t *testing.T) {
	w := httptest.NewRecorder()
	otphttp.PayUUnauthorized(w, httptest.NewRequest(http.MethodPost, "/", nil), middleware.ErrMissingScope)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, `{"status":"Unauthorized"}`+"\n", w.Body.String())
}

// newHServiceOn returns a service over st, WhatsApp only.
func newHServiceOn(t *testing.T, st store.Store) *otpcode.Service {
	t.Helper()
	keys, err := keyring.New(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	require.NoError(t, err)
	svc, err := otpcode.NewService(st, keys, chain)
	require.NoError(t, err)
	return svc
}

// TestPayUMaskedAddresses pins the masks of send_otp's payload.
func TestPayUMaskedAddresses(t *testing.T) {
	e := newPEnv(t, func(c *pConfig) { c.noUsers = true })
	for identity, want := range map[string]string{
		"9044199921":        `{"sms":["90xxxxxx21"]}`,
		"+5521988887777":    `{"sms":["21xxxxxxx77"]}`,
		"a@example.com":     `{"email":["x@example.com"]}`,
		"ab@example.com":    `{"email":["xx@example.com"]}`,
		"abcdef@example.io": `{"email":["abxxxx@example.io"]}`,
	} {
		e.clock.Advance(time.Hour)
		w := e.send("otp[identity]", identity, "otp[type]", "SignUp")
		require.Equal(t, http.StatusOK, w.Code, "%s: body %s", identity, w.Body.String())
		assert.Regexp(t, regexp.QuoteMeta(`"payload":`+want), w.Body.String(), "identity %s", identity)
	}
}
