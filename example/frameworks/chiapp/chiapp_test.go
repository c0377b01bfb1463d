package chiapp_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/otpguard/otpguard/example/frameworks/chiapp"
	"github.com/otpguard/otpguard/example/frameworks/internal/flowtest"
	"github.com/otpguard/otpguard/middleware"
)

func TestChiRecipe(t *testing.T) {
	redeem := func(w http.ResponseWriter, r *http.Request) {
		s, _ := middleware.SessionFrom(r.Context())
		_, _ = io.WriteString(w, flowtest.Redeemed(chi.URLParam(r, "rid"), s.CustomerID))
	}
	flowtest.Run(t, func(p flowtest.Pieces) http.Handler {
		return chiapp.New(p.Auth, p.OTP, p.Guard, redeem)
	})
}
