package ginapp_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/otpguard/otpguard/example/frameworks/ginapp"
	"github.com/otpguard/otpguard/example/frameworks/internal/flowtest"
	"github.com/otpguard/otpguard/middleware"
)

func TestGinRecipe(t *testing.T) {
	gin.SetMode(gin.TestMode)
	redeem := func(c *gin.Context) {
		s, _ := middleware.SessionFrom(c.Request.Context())
		c.String(http.StatusOK, flowtest.Redeemed(c.Param("rid"), s.CustomerID))
	}
	flowtest.Run(t, func(p flowtest.Pieces) http.Handler {
		return ginapp.New(p.Auth, p.OTP, p.Guard, redeem)
	})
}
