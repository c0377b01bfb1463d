package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

// seedTrustLevels is the seed's "Trust Levels" table.
var seedTrustLevels = []struct {
	level                          policy.TrustLevel
	name                           string
	enrollment, redemption, coupon bool
	trustPartner                   bool
	useCase                        string
}{
	{policy.Strict, "strict", true, true, true, false, "New or unknown partners (default)"},
	{policy.Relaxed, "relaxed", false, true, true, false, "Tablet/kiosk integrations (e.g., Goomer)"},
	{policy.Trusted, "trusted", false, false, false, true, "Verified CRMs with existing identity checks (e.g., Repediu)"},
}

func TestPresets(t *testing.T) {
	assert.Equal(t, []policy.TrustLevel{policy.Strict, policy.Relaxed, policy.Trusted}, policy.TrustLevels())
	for _, tc := range seedTrustLevels {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Preset(tc.level)
			require.NoError(t, err)
			want := policy.Policy{
				RequireOTPForEnrollment:  tc.enrollment,
				RequireOTPForRedemption:  tc.redemption,
				RequireOTPForCouponUsage: tc.coupon,
				TrustPartnerValidation:   tc.trustPartner,
			}
			assert.Equal(t, want, p, "got %+v, want %+v", p, want)
			assert.NoError(t, p.Validate(), "every preset must be consistent")
			assert.Equal(t, tc.name, tc.level.String())
			assert.Equal(t, tc.useCase, tc.level.UseCase())
			l, ok := policy.LevelOf(p)
			assert.True(t, ok)
			assert.Equal(t, tc.level, l)
		})
	}
}

func TestPresetUnknownLevel(t *testing.T) {
	_, err := policy.Preset(policy.TrustLevel(9))
	require.ErrorIs(t, err, policy.ErrUnknownTrustLevel)
	assert.Equal(t, "TrustLevel(9)", policy.TrustLevel(9).String())
	assert.Empty(t, policy.TrustLevel(9).UseCase())
}

func TestZeroTrustLevelIsStrict(t *testing.T) {
	var l policy.TrustLevel
	assert.Equal(t, policy.Strict, l, "got %s, want the zero level to be strict", l)
}

func TestParseTrustLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    policy.TrustLevel
		wantErr bool
	}{
		{"strict", policy.Strict, false},
		{"relaxed", policy.Relaxed, false},
		{"trusted", policy.Trusted, false},
		{"Trusted", policy.Trusted, false},
		{"", policy.Strict, true},
		{"ultra", policy.Strict, true},
		{" strict", policy.Strict, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := policy.ParseTrustLevel(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, policy.ErrUnknownTrustLevel)
				assert.Contains(t, err.Error(), `"`+tc.in+`"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "got %s, want %s", got, tc.want)
		})
	}
}

func TestTrustLevelText(t *testing.T) {
	var v struct {
		Level policy.TrustLevel `json:"level"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"level":"relaxed"}`), &v))
	assert.Equal(t, policy.Relaxed, v.Level)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"level":"relaxed"}`, string(out))
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"level":"lax"}`), &v), policy.ErrUnknownTrustLevel)
	_, err = policy.TrustLevel(7).MarshalText()
	assert.ErrorIs(t, err, policy.ErrUnknownTrustLevel)
}

func TestPolicyJSONNames(t *testing.T) {
	out, err := json.Marshal(policy.Policy{RequireOTPForRedemption: true})
	require.NoError(t, err)
	assert.JSONEq(t, `{"require_otp_for_enrollment":false,"require_otp_for_redemption":true,
		"require_otp_for_coupon_usage":false,"trust_partner_validation":false}`, string(out))
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name      string
		p         policy.Policy
		wantFlags []string
	}{
		{name: "zero", p: policy.Policy{}},
		{name: "trust alone", p: policy.Policy{TrustPartnerValidation: true}},
		{name: "all required", p: policy.Policy{RequireOTPForEnrollment: true, RequireOTPForRedemption: true, RequireOTPForCouponUsage: true}},
		{name: "trust with enrollment", p: policy.Policy{TrustPartnerValidation: true, RequireOTPForEnrollment: true},
			wantFlags: []string{"require_otp_for_enrollment"}},
		{name: "trust with redemption and coupon",
			p:         policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true, RequireOTPForCouponUsage: true},
			wantFlags: []string{"require_otp_for_redemption", "require_otp_for_coupon_usage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.wantFlags == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, policy.ErrContradictoryPolicy)
			assert.Contains(t, err.Error(), "trust_partner_validation")
			for _, f := range tc.wantFlags {
				assert.Contains(t, err.Error(), f)
			}
			if len(tc.wantFlags) == 1 {
				assert.NotContains(t, err.Error(), "require_otp_for_coupon_usage")
			}
		})
	}
}

func TestPolicyRequires(t *testing.T) {
	p := policy.Policy{RequireOTPForRedemption: true, TrustPartnerValidation: true}
	tests := []struct {
		flag policy.Flag
		want bool
	}{
		{policy.Never, false},
		{policy.RequireEnrollment, false},
		{policy.RequireRedemption, true},
		{policy.RequireCouponUsage, false},
		{policy.Flag(9), false},
	}
	for _, tc := range tests {
		t.Run(tc.flag.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, p.Requires(tc.flag), "got %v, want %v", p.Requires(tc.flag), tc.want)
		})
	}
}

func TestFlagNames(t *testing.T) {
	tests := []struct {
		flag policy.Flag
		name string
	}{
		{policy.Never, "never"},
		{policy.RequireEnrollment, "require_otp_for_enrollment"},
		{policy.RequireRedemption, "require_otp_for_redemption"},
		{policy.RequireCouponUsage, "require_otp_for_coupon_usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.name, tc.flag.String())
			f, err := policy.ParseFlag(tc.name)
			require.NoError(t, err)
			assert.Equal(t, tc.flag, f)
		})
	}
	_, err := policy.ParseFlag("require_otp_for_everything")
	assert.ErrorIs(t, err, policy.ErrUnknownFlag)
	assert.Equal(t, "Flag(7)", policy.Flag(7).String())
}

func TestPolicyJSONNamesOfSessionSettings(t *testing.T) {
	out, err := json.Marshal(policy.Policy{
		SingleUse: []policy.Action{policy.RedeemReward},
		MaxAge:    map[policy.Action]time.Duration{policy.RedeemReward: time.Second},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"require_otp_for_enrollment":false,"require_otp_for_redemption":false,
		"require_otp_for_coupon_usage":false,"trust_partner_validation":false,
		"single_use":["redeem_reward"],"max_age":{"redeem_reward":1000000000}}`, string(out))
}

