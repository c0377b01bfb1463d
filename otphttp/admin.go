package otphttp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
)

// MinAdminTokenLen is the shortest admin bearer token NewAdmin accepts.
const MinAdminTokenLen = 32

// AdminOption configures the admin handler in NewAdmin.
type AdminOption func(*admin) error

// WithCustomerExists sets how the admin API tells a customer it does not
// know (404 not-found) from one with nothing to report: exists returns
// false for an unknown customer ID, and an error for a system failure
// (503). Default: every customer ID exists.
func WithCustomerExists(exists func(ctx context.Context, customerID string) (bool, error)) AdminOption {
	return func(a *admin) error {
		if exists == nil {
			return errors.New("nil customer lookup")
		}
		a.exists = exists
		return nil
	}
}

// NewAdmin returns the operators' API over svc, for a listener of its own
// that partners cannot reach. Every request must carry
// "Authorization: Bearer <token>" with token (at least MinAdminTokenLen
// characters; compared in constant time); partner API keys play no part.
//
//	GET  /admin/v1/customers/{customer_id}/otp                  the customer's locks, failure counts and live sessions
//	POST /admin/v1/customers/{customer_id}/otp/unlock           lift every lock, clear every failure count (?integration= only that partner's)
//	POST /admin/v1/customers/{customer_id}/otp/revoke-sessions  end every live session: {"revoked": N}
//
// The status is
//
//	{"customer_id": "...", "locked": true,
//	 "customer_lock": {"remaining_seconds": 86400}, "customer_failures": 0,
//	 "integrations": [{"integration": "goomer", "locked": true, "remaining_seconds": 900, "failures": 0}],
//	 "live_sessions": 2}
//
// A wrong or missing token is 401; an unknown customer (WithCustomerExists)
// 404; a store failure 503. Every call is an audit event "otp.admin" on the
// logger of web, with the operation, the customer ID, the integration and
// the outcome — never the token.
func NewAdmin(web *middleware.HTTP, svc *otpcode.Service, token string, opts ...AdminOption) (http.Handler, error) {
	var errs []error
	if web == nil || web.BodyLimit() == 0 {
		errs = append(errs, errors.New("nil HTTP settings (build them with middleware.NewHTTP)"))
	}
	if svc == nil {
		errs = append(errs, errors.New("nil OTP service"))
	}
	if len(token) < MinAdminTokenLen {
		errs = append(errs, fmt.Errorf("admin token shorter than %d characters", MinAdminTokenLen))
	}
	a := &admin{web: web, svc: svc, digest: sha256.Sum256([]byte(token)), log: slog.New(slog.DiscardHandler)}
	if web != nil && web.Logger() != nil {
		a.log = web.Logger()
	}
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("nil option"))
			continue
		}
		if err := o(a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("otphttp: new admin: %w: %w", middleware.ErrInvalidConfig, err)
		}
		return nil, errors.Join(errs...)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/customers/{customer_id}/otp", a.status)
	mux.HandleFunc("POST /admin/v1/customers/{customer_id}/otp/unlock", a.unlock)
	mux.HandleFunc("POST /admin/v1/customers/{customer_id}/otp/revoke-sessions", a.revokeSessions)
	a.mux = mux
	return a, nil
}

