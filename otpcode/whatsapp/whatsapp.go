// Package whatsapp delivers one-time codes through the WhatsApp Business
// Cloud API, as an authentication template message with a copy-code button.
//
// A Sender posts, for every code,
//
//	POST {BaseURL}/{Version}/{PhoneNumberID}/messages
//	Authorization: Bearer {Token}
//
// with a "template" message whose body parameter and copy-code (URL) button
// parameter both carry the code. The template must exist and be approved in
// the WhatsApp Business Account: create it in the AUTHENTICATION category with
// a copy-code button, in every language the sender may pick (by default
// "otp_code" in pt_BR and en_US).
//
// Configuration:
//
//	s, err := whatsapp.New(whatsapp.Config{
//		Token:         os.Getenv("WHATSAPP_TOKEN"),
//		PhoneNumberID: os.Getenv("WHATSAPP_PHONE_NUMBER_ID"),
//	},
//		whatsapp.WithTemplate("loja_otp"),
//		whatsapp.WithLanguage("es", "es"),
//		whatsapp.WithTimeout(5*time.Second),
//	)
//
// Failures are *otpcode.SendError values: rate limits, 5xx responses,
// network errors and timeouts are retryable (otpcode.ErrRetryable); an
// invalid token, a missing permission, an invalid recipient, a template
// problem or any other 4xx is permanent (otpcode.ErrPermanent). A
// SendError's Reason is "<Graph error code>: <category>", using this
// package's own category names and never the provider's message text, which
// can echo the request parameters (the code). Neither the code nor the token
// appears in any error string.
package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/otpguard/otpguard/internal/httpsend"
	"github.com/otpguard/otpguard/otpcode"
)

// Defaults used by New when an option does not override them.
const (
	// DefaultBaseURL is the Graph API host.
	DefaultBaseURL = "https://graph.facebook.com"
	// DefaultVersion is the Graph API version in the request path.
	DefaultVersion = "v21.0"
	// DefaultTemplate is the name of the authentication template sent.
	DefaultTemplate = "otp_code"
	// DefaultLanguage is the template language used when a message's locale
	// has no mapping.
	DefaultLanguage = "pt_BR"
	// DefaultTimeout bounds one Send, from the request to the last byte of
	// the response read.
	DefaultTimeout = 10 * time.Second
)

// maxResponseBody is how much of a response body Send reads.
const maxResponseBody = 64 << 10

// ErrInvalidConfig is wrapped by every error New returns for a bad Config or
// option.
var ErrInvalidConfig = errors.New("whatsapp: invalid configuration")

// Config holds the credentials a Sender cannot work without.
type Config struct {
	// Token is the Cloud API access token (a system-user token in
	// production). It is sent as a bearer token and never logged.
	Token string
	// PhoneNumberID is the ID (digits) of the business phone number that
	// sends the messages; it is not the phone number itself.
	PhoneNumberID string
}

// Option changes a Sender's default settings in New.
type Option func(*Sender)

// WithBaseURL sets the API's base URL (default DefaultBaseURL). It must be
// an https URL without a path other than "/", credentials, query or
// fragment; plain http is accepted only for a loopback host, which is meant
// for tests.
func WithBaseURL(u string) Option { return func(s *Sender) { s.baseURL = u } }

// WithVersion sets the Graph API version such as "v21.0" (default
// DefaultVersion).
func WithVersion(v string) Option { return func(s *Sender) { s.version = v } }

// WithTemplate sets the name of the authentication template to send
// (default DefaultTemplate, "otp_code"). Names are lowercase letters,
// digits and underscores, as WhatsApp requires.
func WithTemplate(name string) Option { return func(s *Sender) { s.template = name } }

// WithLanguage maps a message locale (such as "es" or "pt-PT") to a
// template language code (such as "es" or "pt_PT"). It adds to, or
// replaces, the default mappings "pt-BR" → "pt_BR" and "en" → "en_US".
// Locales are matched case-insensitively; a locale with a region that has
// no mapping of its own ("en-GB") uses its language's mapping ("en").
func WithLanguage(locale, code string) Option {
	return func(s *Sender) { s.languages[strings.ToLower(locale)] = code }
}

// WithDefaultLanguage sets the template language used when a message's
// locale has no mapping (default DefaultLanguage, "pt_BR").
func WithDefaultLanguage(code string) Option { return func(s *Sender) { s.defaultLang = code } }

// WithHTTPClient sets the HTTP client (default: a client with a timeout of
// the Send timeout that does not follow redirects). The client must be safe
// for concurrent use.
func WithHTTPClient(c *http.Client) Option { return func(s *Sender) { s.client = c } }

