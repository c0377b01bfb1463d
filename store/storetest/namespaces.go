package storetest

import (
	"time"

	"golang.org/x/time/rate"
)

var namespaceCases = []testCase{
	{"SameStringEverywhere", func(e *env) {
		// One string as subject, token hash and bucket key: each record
		// family must keep its own record.
		const k = "phone:+5511987654321"
		hour := rate.Every(time.Hour)
		putCode(e, k, newCode("c"), long)
		createSession(e, k, newSession("cust-1"), long)
		// The attempt spends the budget of 1; the send window is another
		// counter.
		requireCode(e, counted(e, k, noLimit, 1, long), newCode("c"), 1)
		allowed(e, "Cooldown", cooldownOf(e, k, long))
		allowed(e, "Hit", hitOf(e, k, 1, long))
		allowed(e, "Take", takeOf(e, k, hour, 1))
		failLocks(e, k, 1, long, long)

		requireSession(e, getSession(e, k, true), newSession("cust-1"))
		locked(e, k, true, long)
		refused(e, "Cooldown", long, cooldownOf(e, k, long))
		refused(e, "Hit", long, hitOf(e, k, 1, long))
		refused(e, "Take", time.Hour, takeOf(e, k, hour, 1))

		resetFailures(e, k)
		consume(e, k, "c", true)
		requireSession(e, getSession(e, k, true), newSession("cust-1"))
		revoke(e, k, true)
		locked(e, k, true, long)
		refused(e, "Cooldown", long, cooldownOf(e, k, long))
		refused(e, "Hit", long, hitOf(e, k, 1, long))
	}},
	{"OddSubjects", func(e *env) {
		// Separators and hash-tag braces in a subject must not make two
		// subjects share a record.
		subjects := []string{"a:b", "a", "b", "{a}", "{a}:b", "a}{b", "with space", "acentuação", "*", "?"}
		for i, s := range subjects {
			c := newCode(s)
			putCode(e, s, c, long)
			for j := 0; j <= i; j++ {
				attempt(e, s, true)
			}
			allowed(e, "Cooldown "+s, cooldownOf(e, s, long))
		}
		for i, s := range subjects {
			requireCode(e, attempt(e, s, true), newCode(s), i+2)
		}
	}},
}