type admin struct {
	web    *middleware.HTTP
	svc    *otpcode.Service
	digest [sha256.Size]byte
	exists func(context.Context, string) (bool, error)
	log    *slog.Logger
	mux    *http.ServeMux
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="otpguard-admin"`)
		a.web.WriteProblem(w, middleware.Problem{
			Type:   middleware.TypeAuthenticationNeeded,
			Title:  "Authentication Required",
			Status: http.StatusUnauthorized,
			Detail: "a valid admin bearer token is required",
		})
		a.audit(r, "auth", "", "", "unauthorized")
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized reports whether r carries the admin token, comparing digests
// in constant time.
func (a *admin) authorized(r *http.Request) bool {
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(tok) > 1024 {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1
}

type adminLock struct {
	RemainingSeconds int64 `json:"remaining_seconds"`
}

type adminPair struct {
	Integration      string `json:"integration"`
	Locked           bool   `json:"locked"`
	RemainingSeconds int64  `json:"remaining_seconds,omitempty"`
	Failures         int    `json:"failures"`
}

type adminStatus struct {
	CustomerID       string      `json:"customer_id"`
	Locked           bool        `json:"locked"`
	CustomerLock     *adminLock  `json:"customer_lock"`
	CustomerFailures int         `json:"customer_failures"`
	Integrations     []adminPair `json:"integrations"`
	LiveSessions     int         `json:"live_sessions"`
}

func (a *admin) status(w http.ResponseWriter, r *http.Request) {
	id, ok := a.customer(w, r, "status")
	if !ok {
		return
	}
	st, err := a.svc.Status(r.Context(), id)
	if err != nil {
		a.failed(w, r, "status", id, "", err)
		return
	}
	out := adminStatus{
		CustomerID:       id,
		CustomerFailures: st.Limits.CustomerFailures,
		Integrations:     []adminPair{},
		LiveSessions:     st.Sessions,
	}
	if l := st.Limits.Customer; l.Locked() {
		out.Locked = true
		out.CustomerLock = &adminLock{RemainingSeconds: ceilSeconds(l.Remaining)}
	}
	for _, p := range st.Limits.Pairs {
		ap := adminPair{Integration: p.Integration, Failures: p.Failures, Locked: p.Lock.Locked()}
		if ap.Locked {
			ap.RemainingSeconds = ceilSeconds(p.Lock.Remaining)
			out.Locked = true
		}
		out.Integrations = append(out.Integrations, ap)
	}
	writeJSON(w, out)
	a.audit(r, "status", id, "", "ok")
}

func (a *admin) unlock(w http.ResponseWriter, r *http.Request) {
	id, ok := a.customer(w, r, "unlock")
	if !ok {
		return
	}
	integration := r.URL.Query().Get("integration")
	if err := a.svc.Unlock(r.Context(), id, integration); err != nil {
		a.failed(w, r, "unlock", id, integration, err)
		return
	}
	writeJSON(w, map[string]any{"customer_id": id, "unlocked": true})
	a.audit(r, "unlock", id, integration, "ok")
}

func (a *admin) revokeSessions(w http.ResponseWriter, r *http.Request) {
	id, ok := a.customer(w, r, "revoke_sessions")
	if !ok {
		return
	}
	n, err := a.svc.RevokeCustomer(r.Context(), id)
	if err != nil {
		a.failed(w, r, "revoke_sessions", id, "", err)
		return
	}
	writeJSON(w, map[string]int{"revoked": n})
	a.audit(r, "revoke_sessions", id, "", "ok", slog.Int("revoked", n))
}

// customer returns the request's customer ID, or answers 404 when the
// customer is unknown.
func (a *admin) customer(w http.ResponseWriter, r *http.Request, op string) (string, bool) {
	id := r.PathValue("customer_id")
	if a.exists != nil {
		ok, err := a.exists(r.Context(), id)
		if err != nil {
			a.failed(w, r, op, id, "", err)
			return "", false
		}
		if !ok {
			a.web.WriteProblem(w, middleware.Problem{Type: middleware.TypeNotFound, Title: "Not Found", Status: http.StatusNotFound, Detail: "no such customer"})
			a.audit(r, op, id, "", "not_found")
			return "", false
		}
	}
	return id, true
}

func (a *admin) failed(w http.ResponseWriter, r *http.Request, op, id, integration string, err error) {
	a.web.WriteProblem(w, middleware.Problem{Type: middleware.TypeServiceUnavailable, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
		Detail: "the service is temporarily unavailable; try again later"})
	a.audit(r, op, id, integration, "error", slog.Any("error", err))
}

func (a *admin) audit(r *http.Request, op, customer, integration, outcome string, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("op", op),
		slog.String("customer_id", customer),
		slog.String("integration", integration),
		slog.String("outcome", outcome),
	}, extra...)
	level := slog.LevelInfo
	if outcome != "ok" {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(r.Context(), level, "otp.admin", attrs...)
}

// writeJSON writes v as a 200 JSON body that is never cached.
func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
