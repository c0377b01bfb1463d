package policy_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otpguard/otpguard/policy"
)

func ExamplePreset() {
	for _, l := range policy.TrustLevels() {
		p, err := policy.Preset(l)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-7s enrollment=%-5v redemption=%-5v coupon=%-5v trust_partner=%v\n", l,
			p.RequireOTPForEnrollment, p.RequireOTPForRedemption, p.RequireOTPForCouponUsage, p.TrustPartnerValidation)
	}
	// Output:
	// strict  enrollment=true  redemption=true  coupon=true  trust_partner=false
	// relaxed enrollment=false redemption=true  coupon=true  trust_partner=false
	// trusted enrollment=false redemption=false coupon=false trust_partner=true
}

func ExampleCatalog_Decide() {
	cat := policy.NewCatalog()
	relaxed, _ := policy.Preset(policy.Relaxed)
	trusted, _ := policy.Preset(policy.Trusted)

	for _, a := range []policy.Action{policy.RedeemReward, policy.EnrollCustomer, policy.SearchCustomers} {
		d, err := cat.Decide(relaxed, a)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("relaxed:", d)
	}
	d, _ := cat.Decide(trusted, policy.RedeemReward)
	fmt.Println("trusted:", d)

	_, err := cat.Decide(relaxed, "delete_customer")
	fmt.Println(err)
	// Output:
	// relaxed: redeem_reward: required (require_otp_for_redemption)
	// relaxed: enroll_customer: not required (require_otp_for_enrollment)
	// relaxed: search_customers: not required (never)
	// trusted: redeem_reward: not required (trusted partner)
	// policy: decide "delete_customer": unknown action
}

func ExampleCatalog_Rule() {
	cat := policy.NewCatalog()
	if err := cat.Register("transfer_points", policy.RequireRedemption); err != nil {
		fmt.Println(err)
		return
	}
	// Resolve once, when the guard is built ...
	rule, err := cat.Rule("transfer_points")
	if err != nil {
		fmt.Println(err)
		return
	}
	// ... and decide per request, without a lookup.
	strict, _ := policy.Preset(policy.Strict)
	d := rule.Decide(strict)
	fmt.Println(d.Required, d.Reason)
	// Output:
	// true require_otp_for_redemption
}

func ExampleLoad() {
	const file = `{
  "default": "strict",
  "integrations": {
    "repediu": {"name": "Repediu", "level": "trusted"},
    "goomer":  {"name": "Goomer", "level": "relaxed", "require_otp_for_enrollment": true}
  }
}`
	s, err := policy.Load(strings.NewReader(file), "policies.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	cat := policy.NewCatalog()
	for _, id := range append(s.Integrations(), "unknown-partner") {
		in, listed := s.Integration(id)
		if !listed {
			in = s.Default()
		}
		p, _ := s.Policy(context.Background(), id)
		d, _ := cat.Decide(p, policy.EnrollCustomer)
		fmt.Printf("%s, %s: %s\n", id, in.Label(), d)
	}

	_, err = policy.Load(strings.NewReader(`{"integrations": {"goomer": {"level": "lax"}}}`), "policies.json")
	fmt.Println(err)
	// Output:
	// goomer, Goomer (relaxed + overrides): enroll_customer: required (require_otp_for_enrollment)
	// repediu, Repediu (trusted): enroll_customer: not required (trusted partner)
	// unknown-partner, default (strict): enroll_customer: required (require_otp_for_enrollment)
	// policy: policies.json:1:39: integrations.goomer.level: unknown trust level "lax" (want strict, relaxed or trusted)
}

func ExampleLoad_sessionSettings() {
	// The default is an object here, so that it too can carry session
	// settings; "transfer_points" is a host action, accepted because the
	// file is loaded with the host's catalogue.
	const file = `{
  "default": {"level": "strict", "max_age": {"enroll_customer": "10m"}},
  "integrations": {
    "goomer": {
      "name": "Goomer", "level": "relaxed",
      "single_use": ["redeem_reward", "transfer_points"],
      "max_age": {"redeem_reward": "5m"}
    },
    "repediu": {"name": "Repediu", "level": "trusted", "single_use": ["redeem_reward"]}
  }
}`
	cat := policy.NewCatalog()
	if err := cat.Register("transfer_points", policy.RequireRedemption); err != nil {
		fmt.Println(err)
		return
	}
	s, err := policy.Load(strings.NewReader(file), "policies.json", policy.WithCatalog(cat))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"goomer", "repediu", "unknown-partner"} {
		p, _ := s.Policy(context.Background(), id)
		for _, a := range []policy.Action{policy.RedeemReward, "transfer_points", policy.EnrollCustomer} {
			d, _ := cat.Decide(p, a)
			fmt.Printf("%s: %s\n", id, d)
		}
	}

	// The guard reads the settings from the decision.
	p, _ := s.Policy(context.Background(), "goomer")
	d, _ := cat.Decide(p, policy.RedeemReward)
	fmt.Println(d.Required, d.SingleUse, d.MaxAge)

	_, err = policy.Load(strings.NewReader(`{"default": {"level": "strict", "max_age": {"redeem_reward": "0s"}}}`), "policies.json")
	fmt.Println(err)
	// Output:
	// goomer: redeem_reward: required, single use, max age 5m (require_otp_for_redemption)
	// goomer: transfer_points: required, single use (require_otp_for_redemption)
	// goomer: enroll_customer: not required (require_otp_for_enrollment)
	// repediu: redeem_reward: not required (trusted partner)
	// repediu: transfer_points: not required (trusted partner)
	// repediu: enroll_customer: not required (trusted partner)
	// unknown-partner: redeem_reward: required (require_otp_for_redemption)
	// unknown-partner: transfer_points: required (require_otp_for_redemption)
	// unknown-partner: enroll_customer: required, max age 10m (require_otp_for_enrollment)
	// true true 5m0s
	// policy: policies.json:1:62: default.max_age.redeem_reward: invalid max age: "0s" is not positive
}

