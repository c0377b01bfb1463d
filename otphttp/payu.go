package otphttp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
)

// DefaultPayURegion is the region of identities typed without a country
// code in PayU's contract unless PayUConfig.Region names another.
const DefaultPayURegion = "IN"

// PayUConfig configures PayU's contract.
type PayUConfig struct {
	// Types are the values otp[type] may take, such as "SignIn" and
	// "SignUp". Each is the purpose its codes are bound to
	// (otpcode.RequestInput.Purpose): a code sent as SignIn verifies only
	// as SignIn. Each is at most 64 letters, digits or _ . : -. Required.
	Types []string
	// Region is the region (ISO 3166-1 alpha-2, upper case) of identities
	// typed without a country code: in "IN", "9044155723" is
	// +919044155723. Default DefaultPayURegion, "IN".
	Region string
	// Channels are the channels otp[channels] may name, each a channel of
	// the service. A code goes over the first channel, in the service's
	// order, that is among those the request names (all of these when it
	// names none) and reaches the user. Default: every channel of the
	// service.
	Channels []otpcode.Channel
	// Users, when set, is the directory of the users the endpoints serve,
	// usually the service's directory or the part of it that holds them:
	// an identity it does not know is answered with errors.user
	// ["not_found"] before any code is sent or checked, and send_otp's
	// payload shows where the code went. As with PayU, a partner can so
	// tell known identities from unknown ones: the lookup comes before the
	// service's limits, bounded only by partner authentication and the
	// body limit. Default nil: every identity goes
	// to the service, whose directory and unknown-recipients policy
	// (otpcode.WithUnknownRecipients) decide, and an unknown identity
	// without a code is told its code is invalid.
	Users otpcode.Directory
}

// PayU returns PayU's partner contract (the Send OTP and Verify OTP APIs of
// PayU's partner platform), for handlers usually mounted at
// POST /api/v1/otps/send_otp (RequestOTP) and POST /api/v1/otps/verify_otp
// (VerifyOTP) behind API keys sent as "Authorization: Bearer <key>" (see
// middleware.WithBearer and PayUUnauthorized). New checks cfg.
//
// A request is a form (application/x-www-form-urlencoded) with bracketed
// keys, or the same as JSON ({"otp": {"identity": ...}}):
//
//	otp[identity]     the user's phone number or email address; a phone number without a country code is in cfg.Region
//	otp[email]        optional: an email address, checked; the identity when otp[identity] is absent
//	otp[type]         one of cfg.Types: the code's purpose
//	otp[channels][]   optional, repeated (or otp[channels], once): the channels to use, among cfg.Channels
//	otp[code]         verify_otp only: the code
//	otp[scope]        verify_otp only, optional: space-separated actions the session is limited to
//
// Any other key, or a key given twice, is refused. send_otp answers 200
// with a notification in PayU's JSON:API form, whose payload names the
// channel and the masked address the code went to:
//
//	{"data": {"id": "11ea-bf84-27aef522-85a0-02f413145cce", "type": "notifications",
//	  "attributes": {"status": "sent", "send-at": "1594038491", "status-details": {},
//	  "payload": {"sms": ["90xxxxxx21"]}}}}
//
// verify_otp answers 200 with the session as an OAuth-style token: the
// session token (for the X-OTP-Session header of guarded routes), its
// lifetime in seconds, its scope (space-separated; "" when the session is
// not limited) and when it began, followed by the user's Profile members,
// which never replace these five:
//
//	{"access_token": "...", "token_type": "Bearer", "expires_in": 1800,
//	 "scope": "", "created_at": 1594038150, "mid": "7060011", ...}
//
// A refused request gets 422 with, per parameter, errors (machine
// reasons), messages and additional_data (what was sent, or more about
// the refusal), all parameters at once when several are wrong:
//
//	errors.type ["invalid"]             a type not in cfg.Types; additional_data.type.value
//	errors.identity ["invalid_format"]  an identity that is not a phone number of the region or an email address; additional_data.identity.value
//	errors.channels ["not_permitted"]   a channel not offered, or none that reaches the user; additional_data.channels.value
//	errors.user ["not_found"]           an unknown user; additional_data.user.search_term
//	errors.user ["locked"]              a user locked by wrong codes; additional_data.user.lock_duration (seconds) and search_term
//	errors.code ["invalid"]             a wrong, expired, spent or unrequested code; messages.code says which
//	errors.<key> ["required"], ["duplicate"], ["unknown_field"], ["invalid_type"]
//
// Other answers carry {"status": "<reason phrase>"}: 400 for a body that is
// not a form or JSON, 401 without an integration, 405, 413, 415, 502 when
// no channel delivered, 503 for any other failure (fail closed). A limit
// that is not a user's lock (resend cooldown, send windows, the partner's
// rate and breaker) is a 429 with Retry-After and errors.otp
// ["rate_limited"], additional_data.otp.retry_after.
func PayU(cfg PayUConfig) Contract {
	cfg.Types = slices.Clone(cfg.Types)
	cfg.Channels = slices.Clone(cfg.Channels)
	return payuContract{cfg: cfg}
}

