package otphttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
)

// Contract is a wire format of the OTP endpoints: how a request's body
// becomes the service's input, how a sent code, a verification and each
// refusal are answered, and in which region identifiers typed without a
// country code are. Zupy returns Zupy's contract, the default; PayU returns
// PayU's. Choose one with WithContract.
//
// A contract only translates: the handlers check the method and the
// calling integration, apply the channel and scope policies (WithChannelPolicy,
// WithScopesAllowed), call the service and write the audit log, the same
// for every contract. Handlers of two contracts built over one
// otpcode.Service therefore share its codes, locks and budgets: a customer
// locked through one contract's endpoints is locked on the other's.
//
// The set of contracts is closed; a Contract is only made by this package.
// A Contract is a plain value, safe for concurrent use.
type Contract interface {
	// bind checks the contract against svc and returns it ready to
	// serve; New calls it once.
	bind(svc *otpcode.Service) (contract, error)
}

// WithContract sets the wire format of the handlers. Default: Zupy(). A
// PayU contract's configuration is checked by New, which returns its
// problems with the others.
func WithContract(c Contract) Option {
	return func(h *Handlers) error {
		if c == nil {
			return errors.New("nil contract")
		}
		h.wire = c
		return nil
	}
}

// Zupy returns Zupy's contract, the handlers' default, described on
// Handlers: JSON bodies {"identifier", "otp_code", ...}, answers in
// {"data": ..., "meta": {}} and RFC 9457 problem details under the shared
// problem base. Identifiers typed without a country code are in the
// service's region (otpcode.WithRegion).
func Zupy() Contract { return zupyContract{} }

// contract is a Contract bound to a service.
type contract interface {
	// open starts the exchange of one request.
	open(h *Handlers, w http.ResponseWriter, r *http.Request) exchange
}

// exchange is one request and its answer in a contract's wire format. The
// handlers call at most one decode method, then one of the others.
type exchange interface {
	// decodeRequest reads a request for a code. Its error is answered with
	// failed.
	decodeRequest() (otpcode.RequestInput, error)
	// decodeVerify reads a verification. Its error is answered with
	// failed.
	decodeVerify() (otpcode.VerifyInput, error)
	// requested answers a sent code.
	requested(res otpcode.RequestResult)
	// verified answers a verification. It writes nothing when it returns
	// an error (a Profile value that cannot be encoded).
	verified(res otpcode.VerifyResult) error
	// failed answers err (errMethodNotAllowed, errNoIntegration, a
	// decoding error or an error of the service) and returns the status it
	// wrote.
	failed(err error) int
}

// Refusals of the handlers themselves, answered by the contract.
var (
	errMethodNotAllowed = errors.New("otphttp: method not allowed")
	errNoIntegration    = errors.New("otphttp: no integration")
)

// problemError is a refusal of a request's body, as the problem Zupy's
// contract answers it with; other contracts answer its Status their way.
type problemError struct{ p middleware.Problem }

func (e *problemError) Error() string { return "otphttp: " + e.p.Type + ": " + e.p.Detail }

// zupyProblem returns the problem of err in Zupy's contract. Its Type names
// the outcome of every refusal in the audit log, whatever the contract.
func zupyProblem(err error) middleware.Problem {
	var pe *problemError
	switch {
	case errors.As(err, &pe):
		return pe.p
	case errors.Is(err, errMethodNotAllowed):
		return middleware.Problem{
			Type:   middleware.TypeMethodNotAllowed,
			Title:  "Method Not Allowed",
			Status: http.StatusMethodNotAllowed,
			Detail: "use POST",
		}
	case errors.Is(err, errNoIntegration):
		return middleware.Problem{
			Type:   middleware.TypeAuthenticationNeeded,
			Title:  "Authentication Required",
			Status: http.StatusUnauthorized,
			Detail: "a valid API key is required",
		}
	}
	return serviceProblem(err)
}

// zupyContract is Zupy's contract.
type zupyContract struct{}

