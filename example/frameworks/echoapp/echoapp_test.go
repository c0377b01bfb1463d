package echoapp_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/otpguard/otpguard/example/frameworks/echoapp"
	"github.com/otpguard/otpguard/example/frameworks/internal/flowtest"
	"github.com/otpguard/otpguard/middleware"
)

func TestEchoRecipe(t *testing.T) {
	redeem := func(c echo.Context) error {
		s, _ := middleware.SessionFrom(c.Request().Context())
		return c.String(http.StatusOK, flowtest.Redeemed(c.Param("rid"), s.CustomerID))
	}
	flowtest.Run(t, func(p flowtest.Pieces) http.Handler {
		return echoapp.New(p.Auth, p.OTP, p.Guard, redeem)
	})
}