// PayUUnauthorized answers a request that partner authentication refused
// as PayU's contract does: 401 {"status":"Unauthorized"} with
// WWW-Authenticate: Bearer, whatever the reason (no key, an unknown key, a
// key without the route's scope), so that the answer does not tell which
// keys exist. Pass it to middleware.WithUnauthorizedHandler for the API
// keys in front of PayU's endpoints.
func PayUUnauthorized(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	payuStatus(w, http.StatusUnauthorized)
}

// payuContract is PayU's contract before New binds it.
type payuContract struct{ cfg PayUConfig }

// payuBound is PayU's contract bound to a service.
type payuBound struct {
	types   map[string]bool
	region  string
	offered []otpcode.Channel // in the service's order
	users   otpcode.Directory
}

func (c payuContract) bind(svc *otpcode.Service) (contract, error) {
	var errs []error
	b := &payuBound{types: make(map[string]bool, len(c.cfg.Types)), region: c.cfg.Region, users: c.cfg.Users}
	if len(c.cfg.Types) == 0 {
		errs = append(errs, errors.New("PayU contract without types"))
	}
	for _, t := range c.cfg.Types {
		switch {
		case t == "" || len(t) > maxPurposeLen || !isToken(t, "_.:-"):
			errs = append(errs, fmt.Errorf("PayU type %q is not a purpose (at most %d letters, digits or _ . : -)", t, maxPurposeLen))
		case b.types[t]:
			errs = append(errs, fmt.Errorf("PayU type %q appears twice", t))
		}
		b.types[t] = true
	}
	if b.region == "" {
		b.region = DefaultPayURegion
	}
	if !phonenumbers.GetSupportedRegions()[b.region] {
		errs = append(errs, fmt.Errorf("PayU region %q is not an ISO 3166-1 alpha-2 region (such as %q)", b.region, DefaultPayURegion))
	}
	all := svc.Channels()
	want := c.cfg.Channels
	if len(want) == 0 {
		want = all
	}
	for i, ch := range want {
		switch {
		case !slices.Contains(all, ch):
			errs = append(errs, fmt.Errorf("PayU channel %q is not a channel of the service", ch))
		case slices.Contains(want[:i], ch):
			errs = append(errs, fmt.Errorf("PayU channel %q appears twice", ch))
		}
	}
	for _, ch := range all {
		if slices.Contains(want, ch) {
			b.offered = append(b.offered, ch)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

func (b *payuBound) open(h *Handlers, w http.ResponseWriter, r *http.Request) exchange {
	return &payuExchange{c: b, h: h, w: w, r: r}
}

// PayU's parameter names, the keys of errors, messages and additional_data.
const (
	payuIdentity = "identity"
	payuEmail    = "email"
	payuType     = "type"
	payuChannels = "channels"
	payuCode     = "code"
	payuScope    = "scope"
	payuUser     = "user"
	payuOTP      = "otp"
)

// payuParams is what a request sent.
type payuParams struct {
	identity, email, typ, code, scope string
	channels                          []string
	hasChannels                       bool
}

// payuExchange is one request in PayU's contract.
type payuExchange struct {
	c *payuBound
	h *Handlers
	w http.ResponseWriter
	r *http.Request

	sent   payuParams
	term   string             // the identity as sent: additional_data.user.search_term
	id     otpcode.Identifier // the identity, parsed
	scopes []string           // otp[scope], parsed
	user   otpcode.Customer   // from Users, when known
	known  bool
}

// payuFieldError is one parameter refused.
type payuFieldError struct {
	field, code string
	msg         string         // "" for the code's usual message
	data        map[string]any // additional_data of field; nil for none
}

// payuErrors are the parameters of a request that were refused, answered
// together with 422. It wraps otpcode.ErrInvalidInput.
type payuErrors []payuFieldError

func (e payuErrors) Error() string {
	fields := make([]string, len(e))
	for i, f := range e {
		fields[i] = f.field + " " + f.code
	}
	return "otphttp: PayU parameters refused: " + strings.Join(fields, ", ")
}

func (e payuErrors) Unwrap() error { return otpcode.ErrInvalidInput }

// errUserNotFound is an identity Users does not know.
var errUserNotFound = fmt.Errorf("otphttp: PayU user not found: %w", otpcode.ErrUnknownCustomer)

func (x *payuExchange) decodeRequest() (otpcode.RequestInput, error) {
	if err := x.decodeParams(false); err != nil {
		return otpcode.RequestInput{}, err
	}
	asked := x.c.offered
	if x.sent.hasChannels && len(x.sent.channels) > 0 {
		asked = make([]otpcode.Channel, len(x.sent.channels))
		for i, ch := range x.sent.channels {
			asked[i] = otpcode.Channel(ch)
		}
	}
	return otpcode.RequestInput{
		Identifier:     x.id.Value,
		IdentifierType: x.id.Kind,
		Purpose:        x.sent.typ,
		Allow:          func(ch otpcode.Channel) bool { return slices.Contains(asked, ch) },
	}, nil
}

func (x *payuExchange) decodeVerify() (otpcode.VerifyInput, error) {
	if err := x.decodeParams(true); err != nil {
		return otpcode.VerifyInput{}, err
	}
	return otpcode.VerifyInput{
		Identifier:     x.id.Value,
		IdentifierType: x.id.Kind,
		Code:           x.sent.code,
		Purpose:        x.sent.typ,
		Scopes:         x.scopes,
	}, nil
}

// decodeParams reads the request's parameters, checks them all, and looks
// the user up in Users.
func (x *payuExchange) decodeParams(verify bool) error {
	errs, err := x.read(verify)
	if err != nil {
		// A body that cannot be read, or a JSON body of the wrong shape,
		// which leaves nothing to check.
		return err
	}
	errs = x.check(errs, verify)
	if len(errs) > 0 {
		return errs
	}
	if x.c.users == nil {
		return nil
	}
	c, found, err := x.c.users.Lookup(x.r.Context(), x.id)
	if err != nil {
		return fmt.Errorf("otphttp: PayU users: %w", err)
	}
	if !found {
		return errUserNotFound
	}
	x.user, x.known = c, true
	return nil
}

// payuMediaTypes are the request bodies PayU's contract reads.
const payuMediaTypes = "application/x-www-form-urlencoded, application/json"

// read reads the body into x.sent. It returns the parameters refused while
// reading, or an error when nothing is left to check: a *problemError for
// a body it cannot read at all, the payuErrors of a JSON body of the wrong
// shape.
func (x *payuExchange) read(verify bool) (payuErrors, error) {
	mt, _, err := mime.ParseMediaType(x.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" && mt != "application/json" {
		return nil, &problemError{p: middleware.Problem{
			Type:   middleware.TypeUnsupportedMediaType,
			Title:  "Unsupported Media Type",
			Status: http.StatusUnsupportedMediaType,
			Detail: "the body must be " + payuMediaTypes,
		}}
	}
	body, err := x.h.readBody(x.w, x.r)
	if err != nil {
		return nil, &problemError{p: x.h.decodeProblem(err)}
	}
	if mt == "application/json" {
		return x.readJSON(body, verify)
	}
	return x.readForm(body, verify)
}

// readForm reads a form with bracketed keys.
func (x *payuExchange) readForm(body []byte, verify bool) (payuErrors, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &problemError{p: fieldProblem("body", "invalid_format", "the body is not a valid form")}
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same answer every time
	var errs payuErrors
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		name, list, ok := payuKey(k)
		if !ok || !payuParam(name, verify) {
			errs = errs.add(payuFieldError{field: payuFieldName(name, k), code: "unknown_field"})
			continue
		}
		v := vals[k]
		if seen[name] || len(v) > 1 && !list {
			errs = errs.add(payuFieldError{field: name, code: "duplicate"})
			continue
		}
		seen[name] = true
		if name == payuChannels {
			x.sent.channels, x.sent.hasChannels = v, true
			continue
		}
		if list {
			errs = errs.add(payuFieldError{field: name, code: "invalid_type"})
			continue
		}
		*x.sent.field(name) = v[0]
	}
	return errs, nil
}

// payuKey returns the parameter a form key names: "otp[identity]" names
// identity, "otp[channels][]" channels as a list item. ok is false for a
// key of another form, whose name is then the key.
func payuKey(k string) (name string, list, ok bool) {
	rest, ok := strings.CutPrefix(k, "otp[")
	if !ok {
		return k, false, false
	}
	name, rest, ok = strings.Cut(rest, "]")
	switch {
	case !ok || rest != "" && rest != "[]":
		return k, false, false
	}
	return name, rest == "[]", true
}

// payuParam reports whether name is a parameter of the endpoint.
func payuParam(name string, verify bool) bool {
	switch name {
	case payuIdentity, payuEmail, payuType, payuChannels:
		return true
	case payuCode, payuScope:
		return verify
	}
	return false
}

// payuFieldName is the name under which an unknown key is reported: the
// parameter it names, or else the key as sent when it is at most 64
// printable ASCII characters, or else "otp".
func payuFieldName(name, key string) string {
	switch {
	case validFieldName(name):
		return name
	case key != "" && len(key) <= 64 && !strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }):
		return key
	}
	return payuOTP
}

