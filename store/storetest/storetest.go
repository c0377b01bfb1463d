// Package storetest is the conformance suite every otpguard store must pass,
// ours and third parties', and the benchmarks every store can run.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Advance: advance})
//	}
package storetest

import (
	"testing"
	"time"

	"github.com/otpguard/otpguard/store"
)

// Harness tells the suite how to make a store and how to move its time.
type Harness struct {
	// New returns a fresh, empty store for one test (or benchmark). It
	// registers any clean-up with tb.Cleanup.
	New func(tb testing.TB) store.Store
	// Advance moves the clock of the store returned by the last New forward
	// by d. A store on an injected clock moves it; a store on real time
	// (Redis) sleeps. The suite keeps such durations to tens of
	// milliseconds, so real-time stores stay fast.
	Advance func(tb testing.TB, d time.Duration)
}