func (c zupyContract) bind(*otpcode.Service) (contract, error) { return c, nil }

func (zupyContract) open(h *Handlers, w http.ResponseWriter, r *http.Request) exchange {
	return &zupyExchange{h: h, w: w, r: r}
}

// zupyExchange is one request in Zupy's contract.
type zupyExchange struct {
	h *Handlers
	w http.ResponseWriter
	r *http.Request
}

type requestBody struct {
	Identifier     string `json:"identifier"`
	IdentifierType string `json:"identifier_type"`
	Channel        string `json:"channel"`
	Purpose        string `json:"purpose"`
	Locale         string `json:"locale"`
}

type verifyBody struct {
	Identifier     string `json:"identifier"`
	IdentifierType string `json:"identifier_type"`
	OTPCode        string `json:"otp_code"`
	Purpose        string `json:"purpose"`
	Scope          string `json:"scope"`
}

type requestData struct {
	Status    string `json:"status"`
	Channel   string `json:"channel"`
	ExpiresIn int64  `json:"expires_in"`
}

type envelope struct {
	Data any      `json:"data"`
	Meta struct{} `json:"meta"`
}

func (x *zupyExchange) decodeRequest() (otpcode.RequestInput, error) {
	var body requestBody
	if err := x.h.decodeJSON(x.w, x.r, &body); err != nil {
		return otpcode.RequestInput{}, err
	}
	kind, p, ok := x.h.checkOptional(body.IdentifierType, body.Purpose, body.Locale)
	if !ok {
		return otpcode.RequestInput{}, &problemError{p: p}
	}
	return otpcode.RequestInput{
		Identifier:     body.Identifier,
		IdentifierType: kind,
		Channel:        otpcode.Channel(body.Channel),
		Purpose:        body.Purpose,
		Locale:         body.Locale,
	}, nil
}

func (x *zupyExchange) decodeVerify() (otpcode.VerifyInput, error) {
	var body verifyBody
	if err := x.h.decodeJSON(x.w, x.r, &body); err != nil {
		return otpcode.VerifyInput{}, err
	}
	kind, p, ok := x.h.checkOptional(body.IdentifierType, body.Purpose, "")
	var scopes []string
	if ok {
		scopes, p, ok = x.h.parseScope(body.Scope)
	}
	if !ok {
		return otpcode.VerifyInput{}, &problemError{p: p}
	}
	return otpcode.VerifyInput{
		Identifier:     body.Identifier,
		IdentifierType: kind,
		Code:           body.OTPCode,
		Purpose:        body.Purpose,
		Scopes:         scopes,
	}, nil
}

func (x *zupyExchange) requested(res otpcode.RequestResult) {
	x.h.writeData(x.w, requestData{Status: "sent", Channel: string(res.Channel), ExpiresIn: seconds(res.ExpiresIn)})
}

func (x *zupyExchange) verified(res otpcode.VerifyResult) error {
	data := make(map[string]any, len(res.Customer.Profile)+len(reservedVerifyKeys))
	for k, v := range res.Customer.Profile {
		data[k] = v
	}
	for _, k := range reservedVerifyKeys {
		delete(data, k)
	}
	data["customer_id"] = res.Customer.ID
	data["is_new"] = res.Customer.IsNew
	data["otp_session"] = res.Session
	data["expires_in"] = seconds(res.ExpiresIn)
	if len(res.Scopes) > 0 {
		data["scope"] = strings.Join(res.Scopes, " ")
	}
	return x.h.writeDataChecked(x.w, data)
}

func (x *zupyExchange) failed(err error) int {
	p := zupyProblem(err)
	switch p.Status {
	case http.StatusMethodNotAllowed:
		x.w.Header().Set("Allow", http.MethodPost)
	case http.StatusUnsupportedMediaType:
		x.w.Header().Set("Accept-Post", "application/json")
	}
	x.h.problem(x.w, p)
	return p.Status
}