// field returns the string parameter name.
func (p *payuParams) field(name string) *string {
	switch name {
	case payuIdentity:
		return &p.identity
	case payuEmail:
		return &p.email
	case payuType:
		return &p.typ
	case payuCode:
		return &p.code
	}
	return &p.scope
}

// payuJSON is a JSON request body.
type payuJSON struct {
	OTP json.RawMessage `json:"otp"`
}

// payuJSONParams are the members of a JSON body's "otp".
type payuJSONParams struct {
	Identity *string         `json:"identity"`
	Email    *string         `json:"email"`
	Type     *string         `json:"type"`
	Channels json.RawMessage `json:"channels"`
	Code     *string         `json:"code"`
	Scope    *string         `json:"scope"`
}

// readJSON reads {"otp": {...}}.
func (x *payuExchange) readJSON(body []byte, verify bool) (payuErrors, error) {
	var outer payuJSON
	if err := strictJSON(body, &outer); err != nil {
		return x.jsonErrors(err, "")
	}
	if len(outer.OTP) == 0 || string(outer.OTP) == "null" {
		return nil, nil
	}
	var in payuJSONParams
	if err := strictJSON(outer.OTP, &in); err != nil {
		return x.jsonErrors(err, payuOTP)
	}
	var errs payuErrors
	for _, f := range []struct {
		name string
		v    *string
	}{{payuIdentity, in.Identity}, {payuEmail, in.Email}, {payuType, in.Type}, {payuCode, in.Code}, {payuScope, in.Scope}} {
		switch {
		case f.v == nil:
		case !payuParam(f.name, verify):
			errs = errs.add(payuFieldError{field: f.name, code: "unknown_field"})
		default:
			*x.sent.field(f.name) = *f.v
		}
	}
	if len(in.Channels) > 0 && string(in.Channels) != "null" {
		var one string
		switch {
		case json.Unmarshal(in.Channels, &x.sent.channels) == nil:
		case json.Unmarshal(in.Channels, &one) == nil:
			x.sent.channels = []string{one}
		default:
			errs = errs.add(payuFieldError{field: payuChannels, code: "invalid_type"})
		}
		x.sent.hasChannels = true
	}
	return errs, nil
}

