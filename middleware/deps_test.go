package middleware_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDependencies pins the guard's light dependency set: a program that
// imports middleware to guard its routes must not link phone metadata, a
// mail client, the code senders or the OTP code service.
func TestDependencies(t *testing.T) {
	const pkg = "github.com/otpguard/otpguard/middleware"
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
	}
	require.NoError(t, err, "go list -deps %s", pkg)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, pkg, "got a dependency list without the package itself:\n%s", out)

	forbidden := []string{
		"nyaruka/phonenumbers",
		"wneessen/go-mail",
		"otpguard/otpguard/otpcode/whatsapp",
		"otpguard/otpguard/otpcode/email",
	}
	for _, dep := range deps {
		for _, bad := range forbidden {
			assert.NotContains(t, dep, bad, "got dependency %q, want none matching %q", dep, bad)
		}
		const otpcode = "github.com/otpguard/otpguard/otpcode"
		assert.False(t, dep == otpcode || strings.HasPrefix(dep, otpcode+"/"),
			"got dependency %q, want the guard free of the OTP code service", dep)
	}
}