func TestPolicyEqual(t *testing.T) {
	base := policy.Policy{RequireOTPForRedemption: true}
	with := func(su []policy.Action, ma map[policy.Action]time.Duration) policy.Policy {
		p := base
		p.SingleUse, p.MaxAge = su, ma
		return p
	}
	five := map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
	tests := []struct {
		name string
		a, b policy.Policy
		want bool
	}{
		{"same flags", base, base, true},
		{"different flags", base, policy.Policy{RequireOTPForCouponUsage: true}, false},
		{"nil and empty", with(nil, nil), with([]policy.Action{}, map[policy.Action]time.Duration{}), true},
		{"single use in any order",
			with([]policy.Action{policy.RedeemReward, policy.UseCoupon}, nil),
			with([]policy.Action{policy.UseCoupon, policy.RedeemReward}, nil), true},
		{"single use differs", with([]policy.Action{policy.RedeemReward}, nil), with([]policy.Action{policy.UseCoupon}, nil), false},
		{"single use subset", with([]policy.Action{policy.RedeemReward}, nil),
			with([]policy.Action{policy.RedeemReward, policy.UseCoupon}, nil), false},
		{"single use against none", with([]policy.Action{policy.RedeemReward}, nil), base, false},
		{"same max age", with(nil, five), with(nil, map[policy.Action]time.Duration{policy.RedeemReward: 300 * time.Second}), true},
		{"different max age", with(nil, five), with(nil, map[policy.Action]time.Duration{policy.RedeemReward: time.Minute}), false},
		{"max age against none", with(nil, five), base, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.a.Equal(tc.b), "a.Equal(b): got %v, want %v", tc.a.Equal(tc.b), tc.want)
			assert.Equal(t, tc.want, tc.b.Equal(tc.a), "b.Equal(a): got %v, want %v", tc.b.Equal(tc.a), tc.want)
		})
	}
}

func TestLevelOfSessionSettings(t *testing.T) {
	p, err := policy.Preset(policy.Relaxed)
	require.NoError(t, err)
	p.SingleUse = []policy.Action{policy.RedeemReward}
	_, ok := policy.LevelOf(p)
	assert.False(t, ok, "a preset plus single_use equals no preset")
}

func TestPolicyValidateSessionSettings(t *testing.T) {
	tests := []struct {
		name    string
		p       policy.Policy
		wantErr error
		wantMsg string
	}{
		{name: "valid", p: policy.Policy{
			SingleUse: []policy.Action{policy.RedeemReward, policy.UseCoupon},
			MaxAge:    map[policy.Action]time.Duration{policy.RedeemReward: time.Nanosecond}}},
		{name: "duplicate single use", p: policy.Policy{SingleUse: []policy.Action{policy.UseCoupon, policy.RedeemReward, policy.UseCoupon}},
			wantErr: policy.ErrDuplicateAction, wantMsg: `policy: single_use: duplicate action "use_coupon"`},
		{name: "empty single use action", p: policy.Policy{SingleUse: []policy.Action{""}},
			wantErr: policy.ErrInvalidAction, wantMsg: "single_use: invalid action: empty name"},
		{name: "zero max age", p: policy.Policy{MaxAge: map[policy.Action]time.Duration{policy.RedeemReward: 0}},
			wantErr: policy.ErrInvalidMaxAge, wantMsg: "policy: max_age.redeem_reward: invalid max age: 0s is not positive"},
		{name: "negative max age", p: policy.Policy{MaxAge: map[policy.Action]time.Duration{policy.UseCoupon: time.Minute, policy.RedeemReward: -time.Minute}},
			wantErr: policy.ErrInvalidMaxAge, wantMsg: "max_age.redeem_reward: invalid max age: -1m0s is not positive"},
		{name: "empty max age action", p: policy.Policy{MaxAge: map[policy.Action]time.Duration{"": time.Minute}},
			wantErr: policy.ErrInvalidAction, wantMsg: "max_age: invalid action: empty name"},
		{name: "contradiction reported first", p: policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true,
			MaxAge: map[policy.Action]time.Duration{policy.RedeemReward: 0}},
			wantErr: policy.ErrContradictoryPolicy, wantMsg: "contradictory policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			assert.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}