// jsonErrors turns an error of strictJSON, in the object named object ("" for
// the body, "otp" inside it), into the refusal of the parameter at fault
// (payuErrors), or of a body that is not one JSON object (*problemError).
// Either is final: a body of the wrong shape leaves nothing to check.
func (x *payuExchange) jsonErrors(err error, object string) (payuErrors, error) {
	var (
		me  *memberError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &me):
		name := payuFieldName(me.name, "")
		if object == "" && me.name != payuOTP {
			// A flat body such as {"identity": ...}: the name is unknown.
			return nil, payuErrors{{field: name, code: "unknown_field"}}
		}
		return nil, payuErrors{{field: name, code: me.code}}
	case errors.As(err, &ute) && ute.Field != "" && object != "":
		field, _, _ := strings.Cut(ute.Field, ".")
		return nil, payuErrors{{field: payuFieldName(field, ""), code: "invalid_type"}}
	case object != "" && !errors.Is(err, errTrailingData):
		// "otp" is not an object.
		return nil, payuErrors{{field: payuOTP, code: "invalid_type"}}
	}
	return nil, &problemError{p: x.h.decodeProblem(err)}
}

// add returns e with f, unless a refusal of f's parameter is there already.
func (e payuErrors) add(f payuFieldError) payuErrors {
	for _, g := range e {
		if g.field == f.field {
			return e
		}
	}
	return append(e, f)
}

