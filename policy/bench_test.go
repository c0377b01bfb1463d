package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpguard/otpguard/policy"
)

var sinkDecision policy.Decision

func BenchmarkDecide(b *testing.B) {
	cat := policy.NewCatalog()
	p, err := policy.Preset(policy.Relaxed)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := cat.Decide(p, policy.RedeemReward)
		if err != nil {
			b.Fatal(err)
		}
		sinkDecision = d
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	cat := policy.NewCatalog()
	actions := cat.Actions()
	p, err := policy.Preset(policy.Relaxed)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d policy.Decision
		i := 0
		for pb.Next() {
			d, _ = cat.Decide(p, actions[i%len(actions)])
			i++
		}
		_ = d
	})
}

func BenchmarkRuleDecide(b *testing.B) {
	r, err := policy.NewCatalog().Rule(policy.RedeemReward)
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Preset(policy.Relaxed)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkDecision = r.Decide(p)
	}
}

var sinkPolicy policy.Policy

func BenchmarkStaticPolicy(b *testing.B) {
	s, err := policy.LoadFile("../example/loyalty/policies.json")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{"repediu", "goomer", "saipos", "unknown-partner"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, err := s.Policy(ctx, ids[i&3])
		if err != nil {
			b.Fatal(err)
		}
		sinkPolicy = p
		i++
	}
}

// BenchmarkRuleDecideSessionSettings is BenchmarkRuleDecide under a policy
// with single_use and max_age for several actions: the guard's per-request
// decision once a file uses them.
func BenchmarkRuleDecideSessionSettings(b *testing.B) {
	r, err := policy.NewCatalog().Rule(policy.RedeemReward)
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Preset(policy.Relaxed)
	if err != nil {
		b.Fatal(err)
	}
	p.SingleUse = []policy.Action{policy.ValidateCoupon, policy.UseCoupon, policy.RedeemReward}
	p.MaxAge = map[policy.Action]time.Duration{policy.UseCoupon: time.Hour, policy.RedeemReward: 5 * time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		sinkDecision = r.Decide(p)
	}
	if !sinkDecision.SingleUse || sinkDecision.MaxAge != 5*time.Minute {
		b.Fatalf("got %+v, want single use and max age 5m", sinkDecision)
	}
}
