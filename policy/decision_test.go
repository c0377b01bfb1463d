package policy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

type want struct {
	required bool
	reason   policy.Reason
}

var (
	never   = want{false, policy.ReasonNever}
	trusted = want{false, policy.ReasonTrustedPartner}
)

func req(r policy.Reason) want { return want{true, r} }
func not(r policy.Reason) want { return want{false, r} }

// seedMatrix pins every built-in action under every preset, as the seed's two
// tables combine: "When OTP Is Required vs. Not" gives each action's flag,
// "Trust Levels" gives each preset's flags.
var seedMatrix = []struct {
	action                    policy.Action
	strict, relaxed, trustedL want
}{
	{policy.SearchCustomers, never, never, never},
	{policy.ViewBalance, never, never, never},
	{policy.ViewHistory, never, never, never},
	{policy.AwardPoints, never, never, never},
	{policy.ListRewards, never, never, never},
	{policy.ListCoupons, never, never, never},
	{policy.ViewPrograms, never, never, never},
	{policy.SendWebhook, never, never, never},
	{policy.RedeemReward, req(policy.ReasonRedemption), req(policy.ReasonRedemption), trusted},
	{policy.ValidateCoupon, req(policy.ReasonCouponUsage), req(policy.ReasonCouponUsage), trusted},
	{policy.UseCoupon, req(policy.ReasonCouponUsage), req(policy.ReasonCouponUsage), trusted},
	{policy.EnrollCustomer, req(policy.ReasonEnrollment), not(policy.ReasonEnrollment), trusted},
}

func TestSeedMatrix(t *testing.T) {
	cat := policy.NewCatalog()
	require.Len(t, seedMatrix, len(cat.Actions()), "the pinned matrix must cover every built-in")
	m, err := policy.NewMatrix(cat, policy.PresetColumns()...)
	require.NoError(t, err)

	for _, row := range seedMatrix {
		for _, col := range []struct {
			level policy.TrustLevel
			want  want
		}{{policy.Strict, row.strict}, {policy.Relaxed, row.relaxed}, {policy.Trusted, row.trustedL}} {
			t.Run(string(row.action)+"/"+col.level.String(), func(t *testing.T) {
				p, err := policy.Preset(col.level)
				require.NoError(t, err)

				check := func(how string, d policy.Decision) {
					t.Helper()
					assert.Equal(t, row.action, d.Action, "%s: action", how)
					assert.Equal(t, col.want.required, d.Required, "%s: got required=%v, want %v", how, d.Required, col.want.required)
					assert.Equal(t, col.want.reason, d.Reason, "%s: got reason %s, want %s", how, d.Reason, col.want.reason)
				}

				d, err := cat.Decide(p, row.action)
				require.NoError(t, err)
				check("Catalog.Decide", d)

				r, err := cat.Rule(row.action)
				require.NoError(t, err)
				check("Rule.Decide", r.Decide(p))

				d, ok := m.Cell(row.action, col.level.String())
				require.True(t, ok)
				check("Matrix.Cell", d)
			})
		}
	}
}

func TestTrustedPartnerWaivesEveryFlag(t *testing.T) {
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	p := policy.Policy{TrustPartnerValidation: true}
	for _, a := range cat.Actions() {
		t.Run(string(a), func(t *testing.T) {
			d, err := cat.Decide(p, a)
			require.NoError(t, err)
			assert.False(t, d.Required, "got required, want not required for a trusted partner")
			f, _ := cat.Lookup(a)
			if f == policy.Never {
				assert.Equal(t, policy.ReasonNever, d.Reason, "a never action stays never")
			} else {
				assert.Equal(t, policy.ReasonTrustedPartner, d.Reason)
			}
		})
	}
}

func TestContradictoryPolicyFailsClosed(t *testing.T) {
	cat := policy.NewCatalog()
	p := policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true}
	d, err := cat.Decide(p, policy.RedeemReward)
	require.NoError(t, err)
	assert.True(t, d.Required, "got not required, want the require flag to win over trust")
	assert.Equal(t, policy.ReasonRedemption, d.Reason)

	d, err = cat.Decide(p, policy.UseCoupon)
	require.NoError(t, err)
	assert.False(t, d.Required)
	assert.Equal(t, policy.ReasonTrustedPartner, d.Reason)
}