// check checks the parameters read, adding what it refuses to errs, and
// parses the identity into x.id.
func (x *payuExchange) check(errs payuErrors, verify bool) payuErrors {
	p := &x.sent
	switch {
	case p.typ == "":
		errs = errs.add(payuFieldError{field: payuType, code: "required"})
	case !x.c.types[p.typ]:
		errs = errs.add(payuFieldError{field: payuType, code: "invalid", data: map[string]any{"value": p.typ}})
	}
	if p.email != "" {
		if _, err := (otpcode.Parser{Kind: otpcode.KindEmail}).Parse(p.email); err != nil {
			errs = errs.add(payuFieldError{field: payuEmail, code: "invalid_format", data: map[string]any{"value": p.email}})
		}
	}
	x.term = p.identity
	field := payuIdentity
	if x.term == "" && p.email != "" {
		x.term, field = p.email, payuEmail
	}
	if x.term == "" {
		errs = errs.add(payuFieldError{field: payuIdentity, code: "required"})
	} else {
		kind := otpcode.KindPhone
		if strings.IndexByte(x.term, '@') >= 0 {
			kind = otpcode.KindEmail
		}
		id, err := otpcode.Parser{Region: x.c.region, Kind: kind}.Parse(x.term)
		if err != nil {
			errs = errs.add(payuFieldError{field: field, code: "invalid_format", data: map[string]any{"value": x.term}})
		}
		x.id = id
	}
	for _, ch := range p.channels {
		if !slices.Contains(x.c.offered, otpcode.Channel(ch)) {
			errs = errs.add(payuFieldError{field: payuChannels, code: "not_permitted", data: x.channelsData()})
			break
		}
	}
	if verify {
		if p.code == "" {
			errs = errs.add(payuFieldError{field: payuCode, code: "required"})
		}
		scopes, prob, ok := x.h.parseScope(p.scope)
		x.scopes = scopes
		if !ok {
			for _, codes := range prob.Errors {
				errs = errs.add(payuFieldError{field: payuScope, code: codes[0], data: map[string]any{"value": p.scope}})
			}
		}
	}
	return errs
}

// channelsData is additional_data.channels: the channels sent.
func (x *payuExchange) channelsData() map[string]any {
	sent := x.sent.channels
	if sent == nil {
		sent = []string{}
	}
	return map[string]any{"value": sent}
}

// payuNotification is send_otp's answer.
type payuNotification struct {
	Data struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Attributes struct {
			Status        string              `json:"status"`
			SendAt        string              `json:"send-at"`
			StatusDetails struct{}            `json:"status-details"`
			Payload       map[string][]string `json:"payload"`
		} `json:"attributes"`
	} `json:"data"`
}

func (x *payuExchange) requested(res otpcode.RequestResult) {
	var n payuNotification
	n.Data.ID = payuID()
	n.Data.Type = "notifications"
	a := &n.Data.Attributes
	a.Status = "sent"
	a.SendAt = strconv.FormatInt(res.ExpiresAt.Add(-res.ExpiresIn).Unix(), 10)
	to := []string{}
	if addr := x.address(res.Channel); addr != "" {
		to = append(to, addr)
	}
	a.Payload = map[string][]string{string(res.Channel): to}
	payuWrite(x.w, http.StatusOK, n)
}

// address returns the masked address of ch: the user's, from Users, or the
// identity itself; "" when neither tells it.
func (x *payuExchange) address(ch otpcode.Channel) string {
	to := x.user.Contacts
	if !x.known {
		switch x.id.Kind {
		case otpcode.KindPhone:
			to.Phone = x.id.Value
		case otpcode.KindEmail:
			to.Email = x.id.Value
		}
	}
	switch ch {
	case otpcode.ChannelWhatsApp, otpcode.ChannelSMS:
		if to.Phone != "" {
			return maskPhone(to.Phone)
		}
	case otpcode.ChannelEmail:
		if local, domain, ok := strings.Cut(to.Email, "@"); ok {
			return maskMiddle(local, 2, 0) + "@" + domain
		}
	}
	return ""
}

