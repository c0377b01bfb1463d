package middleware

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

// TestDecisionTableDecidesAsSource: the decisions a route makes once for a
// policy.Static are, for every action of the catalogue, every listed
// integration, an unlisted one and the empty ID, what the rule decides
// under the policy the Static gives on a request — session settings
// included — also for a nil and a zero Static (strict for everyone).
func TestDecisionTableDecidesAsSource(t *testing.T) {
	preset := func(l policy.TrustLevel) policy.Policy {
		p, err := policy.Preset(l)
		require.NoError(t, err)
		return p
	}
	saipos := preset(policy.Relaxed)
	saipos.SingleUse = []policy.Action{policy.RedeemReward}
	saipos.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
	def := preset(policy.Strict)
	def.MaxAge = map[policy.Action]time.Duration{policy.UseCoupon: time.Hour}
	listed, err := policy.NewStatic(def, map[string]policy.Policy{
		"saipos":  saipos,
		"repediu": preset(policy.Trusted),
		"acme":    {RequireOTPForCouponUsage: true},
	})
	require.NoError(t, err)

	cat := policy.NewCatalog()
	for name, st := range map[string]*policy.Static{"listed": listed, "nil": nil, "zero": {}} {
		ids := append(st.Integrations(), "stranger", "")
		for _, a := range cat.Actions() {
			rule, err := cat.Rule(a)
			require.NoError(t, err)
			table := newDecisionTable(st, rule)
			for _, id := range ids {
				p, err := st.Policy(context.Background(), id)
				require.NoError(t, err)
				assert.Equal(t, rule.Decide(p), table.decide(id), "%s Static, action %q, integration %q", name, a, id)
			}
		}
	}
	// One that differs from the default, so that the table is not just the
	// default's decision.
	rule, err := cat.Rule(policy.RedeemReward)
	require.NoError(t, err)
	got := newDecisionTable(listed, rule).decide("saipos")
	assert.True(t, got.Required && got.SingleUse && got.MaxAge == 5*time.Minute, "got %+v", got)
	assert.False(t, newDecisionTable(listed, rule).decide("repediu").Required)
	assert.True(t, newDecisionTable(nil, rule).decide("anyone").Required, "a nil Static is strict")
}
