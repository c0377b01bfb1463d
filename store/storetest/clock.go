package storetest

import (
	"sync/atomic"
	"time"
)

// Clock is a clock for tests that move time instead of sleeping: it stands
// still until the test calls Advance or Set. Pass its Now method wherever a
// store, service or middleware takes a clock (memory.WithClock,
// otpcode.WithClock, middleware.WithClock), then move it to cross an expiry
// exactly, to the nanosecond, with no sleep and no flakiness.
//
// A Clock is safe for concurrent use. Now takes no lock (it is one atomic
// load), so benchmarks that read the clock measure the code under test, not
// the clock. Times it returns are in the location of the start time given
// to NewClock and carry no monotonic clock reading.
//
// The zero Clock reads the zero time.Time until it is moved. A Clock must
// not be copied after first use.
type Clock struct {
	start  time.Time
	offset atomic.Int64 // nanoseconds since start
}

// NewClock returns a Clock that reads start until it is moved. Any
// monotonic clock reading of start is dropped, so that times the Clock
// returns compare by their wall-clock value alone.
func NewClock(start time.Time) *Clock {
	return &Clock{start: start.Round(0)}
}

// Now returns the clock's current time. It has the signature of time.Now, so
// c.Now can be passed as a clock function.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(c.offset.Load()))
}

// Advance moves the clock by d; a negative d moves it back. Concurrent
// calls add up: each d is applied exactly once.
func (c *Clock) Advance(d time.Duration) {
	c.offset.Add(int64(d))
}

// Set moves the clock to t, which must lie within about 292 years of the
// start time (the range of a time.Duration); Now then returns a time equal
// to t (t.Equal holds), in the start time's location.
func (c *Clock) Set(t time.Time) {
	c.offset.Store(int64(t.Sub(c.start)))
}
