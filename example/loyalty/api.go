package loyalty

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
)

// This file holds the loyalty API's endpoints. By the time one of them
// runs, the API-key middleware has named the integration and the guard has
// enforced the integration's OTP policy for the endpoint's action; the
// endpoints only do the business.

// maxBody is the largest request body the endpoints read.
const maxBody = 4 << 10

// api serves the loyalty endpoints.
type api struct {
	l   *club
	web *middleware.HTTP // problem base shared with the guard
	log *slog.Logger
	svc *otpcode.Service // parses identifiers as the OTP flow does
}

// GET /api/v2/customers/search?q=maria
func (a *api) searchCustomers(w http.ResponseWriter, r *http.Request) {
	found, err := a.l.search(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, found, map[string]any{"count": len(found)})
}

// GET /api/v2/customers/{id}/balance
func (a *api) balance(w http.ResponseWriter, r *http.Request) {
	c, _, err := a.l.customer(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, map[string]any{"customer_id": c.ID, "points_balance": c.Points, "tier": c.Tier}, nil)
}

// GET /api/v2/customers/{id}/history
func (a *api) history(w http.ResponseWriter, r *http.Request) {
	_, h, err := a.l.customer(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	if h == nil {
		h = []entry{}
	}
	writeData(w, http.StatusOK, h, map[string]any{"count": len(h)})
}

// POST /api/v2/customers/{id}/points/ {"points": 50, "description": "Order 1234"}
func (a *api) awardPoints(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Points      int    `json:"points"`
		Description string `json:"description"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	if body.Points < 1 || body.Points > 100_000 {
		a.invalid(w, "points", "invalid_value", "points must be between 1 and 100000")
		return
	}
	balance, err := a.l.award(r.Context(), r.PathValue("id"), body.Points, body.Description)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, map[string]any{
		"customer_id":    r.PathValue("id"),
		"points_awarded": body.Points,
		"points_balance": balance,
	}, nil)
}

// GET /api/v2/rewards/
func (a *api) listRewards(w http.ResponseWriter, _ *http.Request) {
	rw := a.l.listRewards()
	writeData(w, http.StatusOK, rw, map[string]any{"count": len(rw)})
}

// GET /api/v2/coupons/?customer_id=...
func (a *api) listCoupons(w http.ResponseWriter, r *http.Request) {
	cps, err := a.l.listCoupons(r.Context(), r.URL.Query().Get("customer_id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, cps, map[string]any{"count": len(cps)})
}

// GET /api/v2/programs/
func (a *api) listPrograms(w http.ResponseWriter, _ *http.Request) {
	p := a.l.listPrograms()
	writeData(w, http.StatusOK, p, map[string]any{"count": len(p)})
}

// POST /api/v2/webhooks/ {"url": "https://partner.example/hooks", "events": ["points.awarded"]}
func (a *api) addWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	if u, err := url.Parse(body.URL); err != nil || u.Scheme != "https" || u.Host == "" {
		a.invalid(w, "url", "invalid_format", "url must be an https URL")
		return
	}
	if len(body.Events) == 0 {
		a.invalid(w, "events", "required", "events must name at least one event")
		return
	}
	wh, err := a.l.addWebhook(r.Context(), body.URL, body.Events)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusCreated, wh, nil)
}

// POST /api/v2/customers/{id}/rewards/{rid}/redeem/ {"use_z_tokens": false}
//
// The guard has checked, when the integration's policy requires OTP for
// redemption, that X-OTP-Session holds a session for customer {id}.
func (a *api) redeem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UseZTokens bool `json:"use_z_tokens"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	if body.UseZTokens {
		a.invalid(w, "use_z_tokens", "not_permitted", "Z tokens are not enabled in this example")
		return
	}
	cp, balance, err := a.l.redeem(r.Context(), r.PathValue("id"), r.PathValue("rid"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, map[string]any{
		"coupon_code":    cp.Code,
		"reward_id":      r.PathValue("rid"),
		"description":    cp.Description,
		"points_balance": balance,
	}, nil)
}

// POST /api/v2/coupons/{code}/validate/
//
// A coupon route names no customer, so the guard cannot bind the session to
// one; the endpoint does: a session, when the policy required one, must be
// the coupon owner's.
func (a *api) validateCoupon(w http.ResponseWriter, r *http.Request) {
	if !a.decode(w, r, &struct{}{}) {
		return
	}
	cp, err := a.l.findCoupon(r.Context(), r.PathValue("code"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, map[string]any{
		"code":        cp.Code,
		"valid":       !cp.Used,
		"customer_id": cp.CustomerID,
		"description": cp.Description,
	}, nil)
}

// POST /api/v2/coupons/{code}/use/
func (a *api) useCoupon(w http.ResponseWriter, r *http.Request) {
	if !a.decode(w, r, &struct{}{}) {
		return
	}
	cp, err := a.l.useCoupon(r.Context(), r.PathValue("code"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeData(w, http.StatusOK, cp, nil)
}

// POST /api/v2/customers/enroll/ {"identifier": "+5511912345678", "full_name": "Bia Lima"}
//
// When the policy requires OTP for enrollment the session must be for the
// identifier being enrolled.
func (a *api) enroll(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Identifier string `json:"identifier"`
		FullName   string `json:"full_name"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	id, err := otpcode.Parser{Region: a.svc.Region()}.Parse(body.Identifier)
	if err != nil {
		a.invalid(w, "identifier", "invalid_format", "identifier must be a phone number, an email address or a CPF")
		return
	}
	if len(body.FullName) > 200 {
		a.invalid(w, "full_name", "invalid_format", "full_name must be at most 200 bytes")
		return
	}
	c, created, err := a.l.enroll(r.Context(), id, body.FullName)
	if err != nil {
		a.fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeData(w, status, map[string]any{
		"customer_id":    c.ID,
		"is_new":         created,
		"full_name":      c.Name,
		"points_balance": c.Points,
		"tier":           c.Tier,
		"enrolled":       true,
	}, nil)
}

// decode reads an optional JSON object body into dst. An empty body leaves
// dst as it is; anything else must be application/json, at most maxBody
// bytes, with no unknown members.
func (a *api) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.problem(w, http.StatusRequestEntityTooLarge, middleware.TypePayloadTooLarge, "Payload Too Large", "the body must be at most 4096 bytes")
			return false
		}
		a.invalid(w, "body", "invalid_format", "the body could not be read")
		return false
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		a.problem(w, http.StatusUnsupportedMediaType, middleware.TypeUnsupportedMediaType, "Unsupported Media Type", "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
	if err == nil && !errors.Is(dec.Decode(&struct{}{}), io.EOF) {
		err = errors.New("trailing data")
	}
	if err != nil {
		a.invalid(w, "body", "invalid_format", "the body must be one JSON object with the documented fields")
		return false
	}
	return true
}

// fail answers a loyalty error; anything unexpected is a 503 that does not
// echo the error.
func (a *api) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoCustomer):
		a.problem(w, http.StatusNotFound, middleware.TypeNotFound, "Not Found", "no such customer")
	case errors.Is(err, errNoReward):
		a.problem(w, http.StatusNotFound, middleware.TypeNotFound, "Not Found", "no such reward")
	case errors.Is(err, errNoCoupon):
		a.problem(w, http.StatusNotFound, middleware.TypeNotFound, "Not Found", "no such coupon")
	case errors.Is(err, errInsufficientPoints):
		a.problem(w, http.StatusUnprocessableEntity, "insufficient-points", "Insufficient Points", "the customer does not have enough points for this reward")
	case errors.Is(err, errCouponUsed):
		a.problem(w, http.StatusConflict, "coupon-already-used", "Coupon Already Used", "this coupon has already been used")
	default:
		a.log.Error("loyalty API failure", slog.Any("error", err))
		a.problem(w, http.StatusServiceUnavailable, middleware.TypeServiceUnavailable, "Service Unavailable", "the service is temporarily unavailable; try again later")
	}
}

func (a *api) invalid(w http.ResponseWriter, field, code, msg string) {
	a.web.WriteProblem(w, middleware.Problem{
		Type:     middleware.TypeValidation,
		Title:    "Validation Error",
		Status:   http.StatusBadRequest,
		Detail:   msg,
		Errors:   map[string][]string{field: {code}},
		Messages: map[string]string{field: msg},
	})
}

func (a *api) problem(w http.ResponseWriter, status int, typ, title, detail string) {
	a.web.WriteProblem(w, middleware.Problem{Type: typ, Title: title, Status: status, Detail: detail})
}

// writeData writes the API's success envelope {"data": ..., "meta": {...}}.
func writeData(w http.ResponseWriter, status int, data any, meta map[string]any) {
	if meta == nil {
		meta = map[string]any{}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "meta": meta})
}