func ExampleCellText() {
	p, _ := policy.Preset(policy.Relaxed)
	p.SingleUse = []policy.Action{policy.RedeemReward}
	p.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute, policy.UseCoupon: 90 * time.Minute}
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.Column{Header: "partner", Policy: p})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range []policy.Action{policy.RedeemReward, policy.UseCoupon, policy.ValidateCoupon, policy.EnrollCustomer} {
		d, _ := m.Cell(a, "partner")
		fmt.Printf("%s: %s\n", a, policy.CellText(d))
	}
	// Output:
	// redeem_reward: required, single use, max age 5m
	// use_coupon: required, max age 1h30m
	// validate_coupon: required
	// enroll_customer: not required
}

func ExampleMatrix_Text() {
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.PresetColumns()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m.Text())
	// Output:
	// action            governed by                   strict    relaxed       trusted
	// search_customers  never                         —         —             —
	// view_balance      never                         —         —             —
	// view_history      never                         —         —             —
	// award_points      never                         —         —             —
	// list_rewards      never                         —         —             —
	// list_coupons      never                         —         —             —
	// view_programs     never                         —         —             —
	// send_webhook      never                         —         —             —
	// redeem_reward     require_otp_for_redemption    required  required      not required (trusted partner)
	// validate_coupon   require_otp_for_coupon_usage  required  required      not required (trusted partner)
	// use_coupon        require_otp_for_coupon_usage  required  required      not required (trusted partner)
	// enroll_customer   require_otp_for_enrollment    required  not required  not required (trusted partner)
}

func ExampleIntegrationColumns() {
	s, err := policy.Load(strings.NewReader(`{"integrations": {
		"repediu": {"name": "Repediu", "level": "trusted"},
		"saipos": {"name": "Saipos", "level": "relaxed"}}}`), "policies.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.IntegrationColumns(s)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range []policy.Action{policy.UseCoupon, policy.EnrollCustomer} {
		for _, c := range m.Columns() {
			d, _ := m.Cell(a, c.Header)
			fmt.Printf("%s under %s: %s\n", a, c.Header, policy.CellText(d))
		}
	}
	// Output:
	// use_coupon under default (strict): required
	// use_coupon under Repediu (trusted): not required (trusted partner)
	// use_coupon under Saipos (relaxed): required
	// enroll_customer under default (strict): required
	// enroll_customer under Repediu (trusted): not required (trusted partner)
	// enroll_customer under Saipos (relaxed): not required
}

func ExampleNewPresetTable() {
	fmt.Print(policy.NewPresetTable().Markdown())
	// Output:
	// | Level   | Enrollment OTP | Redemption OTP | Coupon OTP   | Trust Partner | Use Case                                                    |
	// |---------|----------------|----------------|--------------|---------------|-------------------------------------------------------------|
	// | Strict  | Required       | Required       | Required     | No            | New or unknown partners (default)                           |
	// | Relaxed | Not required   | Required       | Required     | No            | Tablet/kiosk integrations (e.g., Goomer)                    |
	// | Trusted | Not required   | Not required   | Not required | Yes           | Verified CRMs with existing identity checks (e.g., Repediu) |
}

func ExamplePolicy_Validate() {
	p := policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true}
	fmt.Println(p.Validate())
	// Output:
	// policy: contradictory policy: trust_partner_validation is set together with require_otp_for_redemption
}
