package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrNoCustomer is the reason the guard refuses a request whose route binds
// sessions to a customer (see CustomerSource) when the request names none:
// the path value, query parameter or JSON field is missing or empty, the
// body is not a JSON object or is over the body limit, or the host's
// function found no customer. It is distinct from ErrNoSession and
// ErrWrongCustomer, so a deny hook and the audit log can tell a client that
// forgot the customer from one that presented another customer's session.
var ErrNoCustomer = errors.New("middleware: request names no customer")

// A CustomerSource says where a guarded route finds the customer a request
// acts on. When a route has one, a session is accepted only when it was
// issued for that customer (store.Session.CustomerID); a request that names
// no customer is refused with ErrNoCustomer. The guard consults the source
// only when the action requires OTP.
//
// Set a guard-wide default with WithCustomer and override it per route in
// Require or Middleware:
//
//	guard.Require(policy.RedeemReward, middleware.CustomerFromPath("id"))
//	guard.Require(policy.ListRewards, middleware.AnyCustomer)
//
// The zero CustomerSource is AnyCustomer.
type CustomerSource struct {
	kind  customerKind
	name  string
	limit int64 // set by the guard, for customerJSON
	fn    func(*http.Request) (string, error)
	then  func(*http.Request, string) (string, error)
}

type customerKind uint8

const (
	customerAny customerKind = iota
	customerPath
	customerQuery
	customerJSON
	customerFunc
)

// AnyCustomer binds no customer: a session of any customer of the same
// integration is accepted. Use it for routes that act on no single
// customer; on routes that do, it lets a session verified for one customer
// authorize actions on another.
var AnyCustomer = CustomerSource{}

// CustomerFromPath finds the customer in the path value name, as
// r.PathValue(name) returns it: net/http's ServeMux patterns such as
// "/customers/{id}/", chi (which sets path values), or a framework adapter
// that copies its parameters with r.SetPathValue.
func CustomerFromPath(name string) CustomerSource {
	return CustomerSource{kind: customerPath, name: name}
}

// CustomerFromQuery finds the customer in the query parameter name. A
// parameter given more than once names no customer.
func CustomerFromQuery(name string) CustomerSource {
	return CustomerSource{kind: customerQuery, name: name}
}

// CustomerFromJSON finds the customer in the string member field of the
// request's JSON object body. The guard reads the body only up to the body
// limit of its HTTP settings, and gives it back intact: the next handler
// reads the same bytes from r.Body.
func CustomerFromJSON(field string) CustomerSource {
	return CustomerSource{kind: customerJSON, name: field}
}

// CustomerFunc finds the customer with a host function, for example by
// looking up the owner of a coupon named in the path. The function returns
// "" (or an error, which the guard treats the same and neither shows to the
// client nor logs) when the request names no customer.
func CustomerFunc(f func(*http.Request) (string, error)) CustomerSource {
	return CustomerSource{kind: customerFunc, fn: f}
}

// Map returns a source that finds a value as s does and then turns it into
// a customer ID with f; for example a JSON field holding a phone number,
// mapped to the customer it belongs to. f returning "" or an error names no
// customer.
func (s CustomerSource) Map(f func(r *http.Request, value string) (string, error)) CustomerSource {
	s.then = f
	return s
}

// check reports a source that cannot work.
func (s CustomerSource) check() error {
	switch s.kind {
	case customerAny:
		if s.then != nil {
			return errors.New("AnyCustomer cannot be mapped")
		}
	case customerPath, customerQuery, customerJSON:
		if s.name == "" {
			return errors.New("customer source with an empty name")
		}
	case customerFunc:
		if s.fn == nil {
			return errors.New("nil customer func")
		}
	}
	return nil
}

// bound reports whether the source binds sessions to a customer.
func (s CustomerSource) bound() bool { return s.kind != customerAny }

// customer returns the customer the request names, or ErrNoCustomer.
func (s CustomerSource) customer(r *http.Request) (string, error) {
	var (
		v   string
		err error
	)
	switch s.kind {
	case customerPath:
		v = r.PathValue(s.name)
	case customerQuery:
		if vals := r.URL.Query()[s.name]; len(vals) == 1 {
			v = vals[0]
		}
	case customerJSON:
		v, err = jsonField(r, s.name, s.limit)
	case customerFunc:
		v, err = s.fn(r)
	}
	if err == nil && v != "" && s.then != nil {
		v, err = s.then(r, v)
	}
	if err != nil || v == "" {
		// The cause is not passed on: its text (a host's error, a parse
		// error) may hold the very identifier the audit log must not.
		return "", ErrNoCustomer
	}
	return v, nil
}

// jsonField reads the request body up to limit bytes, puts it back, and
// returns the string member field of the JSON object it holds.
func jsonField(r *http.Request, field string, limit int64) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", errors.New("no body")
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	// Give the body back intact, including anything past the limit that
	// was not read.
	r.Body = &rereadBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), Closer: r.Body}
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if int64(len(buf)) > limit {
		return "", fmt.Errorf("body over %d bytes", limit)
	}
	return memberString(buf, field)
}

// memberString returns the string member field of the JSON object in buf,
// "" when it has none. A body that names field twice, or also in another
// spelling of its case, names no customer: encoding/json matches struct
// fields case-insensitively and keeps the last of repeated members, so the
// handler could read another member than the guard did.
func memberString(buf []byte, field string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(buf))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", errors.New("body is not a JSON object")
	}
	var (
		v     string
		found bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", errors.New("body is not a JSON object")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", errors.New("body is not a JSON object")
		}
		if !strings.EqualFold(name, field) {
			continue
		}
		if found || name != field {
			return "", fmt.Errorf("member %q repeated or spelt another way", field)
		}
		found = true
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("member %q is not a string", field)
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", errors.New("body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("body holds more than one JSON object")
	}
	return v, nil
}

// rereadBody is a request body given back after the guard read its start.
type rereadBody struct {
	io.Reader
	io.Closer
}