func TestRegisteredActionDecisions(t *testing.T) {
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	require.NoError(t, cat.Register("view_store_hours", policy.Never))
	relaxed, err := policy.Preset(policy.Relaxed)
	require.NoError(t, err)

	d, err := cat.Decide(relaxed, "transfer_points")
	require.NoError(t, err)
	assert.Equal(t, policy.Decision{Action: "transfer_points", Required: true, Reason: policy.ReasonRedemption}, d)

	d, err = cat.Decide(relaxed, "view_store_hours")
	require.NoError(t, err)
	assert.Equal(t, policy.Decision{Action: "view_store_hours", Required: false, Reason: policy.ReasonNever}, d)
}

func TestZeroRuleFailsClosed(t *testing.T) {
	var r policy.Rule
	d := r.Decide(policy.Policy{TrustPartnerValidation: true})
	assert.True(t, d.Required, "got not required, want a zero Rule to fail closed")
	assert.Equal(t, policy.ReasonUnknown, d.Reason)
}

func TestRuleAccessors(t *testing.T) {
	r, err := policy.NewCatalog().Rule(policy.UseCoupon)
	require.NoError(t, err)
	assert.Equal(t, policy.UseCoupon, r.Action())
	assert.Equal(t, policy.RequireCouponUsage, r.Flag())
}

func TestReasons(t *testing.T) {
	tests := []struct {
		reason  policy.Reason
		name    string
		flag    policy.Flag
		hasFlag bool
	}{
		{policy.ReasonUnknown, "unknown action", policy.Never, false},
		{policy.ReasonNever, "never", policy.Never, true},
		{policy.ReasonEnrollment, "require_otp_for_enrollment", policy.RequireEnrollment, true},
		{policy.ReasonRedemption, "require_otp_for_redemption", policy.RequireRedemption, true},
		{policy.ReasonCouponUsage, "require_otp_for_coupon_usage", policy.RequireCouponUsage, true},
		{policy.ReasonTrustedPartner, "trusted partner", policy.Never, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.name, tc.reason.String())
			f, ok := tc.reason.Flag()
			assert.Equal(t, tc.hasFlag, ok)
			assert.Equal(t, tc.flag, f, "got %s, want %s", f, tc.flag)
			if ok {
				assert.Equal(t, tc.flag.String(), tc.reason.String(), "a flag reason is named after its flag")
			}
		})
	}
	assert.Equal(t, "Reason(99)", policy.Reason(99).String())
}

func TestDecisionString(t *testing.T) {
	tests := []struct {
		d    policy.Decision
		want string
	}{
		{policy.Decision{Action: policy.RedeemReward, Required: true, Reason: policy.ReasonRedemption}, "redeem_reward: required (require_otp_for_redemption)"},
		{policy.Decision{Action: policy.RedeemReward, Reason: policy.ReasonTrustedPartner}, "redeem_reward: not required (trusted partner)"},
		{policy.Decision{Action: policy.SearchCustomers, Reason: policy.ReasonNever}, "search_customers: not required (never)"},
		{policy.Decision{Action: policy.RedeemReward, Required: true, Reason: policy.ReasonRedemption, SingleUse: true},
			"redeem_reward: required, single use (require_otp_for_redemption)"},
		{policy.Decision{Action: policy.UseCoupon, Required: true, Reason: policy.ReasonCouponUsage, MaxAge: 5 * time.Minute},
			"use_coupon: required, max age 5m (require_otp_for_coupon_usage)"},
		{policy.Decision{Action: policy.RedeemReward, Required: true, Reason: policy.ReasonRedemption, SingleUse: true, MaxAge: 90 * time.Minute},
			"redeem_reward: required, single use, max age 1h30m (require_otp_for_redemption)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.d.String())
		})
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	cat := policy.NewCatalog()
	p, err := policy.Preset(policy.Relaxed)
	require.NoError(t, err)
	r, err := cat.Rule(policy.RedeemReward)
	require.NoError(t, err)
	var sink policy.Decision
	allocs := testing.AllocsPerRun(100, func() {
		sink, _ = cat.Decide(p, policy.EnrollCustomer)
		sink = r.Decide(p)
	})
	assert.Zero(t, allocs, "got %v allocations per decision, want 0", allocs)
	assert.True(t, sink.Required)
}

