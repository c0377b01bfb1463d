package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

func preset(t *testing.T, l policy.TrustLevel) policy.Policy {
	t.Helper()
	p, err := policy.Preset(l)
	require.NoError(t, err)
	return p
}

func TestStaticLookup(t *testing.T) {
	strict, relaxed, trusted := preset(t, policy.Strict), preset(t, policy.Relaxed), preset(t, policy.Trusted)
	custom := policy.Policy{RequireOTPForCouponUsage: true}
	s, err := policy.NewStatic(strict, map[string]policy.Policy{
		"repediu": trusted,
		"goomer":  relaxed,
		"acme":    custom,
	})
	require.NoError(t, err)

	tests := []struct {
		integration string
		want        policy.Policy
	}{
		{"repediu", trusted},
		{"goomer", relaxed},
		{"acme", custom},
		{"unknown-partner", strict},
		{"", strict},
		{"Repediu", strict}, // IDs are case-sensitive
	}
	for _, tc := range tests {
		t.Run(tc.integration, func(t *testing.T) {
			got, err := s.Policy(context.Background(), tc.integration)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "got %+v, want %+v", got, tc.want)
		})
	}

	assert.Equal(t, []string{"acme", "goomer", "repediu"}, s.Integrations(), "IDs must be sorted")

	in, ok := s.Integration("goomer")
	require.True(t, ok)
	assert.Equal(t, policy.Integration{ID: "goomer", Name: "goomer", Level: policy.Relaxed, Policy: relaxed}, in)
	assert.False(t, in.Overridden())
	assert.Equal(t, "goomer (relaxed)", in.Label())

	in, ok = s.Integration("acme")
	require.True(t, ok)
	assert.True(t, in.Overridden(), "a policy matching no preset is strict plus overrides")
	assert.Equal(t, "acme (strict + overrides)", in.Label())

	_, ok = s.Integration("unknown-partner")
	assert.False(t, ok)

	def := s.Default()
	assert.Equal(t, policy.Integration{Name: "default", Level: policy.Strict, Policy: strict}, def)
}

func TestStaticCopiesItsInput(t *testing.T) {
	in := map[string]policy.Policy{"goomer": preset(t, policy.Relaxed)}
	s, err := policy.NewStatic(preset(t, policy.Strict), in)
	require.NoError(t, err)
	in["goomer"] = preset(t, policy.Trusted)
	got, err := s.Policy(context.Background(), "goomer")
	require.NoError(t, err)
	assert.Equal(t, preset(t, policy.Relaxed), got, "got a policy changed through the caller's map, want the copy")
}

func TestStaticLookupDoesNotAllocate(t *testing.T) {
	s, err := policy.NewStatic(preset(t, policy.Strict), map[string]policy.Policy{"goomer": preset(t, policy.Relaxed)})
	require.NoError(t, err)
	ctx := context.Background()
	var src policy.Source = s
	var sink policy.Policy
	allocs := testing.AllocsPerRun(100, func() {
		sink, _ = src.Policy(ctx, "goomer")
		sink, _ = src.Policy(ctx, "someone-else")
	})
	assert.Zero(t, allocs, "got %v allocations per lookup, want 0", allocs)
	assert.True(t, sink.RequireOTPForEnrollment)
}

func TestNewStaticErrors(t *testing.T) {
	contradictory := policy.Policy{TrustPartnerValidation: true, RequireOTPForEnrollment: true, RequireOTPForCouponUsage: true}
	tests := []struct {
		name     string
		def      policy.Policy
		by       map[string]policy.Policy
		wantErr  error
		wantMsgs []string
	}{
		{name: "contradictory integration", def: preset(t, policy.Strict),
			by:      map[string]policy.Policy{"goomer": preset(t, policy.Relaxed), "acme": contradictory},
			wantErr: policy.ErrContradictoryPolicy,
			wantMsgs: []string{`integration "acme"`, "trust_partner_validation",
				"require_otp_for_enrollment", "require_otp_for_coupon_usage"}},
		{name: "contradictory default", def: contradictory,
			wantErr: policy.ErrContradictoryPolicy, wantMsgs: []string{"default policy", "require_otp_for_enrollment"}},
		{name: "empty ID", def: preset(t, policy.Strict), by: map[string]policy.Policy{"": preset(t, policy.Trusted)},
			wantErr: policy.ErrEmptyIntegrationID, wantMsgs: []string{`integration ""`}},
		{name: "blank ID", def: preset(t, policy.Strict), by: map[string]policy.Policy{" \t": preset(t, policy.Trusted)},
			wantErr: policy.ErrEmptyIntegrationID, wantMsgs: []string{"empty integration ID"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.NewStatic(tc.def, tc.by)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tc.wantErr)
			for _, m := range tc.wantMsgs {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestNilStaticIsStrict(t *testing.T) {
	for name, s := range map[string]*policy.Static{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			got, err := s.Policy(context.Background(), "repediu")
			require.NoError(t, err)
			assert.Equal(t, preset(t, policy.Strict), got, "got %+v, want the strict preset", got)
			assert.Equal(t, policy.Strict, s.Default().Level)
			assert.Empty(t, s.Integrations())
			_, ok := s.Integration("repediu")
			assert.False(t, ok)
		})
	}
}

func TestStaticSessionSettings(t *testing.T) {
	saipos := preset(t, policy.Relaxed)
	saipos.SingleUse = []policy.Action{policy.RedeemReward}
	saipos.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
	def := preset(t, policy.Strict)
	def.MaxAge = map[policy.Action]time.Duration{policy.UseCoupon: time.Hour}
	s, err := policy.NewStatic(def, map[string]policy.Policy{"saipos": saipos})
	require.NoError(t, err)

	in, ok := s.Integration("saipos")
	require.True(t, ok)
	assert.Equal(t, policy.Relaxed, in.Level, "got %s, want the level of the policy's flags", in.Level)
	assert.Equal(t, "saipos (relaxed + overrides)", in.Label())
	assert.Equal(t, "default (strict + overrides)", s.Default().Label())

	// The caller's slice and map are copied.
	saipos.SingleUse[0] = policy.UseCoupon
	saipos.MaxAge[policy.RedeemReward] = time.Hour
	def.MaxAge[policy.UseCoupon] = time.Second
	got, err := s.Policy(context.Background(), "saipos")
	require.NoError(t, err)
	assert.Equal(t, []policy.Action{policy.RedeemReward}, got.SingleUse)
	assert.Equal(t, map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}, got.MaxAge)
	got, err = s.Policy(context.Background(), "stranger")
	require.NoError(t, err)
	assert.Equal(t, map[policy.Action]time.Duration{policy.UseCoupon: time.Hour}, got.MaxAge)
}

func TestNewStaticRefusesBadSessionSettings(t *testing.T) {
	bad := preset(t, policy.Relaxed)
	bad.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: -time.Second}
	_, err := policy.NewStatic(preset(t, policy.Strict), map[string]policy.Policy{"goomer": bad})
	require.ErrorIs(t, err, policy.ErrInvalidMaxAge)
	assert.Contains(t, err.Error(), `integration "goomer"`)

	dup := preset(t, policy.Strict)
	dup.SingleUse = []policy.Action{policy.UseCoupon, policy.UseCoupon}
	_, err = policy.NewStatic(dup, nil)
	require.ErrorIs(t, err, policy.ErrDuplicateAction)
	assert.Contains(t, err.Error(), "default policy")
}