// maskPhone returns the national number of e164 with all but its first and
// last two digits replaced by x, as PayU shows it ("90xxxxxx21").
func maskPhone(e164 string) string {
	nsn := strings.TrimPrefix(e164, "+")
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		nsn = phonenumbers.GetNationalSignificantNumber(n)
	}
	return maskMiddle(nsn, 2, 2)
}

// maskMiddle returns s with all but its first head and last tail bytes
// replaced by x; all of them when s is not longer than head+tail.
func maskMiddle(s string, head, tail int) string {
	if len(s) <= head+tail {
		return strings.Repeat("x", len(s))
	}
	return s[:head] + strings.Repeat("x", len(s)-head-tail) + s[len(s)-tail:]
}

// payuID returns a random notification ID in PayU's format,
// "11ea-bf84-27aef522-85a0-02f413145cce". otpguard keeps no notification:
// the ID only lets a partner tell its answers apart.
func payuID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	h := hex.EncodeToString(b[:])
	return h[:4] + "-" + h[4:8] + "-" + h[8:16] + "-" + h[16:20] + "-" + h[20:]
}

// payuReserved are the members of verify_otp's answer that a user's
// Profile never replaces, in the order they are written.
var payuReserved = []string{"access_token", "token_type", "expires_in", "scope", "created_at"}

func (x *payuExchange) verified(res otpcode.VerifyResult) error {
	fixed := []any{
		res.Session,
		"Bearer",
		seconds(res.ExpiresIn),
		strings.Join(res.Scopes, " "),
		res.ExpiresAt.Add(-res.ExpiresIn).Unix(),
	}
	profile := make([]string, 0, len(res.Customer.Profile))
	for k := range res.Customer.Profile {
		if !slices.Contains(payuReserved, k) {
			profile = append(profile, k)
		}
	}
	sort.Strings(profile)
	// The token's members first, in the order of PayU's sample, then the
	// user's, sorted; encoded before anything is written.
	var buf bytes.Buffer
	buf.WriteByte('{')
	member := func(i int, k string, v any) error {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("otphttp: encode response member %q: %w", k, err)
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		return nil
	}
	for i, k := range payuReserved {
		if err := member(i, k, fixed[i]); err != nil {
			return err
		}
	}
	for _, k := range profile {
		if err := member(1, k, res.Customer.Profile[k]); err != nil {
			return err
		}
	}
	buf.WriteString("}\n")
	payuHeaders(x.w)
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(buf.Bytes())
	return nil
}

func (x *payuExchange) failed(err error) int {
	var (
		pe   *problemError
		errs payuErrors
		le   *otpcode.LimitError
		fe   *otpcode.FieldError
	)
	switch {
	case errors.Is(err, errNoIntegration):
		PayUUnauthorized(x.w, x.r, err)
		return http.StatusUnauthorized
	case errors.Is(err, errMethodNotAllowed):
		x.w.Header().Set("Allow", http.MethodPost)
		return payuStatus(x.w, http.StatusMethodNotAllowed)
	case errors.As(err, &pe):
		if pe.p.Status == http.StatusUnsupportedMediaType {
			x.w.Header().Set("Accept-Post", payuMediaTypes)
		}
		return payuStatus(x.w, pe.p.Status)
	case errors.As(err, &errs):
		return x.refuse(errs...)
	case errors.As(err, &le):
		return x.limited(le)
	case errors.As(err, &fe):
		return x.refuse(x.serviceField(fe))
	case errors.Is(err, otpcode.ErrUnknownCustomer):
		return x.refuse(payuFieldError{field: payuUser, code: "not_found", msg: "User not found",
			data: map[string]any{"search_term": x.term}})
	case errors.Is(err, otpcode.ErrInvalidCode):
		return x.refuse(payuFieldError{field: payuCode, code: "invalid"})
	case errors.Is(err, otpcode.ErrExpired):
		return x.refuse(payuFieldError{field: payuCode, code: "invalid", msg: "Code has expired; request a new one"})
	case errors.Is(err, otpcode.ErrNotRequested):
		return x.refuse(payuFieldError{field: payuCode, code: "invalid", msg: "Code has invalid value; no code was sent for this user and type"})
	case errors.Is(err, otpcode.ErrChannelNotPermitted):
		return x.refuse(payuFieldError{field: payuChannels, code: "not_permitted", data: x.channelsData()})
	case errors.Is(err, otpcode.ErrInvalidInput):
		return x.refuse(payuFieldError{field: payuOTP, code: "invalid"})
	case errors.Is(err, otpcode.ErrDelivery):
		return payuStatus(x.w, http.StatusBadGateway)
	}
	return payuStatus(x.w, http.StatusServiceUnavailable)
}

