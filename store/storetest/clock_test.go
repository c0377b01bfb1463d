package storetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

var clockStart = time.Date(2030, time.March, 4, 5, 6, 7, 8, time.UTC)

func TestClock(t *testing.T) {
	tests := []struct {
		name string
		move func(c *storetest.Clock)
		want time.Time
	}{
		{"not moved", func(*storetest.Clock) {}, clockStart},
		{"advance", func(c *storetest.Clock) { c.Advance(90 * time.Second) }, clockStart.Add(90 * time.Second)},
		{"advance twice", func(c *storetest.Clock) {
			c.Advance(time.Hour)
			c.Advance(time.Nanosecond)
		}, clockStart.Add(time.Hour + time.Nanosecond)},
		{"advance back", func(c *storetest.Clock) { c.Advance(-250 * time.Microsecond) }, clockStart.Add(-250 * time.Microsecond)},
		{"set", func(c *storetest.Clock) { c.Set(clockStart.Add(48 * time.Hour)) }, clockStart.Add(48 * time.Hour)},
		{"set then advance", func(c *storetest.Clock) {
			c.Set(clockStart.Add(-time.Minute))
			c.Advance(time.Second)
		}, clockStart.Add(-59 * time.Second)},
		{"advance then set", func(c *storetest.Clock) {
			c.Advance(time.Minute)
			c.Set(clockStart)
		}, clockStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := storetest.NewClock(clockStart)
			tt.move(c)
			got := c.Now()
			assert.True(t, got.Equal(tt.want), "got %v, want %v", got, tt.want)
			assert.Equal(t, got, c.Now(), "a second read without a move: got a different time")
		})
	}
}

func TestClockKeepsLocation(t *testing.T) {
	sp := time.FixedZone("BRT", -3*60*60)
	start := time.Date(2025, time.March, 1, 9, 0, 0, 0, sp)
	c := storetest.NewClock(start)
	c.Advance(time.Hour)
	assert.Equal(t, sp, c.Now().Location(), "got location %v, want %v", c.Now().Location(), sp)
	c.Set(time.Date(2025, time.March, 1, 15, 0, 0, 0, time.UTC))
	got := c.Now()
	assert.Equal(t, sp, got.Location(), "after Set: got location %v, want %v", got.Location(), sp)
	assert.Equal(t, 12, got.Hour(), "after Set to 15:00 UTC: got hour %d, want 12 (BRT)", got.Hour())
}

func TestClockDropsMonotonicReading(t *testing.T) {
	start := time.Now() // carries a monotonic reading
	c := storetest.NewClock(start)
	got := c.Now()
	assert.Equal(t, start.Round(0), got, "got %#v, want the start without its monotonic reading", got)
	assert.NotContains(t, got.String(), "m=", "got %q, want no monotonic reading", got.String())
}

func TestClockZeroValue(t *testing.T) {
	var c storetest.Clock
	assert.True(t, c.Now().IsZero(), "got %v, want the zero time", c.Now())
	c.Advance(time.Second)
	assert.Equal(t, time.Time{}.Add(time.Second), c.Now())
}

// TestClockConcurrent moves and reads one clock from many goroutines: run
// under -race it checks the clock is safe for concurrent use, and the final
// time checks that no Advance is lost.
func TestClockConcurrent(t *testing.T) {
	const n, per = 16, 1000
	c := storetest.NewClock(clockStart)
	var wg sync.WaitGroup
	backwards := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := c.Now()
			for range per {
				c.Advance(time.Millisecond)
				now := c.Now()
				if now.Before(prev) {
					backwards[i] = true
				}
				prev = now
			}
		}()
	}
	wg.Wait()
	for i, b := range backwards {
		assert.False(t, b, "goroutine %d saw the clock move back", i)
	}
	want := clockStart.Add(n * per * time.Millisecond)
	require.True(t, c.Now().Equal(want), "got %v, want %v", c.Now(), want)
}

// ExampleClock tests a session's expiry to the nanosecond without sleeping:
// the store reads the test's clock, and the test moves it.
func ExampleClock() {
	ctx := context.Background()
	clk := storetest.NewClock(time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC))
	s := memory.New(memory.WithClock(clk.Now))
	defer s.Close()

	h := store.HashToken("a-session-token")
	if err := s.CreateSession(ctx, h, store.Session{CustomerID: "c-1"}, 30*time.Minute); err != nil {
		fmt.Println(err)
		return
	}

	clk.Advance(30*time.Minute - time.Nanosecond)
	_, found, _ := s.GetSession(ctx, h)
	fmt.Println(clk.Now().Format(time.TimeOnly), "found:", found)

	clk.Advance(time.Nanosecond)
	_, found, _ = s.GetSession(ctx, h)
	fmt.Println(clk.Now().Format(time.TimeOnly), "found:", found)

	clk.Set(time.Date(2030, time.March, 4, 5, 0, 0, 0, time.UTC))
	fmt.Println(clk.Now().Format(time.TimeOnly))
	// Output:
	// 05:36:06 found: true
	// 05:36:07 found: false
	// 05:00:00
}
