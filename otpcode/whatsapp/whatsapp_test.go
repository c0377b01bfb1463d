package whatsapp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/httpsend/httpsendtest"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
)

const (
	testToken   = "EAAtest-secret-token-42"
	testPhoneID = "106540352242922"
	testCode    = "493817"
)

// captured is one request the fake API received.
type captured struct {
	Method, Path, Auth, ContentType string
	Body                            map[string]any
}

// fakeAPI is an httptest server that records requests and answers with a
// fixed status and body.
type fakeAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []captured
}

func newFakeAPI(t *testing.T, status int, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := captured{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
		_ = json.Unmarshal(raw, &c.Body)
		f.mu.Lock()
		f.requests = append(f.requests, c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) got() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.requests...)
}

func newSender(t *testing.T, baseURL string, opts ...whatsapp.Option) *whatsapp.Sender {
	t.Helper()
	opts = append([]whatsapp.Option{whatsapp.WithBaseURL(baseURL)}, opts...)
	s, err := whatsapp.New(whatsapp.Config{Token: testToken, PhoneNumberID: testPhoneID}, opts...)
	require.NoError(t, err)
	return s
}

func message(locale string) otpcode.Message {
	return otpcode.Message{
		Channel:   otpcode.ChannelWhatsApp,
		To:        "+5511987654321",
		Code:      testCode,
		TTL:       5 * time.Minute,
		ExpiresAt: time.Date(2025, 1, 2, 3, 9, 5, 0, time.UTC),
		Locale:    locale,
	}
}

const okBody = `{"messaging_product":"whatsapp","contacts":[{"input":"5511987654321","wa_id":"5511987654321"}],"messages":[{"id":"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDJBQ0Y3"}]}`