func TestDecideSessionSettings(t *testing.T) {
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	withSettings := func(p policy.Policy) policy.Policy {
		p.SingleUse = []policy.Action{policy.RedeemReward, policy.EnrollCustomer, "transfer_points"}
		p.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute, policy.UseCoupon: time.Hour, policy.EnrollCustomer: time.Minute}
		return p
	}
	relaxed := withSettings(preset(t, policy.Relaxed))
	trusted := withSettings(preset(t, policy.Trusted))
	contradictory := withSettings(policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true})
	tests := []struct {
		name   string
		p      policy.Policy
		action policy.Action
		want   policy.Decision
	}{
		{"single use and max age", relaxed, policy.RedeemReward,
			policy.Decision{Action: policy.RedeemReward, Required: true, Reason: policy.ReasonRedemption, SingleUse: true, MaxAge: 5 * time.Minute}},
		{"max age only", relaxed, policy.UseCoupon,
			policy.Decision{Action: policy.UseCoupon, Required: true, Reason: policy.ReasonCouponUsage, MaxAge: time.Hour}},
		{"neither", relaxed, policy.ValidateCoupon,
			policy.Decision{Action: policy.ValidateCoupon, Required: true, Reason: policy.ReasonCouponUsage}},
		{"single use only, host action", relaxed, "transfer_points",
			policy.Decision{Action: "transfer_points", Required: true, Reason: policy.ReasonRedemption, SingleUse: true}},
		{"not required under the policy", relaxed, policy.EnrollCustomer,
			policy.Decision{Action: policy.EnrollCustomer, Reason: policy.ReasonEnrollment}},
		{"trusted partner carries none", trusted, policy.RedeemReward,
			policy.Decision{Action: policy.RedeemReward, Reason: policy.ReasonTrustedPartner}},
		{"never action carries none", relaxed, policy.SearchCustomers,
			policy.Decision{Action: policy.SearchCustomers, Reason: policy.ReasonNever}},
		{"contradictory policy fails closed with them", contradictory, policy.RedeemReward,
			policy.Decision{Action: policy.RedeemReward, Required: true, Reason: policy.ReasonRedemption, SingleUse: true, MaxAge: 5 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cat.Decide(tc.p, tc.action)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "Catalog.Decide: got %+v, want %+v", got, tc.want)

			r, err := cat.Rule(tc.action)
			require.NoError(t, err)
			got = r.Decide(tc.p)
			assert.Equal(t, tc.want, got, "Rule.Decide: got %+v, want %+v", got, tc.want)
		})
	}
}

func TestFailClosedDecisionCarriesSessionSettings(t *testing.T) {
	p := policy.Policy{
		SingleUse: []policy.Action{"delete_customer"},
		MaxAge:    map[policy.Action]time.Duration{"delete_customer": time.Minute},
	}
	want := policy.Decision{Action: "delete_customer", Required: true, Reason: policy.ReasonUnknown, SingleUse: true, MaxAge: time.Minute}
	got, err := policy.NewCatalog().Decide(p, "delete_customer")
	require.ErrorIs(t, err, policy.ErrUnknownAction)
	assert.Equal(t, want, got, "got %+v, want %+v", got, want)

	r, err := policy.NewCatalog().Rule("delete_customer")
	require.ErrorIs(t, err, policy.ErrUnknownAction)
	got = r.Decide(p)
	assert.Equal(t, want, got, "a Rule that failed to resolve: got %+v, want %+v", got, want)
}

func TestDecideWithSessionSettingsDoesNotAllocate(t *testing.T) {
	cat := policy.NewCatalog()
	p := preset(t, policy.Relaxed)
	p.SingleUse = []policy.Action{policy.UseCoupon, policy.RedeemReward}
	p.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
	r, err := cat.Rule(policy.RedeemReward)
	require.NoError(t, err)
	var sink policy.Decision
	allocs := testing.AllocsPerRun(100, func() {
		sink, _ = cat.Decide(p, policy.UseCoupon)
		sink = r.Decide(p)
	})
	assert.Zero(t, allocs, "got %v allocations per decision, want 0", allocs)
	assert.True(t, sink.SingleUse)
	assert.Equal(t, 5*time.Minute, sink.MaxAge)
}
