package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

// TestTableDecidesAsRule: a Static's table gives, for every rule of the
// catalogue (and a rule of an action no catalogue knows), every listed
// integration, an unlisted one and the empty ID, what the rule decides
// under the policy the Static gives — session settings included.
func TestTableDecidesAsRule(t *testing.T) {
	saipos := preset(t, policy.Relaxed)
	saipos.SingleUse = []policy.Action{policy.RedeemReward}
	saipos.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
	def := preset(t, policy.Strict)
	def.MaxAge = map[policy.Action]time.Duration{policy.UseCoupon: time.Hour}
	s, err := policy.NewStatic(def, map[string]policy.Policy{
		"saipos":  saipos,
		"repediu": preset(t, policy.Trusted),
		"acme":    {RequireOTPForCouponUsage: true},
	})
	require.NoError(t, err)

	cat := policy.NewCatalog()
	rules := []policy.Rule{{}} // the zero Rule fails closed
	for _, a := range cat.Actions() {
		r, err := cat.Rule(a)
		require.NoError(t, err)
		rules = append(rules, r)
	}
	ids := append(s.Integrations(), "stranger", "")
	for _, r := range rules {
		table := s.Table(r)
		for _, id := range ids {
			p, err := s.Policy(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, r.Decide(p), table.Decide(id), "action %q, integration %q", r.Action(), id)
		}
	}
	// One that differs from the default, so that the table is not just the
	// default's decision.
	r, err := cat.Rule(policy.RedeemReward)
	require.NoError(t, err)
	got := s.Table(r).Decide("saipos")
	assert.True(t, got.Required && got.SingleUse && got.MaxAge == 5*time.Minute, "got %+v", got)
	assert.False(t, s.Table(r).Decide("repediu").Required)
}

// TestNilStaticTableIsStrict: a nil Static's table decides as its Policy
// does: strict for everyone.
func TestNilStaticTableIsStrict(t *testing.T) {
	var s *policy.Static
	r, err := policy.NewCatalog().Rule(policy.RedeemReward)
	require.NoError(t, err)
	p, err := s.Policy(context.Background(), "anyone")
	require.NoError(t, err)
	assert.Equal(t, r.Decide(p), s.Table(r).Decide("anyone"))
	assert.True(t, s.Table(r).Decide("anyone").Required)
}

func TestTableDoesNotAllocate(t *testing.T) {
	s, err := policy.NewStatic(preset(t, policy.Strict), map[string]policy.Policy{"goomer": preset(t, policy.Relaxed)})
	require.NoError(t, err)
	r, err := policy.NewCatalog().Rule(policy.UseCoupon)
	require.NoError(t, err)
	table := s.Table(r)
	allocs := testing.AllocsPerRun(100, func() {
		_ = table.Decide("goomer")
		_ = table.Decide("stranger")
	})
	assert.Zero(t, allocs, "got %v allocations per decision, want 0", allocs)
}
