package policy_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

// seedActions is the seed's "When OTP Is Required vs. Not" table, one row per
// action, in the seed's order, with the flag in the "Depends On" column.
var seedActions = []struct {
	action policy.Action
	name   string
	flag   policy.Flag
}{
	{policy.SearchCustomers, "search_customers", policy.Never},
	{policy.ViewBalance, "view_balance", policy.Never},
	{policy.ViewHistory, "view_history", policy.Never},
	{policy.AwardPoints, "award_points", policy.Never},
	{policy.ListRewards, "list_rewards", policy.Never},
	{policy.ListCoupons, "list_coupons", policy.Never},
	{policy.ViewPrograms, "view_programs", policy.Never},
	{policy.SendWebhook, "send_webhook", policy.Never},
	{policy.RedeemReward, "redeem_reward", policy.RequireRedemption},
	{policy.ValidateCoupon, "validate_coupon", policy.RequireCouponUsage},
	{policy.UseCoupon, "use_coupon", policy.RequireCouponUsage},
	{policy.EnrollCustomer, "enroll_customer", policy.RequireEnrollment},
}

func TestCatalogBuiltins(t *testing.T) {
	cat := policy.NewCatalog()
	for _, tc := range seedActions {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.name, string(tc.action), "action constant value")
			f, ok := cat.Lookup(tc.action)
			require.True(t, ok, "got not catalogued, want catalogued")
			assert.Equal(t, tc.flag, f, "got flag %s, want %s", f, tc.flag)
		})
	}
	var want []policy.Action
	for _, tc := range seedActions {
		want = append(want, tc.action)
	}
	assert.Equal(t, want, cat.Actions(), "Actions must list the built-ins in seed order")
}

func TestCatalogActionsIsACopy(t *testing.T) {
	cat := policy.NewCatalog()
	got := cat.Actions()
	got[0] = "mutated"
	assert.Equal(t, policy.SearchCustomers, cat.Actions()[0])
}

func TestCatalogRegister(t *testing.T) {
	tests := []struct {
		name    string
		action  policy.Action
		flag    policy.Flag
		wantErr error
		wantMsg string
	}{
		{name: "new action bound to a flag", action: "transfer_points", flag: policy.RequireRedemption},
		{name: "new action bound to never", action: "view_store_hours", flag: policy.Never},
		{name: "built-in with its own binding is a no-op", action: policy.RedeemReward, flag: policy.RequireRedemption},
		{name: "built-in with a different binding", action: policy.RedeemReward, flag: policy.Never,
			wantErr: policy.ErrActionConflict, wantMsg: `"redeem_reward" as never`},
		{name: "never built-in bound to a flag", action: policy.SearchCustomers, flag: policy.RequireEnrollment,
			wantErr: policy.ErrActionConflict, wantMsg: "bound to never"},
		{name: "empty name", action: "", flag: policy.Never,
			wantErr: policy.ErrInvalidAction, wantMsg: "empty name"},
		{name: "undefined flag", action: "x", flag: policy.Flag(42),
			wantErr: policy.ErrUnknownFlag, wantMsg: "42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cat := policy.NewCatalog()
			before, _ := cat.Lookup(tc.action)
			err := cat.Register(tc.action, tc.flag)
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), tc.wantMsg)
				after, _ := cat.Lookup(tc.action)
				assert.Equal(t, before, after, "a refused registration must not change the binding")
				assert.Len(t, cat.Actions(), len(seedActions), "a refused registration must not add an action")
				return
			}
			require.NoError(t, err)
			f, ok := cat.Lookup(tc.action)
			require.True(t, ok)
			assert.Equal(t, tc.flag, f, "got %s, want %s", f, tc.flag)
		})
	}
}

func TestCatalogRegisterTwice(t *testing.T) {
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption), "same binding again must be a no-op")
	err := cat.Register("transfer_points", policy.RequireCouponUsage)
	require.ErrorIs(t, err, policy.ErrActionConflict)
	f, _ := cat.Lookup("transfer_points")
	assert.Equal(t, policy.RequireRedemption, f, "the first binding must stay")

	n := 0
	for _, a := range cat.Actions() {
		if a == "transfer_points" {
			n++
		}
	}
	assert.Equal(t, 1, n, "got %d entries, want the action listed once", n)
}

func TestCatalogActionsOrder(t *testing.T) {
	cat := policy.NewCatalog()
	for _, a := range []policy.Action{"zeta", "alpha", "mid"} {
		require.NoError(t, cat.Register(a, policy.Never))
	}
	got := cat.Actions()
	require.Len(t, got, len(seedActions)+3)
	assert.Equal(t, []policy.Action{"zeta", "alpha", "mid"}, got[len(seedActions):], "registered actions follow the built-ins in registration order")
}

func TestZeroCatalog(t *testing.T) {
	var cat policy.Catalog
	_, ok := cat.Lookup(policy.RedeemReward)
	assert.False(t, ok, "a zero catalog holds no built-ins")
	assert.Empty(t, cat.Actions())
	_, err := cat.Decide(policy.Policy{}, policy.RedeemReward)
	assert.ErrorIs(t, err, policy.ErrUnknownAction)

	require.NoError(t, cat.Register("ping", policy.Never))
	d, err := cat.Decide(policy.Policy{}, "ping")
	require.NoError(t, err)
	assert.Equal(t, policy.ReasonNever, d.Reason)
}

func TestCatalogUnknownAction(t *testing.T) {
	cat := policy.NewCatalog()
	strict, err := policy.Preset(policy.Trusted)
	require.NoError(t, err)

	d, err := cat.Decide(strict, "delete_everything")
	require.Error(t, err)
	assert.True(t, errors.Is(err, policy.ErrUnknownAction), "got %v, want ErrUnknownAction", err)
	assert.Contains(t, err.Error(), `"delete_everything"`)
	assert.True(t, d.Required, "an unknown action must fail closed, even for a trusted partner")
	assert.Equal(t, policy.ReasonUnknown, d.Reason)

	r, err := cat.Rule("delete_everything")
	require.ErrorIs(t, err, policy.ErrUnknownAction)
	assert.True(t, r.Decide(strict).Required, "a rule for an unknown action must fail closed")
}

// TestCatalogConcurrentReadsDuringRegister runs under -race: readers keep
// deciding built-ins while another goroutine registers actions.
func TestCatalogConcurrentReadsDuringRegister(t *testing.T) {
	cat := policy.NewCatalog()
	relaxed, err := policy.Preset(policy.Relaxed)
	require.NoError(t, err)

	const readers, rounds = 8, 2000
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				d, err := cat.Decide(relaxed, policy.RedeemReward)
				if err != nil || !d.Required || d.Reason != policy.ReasonRedemption {
					errs <- fmt.Errorf("got %v, %v; want required by redemption", d, err)
					return
				}
				if n := len(cat.Actions()); n < len(seedActions) {
					errs <- fmt.Errorf("got %d actions, want at least %d", n, len(seedActions))
					return
				}
			}
		}()
	}
	for i := range 200 {
		require.NoError(t, cat.Register(policy.Action(fmt.Sprintf("host_action_%d", i)), policy.RequireEnrollment))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, cat.Actions(), len(seedActions)+200)
}