// WithTimeout bounds each Send (default DefaultTimeout). When it passes,
// Send returns a retryable error wrapping context.DeadlineExceeded.
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// Sender sends codes through the WhatsApp Cloud API. It implements
// otpcode.Sender and is safe for concurrent use once New returns it.
type Sender struct {
	token       string
	phoneID     string
	baseURL     string
	version     string
	template    string
	languages   map[string]string
	defaultLang string
	client      *http.Client
	timeout     time.Duration
	endpoint    string
}

var (
	phoneIDPattern  = regexp.MustCompile(`^[0-9]{1,32}$`)
	versionPattern  = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}$`)
	templatePattern = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	langPattern     = regexp.MustCompile(`^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$`)
)

// New returns a Sender for cfg, with opts applied over the defaults. It
// checks the whole configuration and returns an error wrapping
// ErrInvalidConfig when something is missing or malformed; the error never
// contains the token.
func New(cfg Config, opts ...Option) (*Sender, error) {
	s := &Sender{
		token:       cfg.Token,
		phoneID:     cfg.PhoneNumberID,
		baseURL:     DefaultBaseURL,
		version:     DefaultVersion,
		template:    DefaultTemplate,
		languages:   map[string]string{"pt-br": "pt_BR", "en": "en_US"},
		defaultLang: DefaultLanguage,
		timeout:     DefaultTimeout,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.client == nil {
		s.client = httpsend.Client(s.timeout)
	}
	return s, nil
}

func (s *Sender) validate() error {
	switch {
	case s.token == "":
		return fmt.Errorf("%w: token is empty", ErrInvalidConfig)
	case httpsend.BadCredential(s.token):
		return fmt.Errorf("%w: token contains spaces or control characters", ErrInvalidConfig)
	case !phoneIDPattern.MatchString(s.phoneID):
		return fmt.Errorf("%w: phone number ID %q must be digits", ErrInvalidConfig, s.phoneID)
	case !versionPattern.MatchString(s.version):
		return fmt.Errorf("%w: version %q must look like v21.0", ErrInvalidConfig, s.version)
	case !templatePattern.MatchString(s.template):
		return fmt.Errorf("%w: template name %q must be lowercase letters, digits and underscores", ErrInvalidConfig, s.template)
	case !langPattern.MatchString(s.defaultLang):
		return fmt.Errorf("%w: default language %q is not a language code", ErrInvalidConfig, s.defaultLang)
	case s.timeout <= 0:
		return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, s.timeout)
	}
	for locale, code := range s.languages {
		if locale == "" || !langPattern.MatchString(code) {
			return fmt.Errorf("%w: language mapping %q → %q", ErrInvalidConfig, locale, code)
		}
	}
	base, err := httpsend.BaseURL(s.baseURL, ErrInvalidConfig)
	if err != nil {
		return err
	}
	s.endpoint = base + "/" + s.version + "/" + s.phoneID + "/messages"
	return nil
}

// Language returns the template language code used for locale.
func (s *Sender) Language(locale string) string {
	l := strings.ToLower(locale)
	if code, ok := s.languages[l]; ok {
		return code
	}
	if i := strings.IndexAny(l, "-_"); i > 0 {
		if code, ok := s.languages[l[:i]]; ok {
			return code
		}
	}
	return s.defaultLang
}

// Request bodies, in the Cloud API's shape.
type (
	messageBody struct {
		MessagingProduct string       `json:"messaging_product"`
		RecipientType    string       `json:"recipient_type"`
		To               string       `json:"to"`
		Type             string       `json:"type"`
		Template         templateBody `json:"template"`
	}
	templateBody struct {
		Name       string      `json:"name"`
		Language   language    `json:"language"`
		Components []component `json:"components"`
	}
	language struct {
		Code string `json:"code"`
	}
	component struct {
		Type       string      `json:"type"`
		SubType    string      `json:"sub_type,omitempty"`
		Index      string      `json:"index,omitempty"`
		Parameters []parameter `json:"parameters"`
	}
	parameter struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
)

// graphError is the Graph API's error envelope.
type graphError struct {
	Error struct {
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// Send delivers m.Code to the phone number m.To (E.164, "+5511987654321")
// as the configured template in the language mapped from m.Locale. It
// returns nil once the API accepts the message (any 2xx), and otherwise a
// *otpcode.SendError. When ctx is done before the API answers, the error
// also wraps ctx.Err(); when the Send timeout passes first, it is
// retryable and wraps context.DeadlineExceeded.
func (s *Sender) Send(ctx context.Context, m otpcode.Message) error {
	if err := ctx.Err(); err != nil {
		return httpsend.Canceled(otpcode.ChannelWhatsApp, "whatsapp", err)
	}
	to, ok := recipient(m.To)
	if !ok {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Reason: "invalid recipient: not an E.164 phone number"}
	}
	if m.Code == "" {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Reason: "empty code"}
	}
	params := []parameter{{Type: "text", Text: m.Code}}
	body, err := json.Marshal(messageBody{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               to,
		Type:             "template",
		Template: templateBody{
			Name:     s.template,
			Language: language{Code: s.Language(m.Locale)},
			Components: []component{
				{Type: "body", Parameters: params},
				{Type: "button", SubType: "url", Index: "0", Parameters: params},
			},
		},
	})
	if err != nil {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Reason: "encode request", Err: err}
	}

	sendCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(sendCtx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Reason: "build request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		return httpsend.Transport(otpcode.ChannelWhatsApp, "whatsapp", ctx, sendCtx, s.timeout, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if err != nil && len(raw) == 0 {
		return httpsend.Transport(otpcode.ChannelWhatsApp, "whatsapp", ctx, sendCtx, s.timeout, err)
	}
	var ge graphError
	_ = json.Unmarshal(raw, &ge) // a body that is not the Graph shape leaves the code at 0
	retryable, reason := Classify(resp.StatusCode, ge.Error.Code)
	return &otpcode.SendError{
		Channel:   otpcode.ChannelWhatsApp,
		Retryable: retryable,
		Status:    resp.StatusCode,
		Reason:    reason,
		Err:       &APIError{Status: resp.StatusCode, Code: ge.Error.Code, Subcode: ge.Error.Subcode, Type: ge.Error.Type, TraceID: ge.Error.FBTraceID},
	}
}

// recipient turns an E.164 number into the digits the API expects.
func recipient(to string) (string, bool) {
	d := strings.TrimPrefix(to, "+")
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return d, true
}

// APIError is the provider detail of a refused request, available with
// errors.As on a Send error. It carries the Graph error's numbers, never its
// message text.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code and Subcode are the Graph API's error.code and
	// error.error_subcode, or 0.
	Code, Subcode int
	// Type is the Graph API's error.type, such as "OAuthException".
	Type string
	// TraceID is the fbtrace_id to quote to Meta support.
	TraceID string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("whatsapp: api error: http %d, code %d, subcode %d, trace %q", e.Status, e.Code, e.Subcode, e.TraceID)
}

// Classify tells whether a refused request with HTTP status and Graph
// error code (0 when unknown) is worth retrying, and returns a short reason
// "<code>: <category>" (or "http <status>: <category>" without a code).
// A code it knows decides; otherwise 429 and 5xx are retryable and any
// other status is permanent.
func Classify(status, code int) (retryable bool, reason string) {
	retryable, category, known := classifyCode(code)
	if !known {
		switch {
		case status == http.StatusTooManyRequests:
			retryable, category = true, "rate limited"
		case status >= 500:
			retryable, category = true, "provider error"
		case status == http.StatusUnauthorized:
			category = "invalid credential"
		case status == http.StatusForbidden:
			category = "permission denied"
		case status >= 300 && status < 400:
			category = "unexpected redirect"
		default:
			category = "request rejected"
		}
	}
	if code == 0 {
		return retryable, fmt.Sprintf("http %d: %s", status, category)
	}
	return retryable, fmt.Sprintf("%d: %s", code, category)
}

// classifyCode knows the Graph and WhatsApp error codes that matter when
// sending a template.
func classifyCode(code int) (retryable bool, category string, known bool) {
	switch {
	case code == 0:
		return false, "", false
	case code == 4 || code == 80007 || code == 130429 || code == 131048 || code == 131056 || code == 133016:
		return true, "rate limited", true
	case code == 1 || code == 2 || code == 131000 || code == 131016 || code == 131057 || code == 133004:
		return true, "provider temporarily unavailable", true
	case code == 190:
		return false, "invalid or expired access token", true
	case code == 10 || (code >= 200 && code <= 299):
		return false, "permission denied", true
	case code == 3:
		return false, "capability missing", true
	case code == 368 || code == 131031:
		return false, "account restricted", true
	case code == 131026:
		return false, "recipient cannot receive messages", true
	case code == 131030:
		return false, "recipient not allowed", true
	case code == 131042:
		return false, "payment problem", true
	case code == 131049:
		return false, "not delivered by provider choice", true
	case code == 100 || code == 131008 || code == 131009 || code == 131051:
		return false, "invalid parameter", true
	case code >= 132000 && code <= 132999:
		return false, "template problem", true
	case code == 133010:
		return false, "sender phone number not registered", true
	}
	return false, "", false
}