func expectedBody(lang string) map[string]any {
	raw := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","type":"template",
	"template":{"name":"otp_code","language":{"code":"` + lang + `"},"components":[
	{"type":"body","parameters":[{"type":"text","text":"` + testCode + `"}]},
	{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"` + testCode + `"}]}]}}`
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		panic(err)
	}
	return m
}

func TestSendRequest(t *testing.T) {
	tests := []struct {
		locale, wantLang string
	}{
		{"pt-BR", "pt_BR"},
		{"en", "en_US"},
		{"EN-gb", "en_US"},
		{"", "pt_BR"},
		{"fr", "pt_BR"},
	}
	for _, tt := range tests {
		t.Run("locale="+tt.locale, func(t *testing.T) {
			api := newFakeAPI(t, http.StatusOK, okBody)
			s := newSender(t, api.srv.URL)
			require.NoError(t, s.Send(context.Background(), message(tt.locale)))

			reqs := api.got()
			require.Len(t, reqs, 1, "got %d requests, want 1", len(reqs))
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.Method, "got method %s, want POST", r.Method)
			assert.Equal(t, "/v21.0/"+testPhoneID+"/messages", r.Path, "got path %s", r.Path)
			assert.Equal(t, "Bearer "+testToken, r.Auth, "got Authorization %q", r.Auth)
			assert.Equal(t, "application/json", r.ContentType, "got Content-Type %q", r.ContentType)
			assert.Equal(t, expectedBody(tt.wantLang), r.Body, "got body %v, want language %s", r.Body, tt.wantLang)
		})
	}
}

func TestSendOptions(t *testing.T) {
	api := newFakeAPI(t, http.StatusOK, okBody)
	s := newSender(t, api.srv.URL+"/",
		whatsapp.WithVersion("v22.0"),
		whatsapp.WithTemplate("loja_otp"),
		whatsapp.WithLanguage("es", "es"),
		whatsapp.WithDefaultLanguage("en_US"),
		whatsapp.WithHTTPClient(&http.Client{}),
	)
	require.NoError(t, s.Send(context.Background(), message("es-AR")))
	require.NoError(t, s.Send(context.Background(), message("de")))

	reqs := api.got()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/v22.0/"+testPhoneID+"/messages", reqs[0].Path, "got path %s", reqs[0].Path)
	tpl := reqs[0].Body["template"].(map[string]any)
	assert.Equal(t, "loja_otp", tpl["name"], "got template %v, want loja_otp", tpl["name"])
	assert.Equal(t, map[string]any{"code": "es"}, tpl["language"], "got language %v, want es", tpl["language"])
	tpl = reqs[1].Body["template"].(map[string]any)
	assert.Equal(t, map[string]any{"code": "en_US"}, tpl["language"], "got language %v, want default en_US", tpl["language"])
}

// assertClean checks that err's text leaks neither the code nor the token.
func assertClean(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	assert.NotContains(t, msg, testCode, "error %q contains the code", msg)
	assert.NotContains(t, msg, testToken, "error %q contains the token", msg)
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   error
		wantReason string
	}{
		{"rate limit", 429, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"AbC"}}`, otpcode.ErrRetryable, "130429: rate limited"},
		{"pair rate limit", 400, `{"error":{"message":"(#131056) pair rate limit hit","type":"OAuthException","code":131056}}`, otpcode.ErrRetryable, "131056: rate limited"},
		{"invalid recipient", 400, `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"fbtrace_id":"AbC"}}`, otpcode.ErrPermanent, "131026: recipient cannot receive messages"},
		{"expired token", 401, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}`, otpcode.ErrPermanent, "190: invalid or expired access token"},
		{"permission", 403, `{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200}}`, otpcode.ErrPermanent, "200: permission denied"},
		{"template echoes parameter", 400, `{"error":{"message":"(#132000) Number of parameters does not match: ` + testCode + `","type":"OAuthException","code":132000}}`, otpcode.ErrPermanent, "132000: template problem"},
		{"invalid parameter", 400, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`, otpcode.ErrPermanent, "100: invalid parameter"},
		{"something went wrong", 500, `{"error":{"message":"Something went wrong","code":131000}}`, otpcode.ErrRetryable, "131000: provider temporarily unavailable"},
		{"plain 500", 500, `<html>Internal Server Error</html>`, otpcode.ErrRetryable, "http 500: provider error"},
		{"plain 503", 503, ``, otpcode.ErrRetryable, "http 503: provider error"},
		{"unknown 4xx", 404, `{"error":{"message":"Unknown path","code":987654}}`, otpcode.ErrPermanent, "987654: request rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.status, tt.body)
			s := newSender(t, api.srv.URL)
			err := s.Send(context.Background(), message("pt-BR"))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantKind, "got %v, want %v", err, tt.wantKind)

			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, otpcode.ChannelWhatsApp, se.Channel, "got channel %s", se.Channel)
			assert.Equal(t, tt.status, se.Status, "got status %d, want %d", se.Status, tt.status)
			assert.Equal(t, tt.wantReason, se.Reason, "got reason %q, want %q", se.Reason, tt.wantReason)
			var ae *whatsapp.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.Status, "got API status %d, want %d", ae.Status, tt.status)
			assertClean(t, err)
			assertClean(t, se.Err)
		})
	}
}

func TestSendTimeout(t *testing.T) {
	s := newSender(t, httpsendtest.Stall(t, nil), whatsapp.WithTimeout(100*time.Millisecond))

	start := time.Now()
	err := s.Send(context.Background(), message("pt-BR"))
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "got %v, want DeadlineExceeded", err)
	assert.Less(t, elapsed, time.Second, "got %v, want about the 100ms timeout", elapsed)
	assertClean(t, err)
}

func TestSendCallerCanceled(t *testing.T) {
	started := make(chan struct{})
	s := newSender(t, httpsendtest.Stall(t, started))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Send(ctx, message("pt-BR")) }()
	<-started
	cancel()
	select {
	case err := <-errc:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
		var se *otpcode.SendError
		assert.ErrorAs(t, err, &se, "got %T, want *otpcode.SendError", err)
		assertClean(t, err)
	case <-time.After(time.Second):
		t.Fatal("Send did not return after the caller's context was canceled")
	}

	// Already canceled: nothing is sent.
	api := newFakeAPI(t, http.StatusOK, okBody)
	s = newSender(t, api.srv.URL)
	err := s.Send(ctx, message("pt-BR"))
	assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
	assert.Empty(t, api.got(), "got requests after a canceled context, want none")
}

