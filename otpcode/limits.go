package otpcode

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/store"
)

// Limits are the service's limits. DefaultLimits returns the defaults; a
// zero field is invalid (NewService rejects it) so that no limit is turned
// off by accident, except ResendCooldown, which 0 turns off.
//
// The limits are layered so that one partner's abuse stays with that
// partner. A customer is the directory's customer when it knows one (so a
// customer's phone, email and CPF share every limit), else the identifier.
//
//   - Per (integration, customer) — the pair: its own outstanding code,
//     MaxAttempts guesses per code, LockAfter wrong guesses per LockWindow
//     (reaching it locks only the pair), ResendCooldown and SendLimit per
//     SendWindow. One partner can neither replace nor burn another's code,
//     nor lock the customer out for another partner.
//   - Per customer, across integrations: CustomerFailLimit consecutive wrong
//     guesses (NIST SP 800-63B's cap is 100) lock the customer for every
//     integration for CustomerLockFor; CustomerSendLimit codes per
//     CustomerSendWindow.
//   - Per integration, across customers: IntegrationFailLimit wrong guesses
//     per IntegrationFailWindow trip the integration's breaker — its
//     request and verify calls are refused for every customer until the
//     window ends, other integrations unaffected; IntegrationSendLimit codes
//     per IntegrationSendWindow; and the request rate IntegrationRate.
//
// Every failure budget is charged in the same atomic step that counts the
// attempt, so concurrent guesses can exceed none of them.
type Limits struct {
	// CodeLength is the number of digits in a code (6 to 10). Default 6.
	CodeLength int
	// CodeTTL is a code's lifetime. Default 5 minutes.
	CodeTTL time.Duration
	// SessionTTL is a session's lifetime. Default 30 minutes.
	SessionTTL time.Duration
	// MaxAttempts is the number of guesses one code allows; the code is
	// burned after that. Default 5.
	MaxAttempts int
	// LockAfter is the failure budget of a pair per LockWindow, across
	// codes and resends: every verification attempt is charged when it is
	// counted (a right code gives the budget back), and the attempt that
	// spends it locks the pair for LockFor or until the window ends,
	// whichever is longer, so no more than LockAfter wrong codes are ever
	// judged per pair and window. Defaults 10, 1 hour, 15 minutes.
	LockAfter  int
	LockWindow time.Duration
	LockFor    time.Duration
	// CustomerFailLimit is the number of consecutive wrong codes for one
	// customer, from every integration together, that locks the customer
	// for every integration for CustomerLockFor (or until an operator
	// unlocks). A right code from any integration ends the run, and a run
	// is forgotten after CustomerFailWindow without a wrong code. Defaults
	// 100 (the NIST SP 800-63B cap), 24 hours, 24 hours.
	CustomerFailLimit  int
	CustomerFailWindow time.Duration
	CustomerLockFor    time.Duration
	// IntegrationFailLimit is the number of wrong codes one integration may
	// send per IntegrationFailWindow, across customers; past it, the
	// integration's request and verify calls are refused for every customer
	// until the window ends, and a telemetry.EventBreakerTripped is emitted.
	// Defaults 300 per hour.
	IntegrationFailLimit  int
	IntegrationFailWindow time.Duration
	// ResendCooldown is the minimum time between two requests for one pair;
	// 0 turns it off. It is charged before delivery, so a retry after a
	// failed delivery waits for it too. Default 60 seconds.
	ResendCooldown time.Duration
	// SendLimit codes per pair are allowed within SendWindow. Defaults 5 per
	// 10 minutes.
	SendLimit  int
	SendWindow time.Duration
	// CustomerSendLimit codes per customer, from every integration
	// together, are allowed within CustomerSendWindow. Defaults 10 per hour.
	CustomerSendLimit  int
	CustomerSendWindow time.Duration
	// IntegrationSendLimit codes per integration, to every customer
	// together, are allowed within IntegrationSendWindow. Defaults 1000 per
	// 24 hours.
	IntegrationSendLimit  int
	IntegrationSendWindow time.Duration
	// IntegrationRate and IntegrationBurst set each integration's token
	// bucket over request and verify calls. Defaults 10 per second, burst
	// 20.
	IntegrationRate  rate.Limit
	IntegrationBurst int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		CodeLength:            6,
		CodeTTL:               5 * time.Minute,
		SessionTTL:            30 * time.Minute,
		MaxAttempts:           5,
		LockAfter:             10,
		LockWindow:            time.Hour,
		LockFor:               15 * time.Minute,
		CustomerFailLimit:     100,
		CustomerFailWindow:    24 * time.Hour,
		CustomerLockFor:       24 * time.Hour,
		IntegrationFailLimit:  300,
		IntegrationFailWindow: time.Hour,
		ResendCooldown:        60 * time.Second,
		SendLimit:             5,
		SendWindow:            10 * time.Minute,
		CustomerSendLimit:     10,
		CustomerSendWindow:    time.Hour,
		IntegrationSendLimit:  1000,
		IntegrationSendWindow: 24 * time.Hour,
		IntegrationRate:       10,
		IntegrationBurst:      20,
	}
}