// serviceField returns the refusal of a parameter the service refused,
// named as PayU names it.
func (x *payuExchange) serviceField(fe *otpcode.FieldError) payuFieldError {
	f := payuFieldError{field: fe.Field, code: fe.Code}
	switch fe.Field {
	case "identifier", "identifier_type":
		f.field, f.data = payuIdentity, map[string]any{"value": x.term}
	case "otp_code":
		f.field = payuCode
		if f.code != "required" {
			f.code = "invalid"
		}
	case "channel":
		f.field, f.data = payuChannels, x.channelsData()
	case "scope":
		f.data = map[string]any{"value": x.sent.scope}
	default:
		f.field = payuFieldName(fe.Field, "")
	}
	return f
}

// limited answers a limit: a user's lock with 422 errors.user ["locked"],
// a spent code with errors.code ["invalid"], any other limit with 429.
func (x *payuExchange) limited(le *otpcode.LimitError) int {
	detail := limitProblem(le).Detail
	detail = strings.ToUpper(detail[:1]) + detail[1:]
	retry := ceilSeconds(le.RetryAfter)
	switch {
	case errors.Is(le, otpcode.ErrLocked) && le.Scope != store.ScopeIntegration:
		return x.refuse(payuFieldError{field: payuUser, code: "locked", msg: "User account is locked",
			data: map[string]any{"lock_duration": ceilSeconds(le.LockDuration), "search_term": x.term}})
	case errors.Is(le, otpcode.ErrTooManyAttempts):
		f := payuFieldError{field: payuCode, code: "invalid", msg: detail}
		if le.RetryAfter > 0 {
			f.data = map[string]any{"retry_after": retry}
		}
		return x.refuse(f)
	}
	x.w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	return x.write(http.StatusTooManyRequests, payuFieldError{field: payuOTP, code: "rate_limited", msg: detail,
		data: map[string]any{"retry_after": retry}})
}

// refuse answers 422 with errs.
func (x *payuExchange) refuse(errs ...payuFieldError) int {
	return x.write(http.StatusUnprocessableEntity, errs...)
}

// payuErrorBody is the body of a refusal.
type payuErrorBody struct {
	Errors         map[string][]string       `json:"errors"`
	Messages       map[string]string         `json:"messages"`
	AdditionalData map[string]map[string]any `json:"additional_data"`
}

func (x *payuExchange) write(status int, errs ...payuFieldError) int {
	b := payuErrorBody{
		Errors:         make(map[string][]string, len(errs)),
		Messages:       make(map[string]string, len(errs)),
		AdditionalData: make(map[string]map[string]any, len(errs)),
	}
	for _, f := range errs {
		b.Errors[f.field] = []string{f.code}
		b.Messages[f.field] = f.message()
		if f.data != nil {
			b.AdditionalData[f.field] = f.data
		}
	}
	payuWrite(x.w, status, b)
	return status
}

// message returns f's message: its own, or the usual one of its code.
func (f payuFieldError) message() string {
	if f.msg != "" {
		return f.msg
	}
	name := f.field
	if validFieldName(name) {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	switch f.code {
	case "required":
		return name + " can't be blank"
	case "duplicate":
		return name + " is given more than once"
	case "unknown_field":
		return name + " is not a permitted parameter"
	case "invalid_type":
		return name + " has invalid type"
	}
	return name + " has invalid value"
}

// payuStatus answers status with {"status": "<reason phrase>"}.
func payuStatus(w http.ResponseWriter, status int) int {
	payuWrite(w, status, struct {
		Status string `json:"status"`
	}{http.StatusText(status)})
	return status
}

// payuWrite answers status with v, which always encodes (strings, numbers
// and maps of them).
func payuWrite(w http.ResponseWriter, status int, v any) {
	payuHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func payuHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