func TestSendNetworkError(t *testing.T) {
	s := newSender(t, httpsendtest.Closed())
	err := s.Send(context.Background(), message("pt-BR"))
	require.Error(t, err)
	assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
	assertClean(t, err)
	var se *otpcode.SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "network error", se.Reason, "got reason %q, want network error", se.Reason)
	assertClean(t, se.Err)
}

func TestSendInvalidMessage(t *testing.T) {
	tests := []struct {
		name string
		to   string
		code string
	}{
		{"email recipient", "ana@example.com", testCode},
		{"too short", "+12345", testCode},
		{"letters", "+5511abc654321", testCode},
		{"empty code", "+5511987654321", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, http.StatusOK, okBody)
			s := newSender(t, api.srv.URL)
			m := message("pt-BR")
			m.To, m.Code = tt.to, tt.code
			err := s.Send(context.Background(), m)
			assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
			assert.Empty(t, api.got(), "got requests for an invalid message, want none")
		})
	}
}

func TestNewValidation(t *testing.T) {
	valid := whatsapp.Config{Token: testToken, PhoneNumberID: testPhoneID}
	tests := []struct {
		name string
		cfg  whatsapp.Config
		opts []whatsapp.Option
	}{
		{"no token", whatsapp.Config{PhoneNumberID: testPhoneID}, nil},
		{"token with newline", whatsapp.Config{Token: testToken + "\r\nX: y", PhoneNumberID: testPhoneID}, nil},
		{"no phone ID", whatsapp.Config{Token: testToken}, nil},
		{"phone ID with path", whatsapp.Config{Token: testToken, PhoneNumberID: "1/../2"}, nil},
		{"http to remote host", valid, []whatsapp.Option{whatsapp.WithBaseURL("http://graph.facebook.com")}},
		{"credentials in URL", valid, []whatsapp.Option{whatsapp.WithBaseURL("https://u:p@graph.facebook.com")}},
		{"path in URL", valid, []whatsapp.Option{whatsapp.WithBaseURL("https://graph.facebook.com/v21.0")}},
		{"bad version", valid, []whatsapp.Option{whatsapp.WithVersion("21")}},
		{"bad template", valid, []whatsapp.Option{whatsapp.WithTemplate("OTP Code")}},
		{"bad language", valid, []whatsapp.Option{whatsapp.WithLanguage("es", "es\"x")}},
		{"bad default language", valid, []whatsapp.Option{whatsapp.WithDefaultLanguage("")}},
		{"zero timeout", valid, []whatsapp.Option{whatsapp.WithTimeout(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := whatsapp.New(tt.cfg, tt.opts...)
			assert.Nil(t, s, "got a sender, want nil")
			require.ErrorIs(t, err, whatsapp.ErrInvalidConfig, "got %v, want ErrInvalidConfig", err)
			assert.NotContains(t, err.Error(), testToken, "error %q contains the token", err)
		})
	}

	s, err := whatsapp.New(valid)
	require.NoError(t, err)
	assert.Equal(t, "pt_BR", s.Language("pt-BR"), "got %s, want pt_BR", s.Language("pt-BR"))
	_, err = whatsapp.New(valid, whatsapp.WithBaseURL("http://127.0.0.1:8080"))
	assert.NoError(t, err, "got %v, want http allowed on loopback", err)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status, code  int
		wantRetryable bool
	}{
		{429, 0, true},
		{400, 4, true},
		{400, 80007, true},
		{400, 131048, true},
		{500, 2, true},
		{502, 0, true},
		{401, 0, false},
		{400, 10, false},
		{400, 131009, false},
		{400, 132001, false},
		{400, 0, false},
	}
	for _, tt := range tests {
		retryable, reason := whatsapp.Classify(tt.status, tt.code)
		assert.Equal(t, tt.wantRetryable, retryable, "Classify(%d, %d): got retryable %v (%s), want %v", tt.status, tt.code, retryable, reason, tt.wantRetryable)
		assert.NotEmpty(t, reason, "Classify(%d, %d): got empty reason", tt.status, tt.code)
		assert.False(t, strings.ContainsAny(reason, "\r\n"), "reason %q has a line break", reason)
	}
}

func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, okBody)
	}))
	defer srv.Close()
	s, err := whatsapp.New(whatsapp.Config{Token: testToken, PhoneNumberID: testPhoneID}, whatsapp.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	m := message("pt-BR")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}
