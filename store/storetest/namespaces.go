package storetest

import (
	"time"

	"github.com/otpguard/otpguard/store"
	"golang.org/x/time/rate"
)

var namespaceCases = []testCase{
	{"SameStringEverywhere", func(e *env) {
		// One string as integration, subject, token hash and key of every
		// key family: each record family must keep its own record.
		const k = "phone:+5511987654321"
		p := store.Pair{Integration: k, Subject: k}
		hour := rate.Every(time.Hour)
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 1, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 1, Window: long, LockFor: long},
		}
		putCode(e, p, newCode("c"), long)
		createSession(e, k, newSession("cust-1"), long)
		// The attempt spends both budgets of 1; the window under k is
		// another counter.
		requireCode(e, counted(e, p, b), newCode("c"), 1)
		allowed(e, "Cooldown", cooldownOf(e, k, long))
		hitLeft(e, k, 1, long, 0)
		allowed(e, "Take", takeOf(e, k, hour, 1))
		failSets(e, p, b, store.ScopeCustomer, long)

		requireSession(e, getSession(e, k, true), newSession("cust-1"))
		locked(e, p, store.ScopeCustomer, long)
		refused(e, "Cooldown", long, cooldownOf(e, k, long))
		refused(e, "Hit", long, hitOf(e, k, 1, long))
		peekRefused(e, k, 1, long)
		refused(e, "Take", time.Hour, takeOf(e, k, hour, 1))

		succeed(e, p)
		consume(e, p, "c", true)
		requireSession(e, getSession(e, k, true), newSession("cust-1"))
		revoke(e, k, true)
		locked(e, p, store.ScopeCustomer, long)
		refused(e, "Cooldown", long, cooldownOf(e, k, long))
		refund(e, k)
		hitLeft(e, k, 1, long, 0)
		refused(e, "Hit", long, hitOf(e, k, 1, long))
	}},
	{"OddSubjects", func(e *env) {
		// Separators and hash-tag braces in a subject must not make two
		// subjects share a record.
		subjects := []string{"a:b", "a", "b", "{a}", "{a}:b", "a}{b", "with space", "acentuação", "*", "?"}
		for i, s := range subjects {
			c := newCode(s)
			putCode(e, pairOf(s), c, long)
			for j := 0; j <= i; j++ {
				attempt(e, pairOf(s), true)
			}
			allowed(e, "Cooldown "+s, cooldownOf(e, s, long))
		}
		for i, s := range subjects {
			requireCode(e, attempt(e, pairOf(s), true), newCode(s), i+2)
		}
	}},
	{"OddPairs", func(e *env) {
		// Separators and braces in an integration or a subject must not
		// make two pairs, or a pair and a subject, share a record.
		pairs := []store.Pair{
			{Integration: "b", Subject: "a"},
			{Integration: "a", Subject: "b"},
			{Integration: "b:c", Subject: "a"},
			{Integration: "c", Subject: "a:b"},
			{Integration: "{a}", Subject: "a"},
			{Integration: "a", Subject: "{a}"},
			{Integration: "}", Subject: "{a"},
			{Integration: "a}", Subject: "{"},
			{Integration: "code", Subject: "a"},
			{Integration: "fails", Subject: "a"},
			{Integration: "lock", Subject: "a"},
		}
		for i, p := range pairs {
			putCode(e, p, newCode(p.Integration+"/"+p.Subject), long)
			for j := 0; j <= i; j++ {
				attempt(e, p, true)
			}
		}
		for i, p := range pairs {
			requireCode(e, attempt(e, p, true), newCode(p.Integration+"/"+p.Subject), i+2)
		}
		// A lock on one pair locks no other.
		b := pairBudget(noLimit, 1, long, long)
		succeed(e, pairs[2])
		counted(e, pairs[2], b)
		failSets(e, pairs[2], b, store.ScopePair, long)
		for i, p := range pairs {
			if i != 2 {
				locked(e, p, store.ScopeNone, 0)
			}
		}
	}},
}
