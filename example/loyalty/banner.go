package loyalty

import (
	"fmt"
	"io"

	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
)

// PrintBanner writes what a person starting the example needs to know: the
// address, where the policies come from, the partners with their trust
// level and test API key (NoOTPPartner's marked as lacking the OTP scope),
// how PayU's endpoints take the keys and which merchants they serve, and
// the policy matrix of the partners (every
// action of the catalogue under each partner's policy; a partner that pol
// does not list falls under pol's default). A level marked "*" has flag
// overrides on top of its preset. A nil pol is the strict preset for
// everyone.
func PrintBanner(w io.Writer, addr, policySource string, pol *policy.Static) {
	fmt.Fprintf(w, "otpguard example loyalty API on %s (policies: %s)\n\n", addr, policySource)
	fmt.Fprintf(w, "%-14s %-8s %-8s %s\n", "partner", "kind", "level", "X-API-Key")
	cols := make([]policy.Column, 0, len(Partners))
	for _, p := range Partners {
		in, listed := pol.Integration(p.ID)
		if !listed {
			in = pol.Default()
		}
		level := in.Level.String()
		if in.Overridden() {
			level += "*" // flags overridden on top of the level
		}
		fmt.Fprintf(w, "%-14s %-8s %-8s %s\n", p.Name, p.Kind, level, p.Key)
		header := p.Name + " (" + level
		if !listed {
			header += ", default"
		}
		cols = append(cols, policy.Column{Header: header + ")", Policy: in.Policy})
	}
	// The key without the OTP scope gets no session, so it has no column
	// in the matrix.
	in, listed := pol.Integration(NoOTPPartner.ID)
	if !listed {
		in = pol.Default()
	}
	fmt.Fprintf(w, "%-14s %-8s %-8s %s  (no OTP scope: the OTP endpoints answer 401)\n", NoOTPPartner.Name, NoOTPPartner.Kind, in.Level, NoOTPPartner.Key)
	fmt.Fprintf(w, "\nZupy's OTP endpoints (/api/v2/auth/) take the key as X-API-Key; PayU's\n"+
		"(POST /api/v1/otps/send_otp and verify_otp) as Authorization: Bearer <key>.\n"+
		"PayU merchants (region %s):", otphttp.DefaultPayURegion)
	for i, m := range PayUMerchants {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s (mid %s)", sep, m.Identity, m.MID)
	}
	fmt.Fprintln(w)
	m, err := policy.NewMatrix(policy.NewCatalog(), cols...)
	if err != nil {
		// A Static holds only validated policies, so this cannot happen;
		// say so rather than print half a banner silently.
		fmt.Fprintf(w, "\npolicy matrix unavailable: %v\n\n", err)
		return
	}
	fmt.Fprintf(w, "\nOTP required per action (policy matrix of the partners):\n\n%s\n", m.Text())
}
