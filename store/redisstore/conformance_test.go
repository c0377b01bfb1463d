package redisstore

import (
	"testing"
	"time"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/storetest"
)

// harness makes each store on the test Redis under a fresh key prefix, whose
// keys are deleted when the test ends. Redis keeps real time, so Advance
// sleeps. The operation timeout is generous so that a busy test machine,
// with hundreds of goroutines queueing for the client's pool, does not turn
// slowness into failures; TestUnreachableRedis checks the timeout itself.
var harness = storetest.Harness{
	New: func(tb testing.TB) store.Store {
		s, _, _ := newTestStore(tb, WithTimeout(2*time.Second))
		return s
	},
	Advance: func(_ testing.TB, d time.Duration) { time.Sleep(d) },
}

func TestConformance(t *testing.T) {
	redistest.Require(t)
	storetest.Run(t, harness)
}