// Validate reports every limit that is out of range, joined.
func (l Limits) Validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("otpcode: "+format, args...))
		}
	}
	check(l.CodeLength < 6 || l.CodeLength > 10, "code length %d out of range 6..10", l.CodeLength)
	check(l.CodeTTL <= 0, "code TTL must be positive")
	check(l.SessionTTL <= 0, "session TTL must be positive")
	check(l.MaxAttempts < 1, "max attempts must be at least 1")
	check(l.LockAfter < 1, "lock-after must be at least 1")
	check(l.LockWindow <= 0 || l.LockFor <= 0, "lock window and lock duration must be positive")
	check(l.CustomerFailLimit < 1, "customer fail limit must be at least 1")
	check(l.CustomerFailWindow <= 0 || l.CustomerLockFor <= 0, "customer fail window and customer lock duration must be positive")
	check(l.IntegrationFailLimit < 1 || l.IntegrationFailWindow <= 0, "integration fail limit must be at least 1 per positive window")
	check(l.ResendCooldown < 0, "resend cooldown must not be negative")
	check(l.SendLimit < 1 || l.SendWindow <= 0, "send limit must be at least 1 per positive window")
	check(l.CustomerSendLimit < 1 || l.CustomerSendWindow <= 0, "customer send limit must be at least 1 per positive window")
	check(l.IntegrationSendLimit < 1 || l.IntegrationSendWindow <= 0, "integration send limit must be at least 1 per positive window")
	check(l.IntegrationRate <= 0 || l.IntegrationBurst < 1, "integration rate and burst must be positive")
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// budgets returns the failure budgets every attempt is charged to.
func (l Limits) budgets() store.Budgets {
	return store.Budgets{
		MaxAttempts: l.MaxAttempts,
		Pair:        store.Budget{Limit: l.LockAfter, Window: l.LockWindow, LockFor: l.LockFor},
		Customer:    store.Budget{Limit: l.CustomerFailLimit, Window: l.CustomerFailWindow, LockFor: l.CustomerLockFor},
	}
}

// Keys of the caller-keyed counters (store.Limits' Cooldown, Hit, Peek,
// Refund and Take). An integration ID is length-prefixed, so no two
// (integration, subject) pairs make the same key.
func pairKey(kind string, p store.Pair) string {
	return kind + ":pair:" + strconv.Itoa(len(p.Integration)) + ":" + p.Integration + ":" + p.Subject
}

func customerKey(kind, subject string) string { return kind + ":customer:" + subject }

func integrationKey(kind, integration string) string { return kind + ":integration:" + integration }

// integrationKeys returns the keys of integration's request bucket and of
// its breaker, integrationKey("rate", integration) and
// integrationKey("fails", integration), cut from one string: every request
// and verification uses both, so they cost one allocation rather than one
// per use.
func integrationKeys(integration string) (rate, fails string) {
	const ratePrefix, failsPrefix = "rate:integration:", "fails:integration:"
	both := ratePrefix + integration + failsPrefix + integration
	n := len(ratePrefix) + len(integration)
	return both[:n], both[n:]
}
