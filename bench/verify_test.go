package bench_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// BenchmarkVerifyOTP compares the cost of checking a one-time code
// (otpcode.Service.Verify on its success path: count the attempt, compare
// the HMAC, consume the code, reset the failure count, create the session)
// with the cost of gorilla/csrf checking a token on a POST (the middleware
// as a whole: it exports no separate check).
//
//	go test -run x -bench 'VerifyOTP' -benchmem
func BenchmarkVerifyOTP(b *testing.B) {
	b.Run("otpguard/Verify-memory", benchVerify)
	b.Run("gorilla-csrf/POST", func(b *testing.B) {
		h, reqs := buildCSRF(b)
		runSerial(b, h, reqs)
	})
}

// benchVerify follows otpcode's BenchmarkVerify: codes are put straight
// into the store a batch at a time, outside the timer, each for its own
// customer, so that only Verify is measured.
func benchVerify(b *testing.B) {
	st := memory.New()
	b.Cleanup(st.Close)
	keys := newKeyring(b)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	l := otpcode.DefaultLimits()
	l.IntegrationRate = rate.Inf
	l.IntegrationBurst = 1 << 20
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(l))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const code = "123456"
	const batch = 4096
	inputs := make([]otpcode.VerifyInput, batch)
	subjects := make([]string, batch)
	for i := range inputs {
		phone := fmt.Sprintf("+55319%08d", i)
		id, err := otpcode.Parser{}.Parse(phone)
		if err != nil {
			b.Fatal(err)
		}
		inputs[i] = otpcode.VerifyInput{Integration: strictIntegration, Identifier: phone, Code: code}
		// What the store knows the customer by: the service's default
		// directory knows no one, and makes each identifier a customer
		// whose ID is the identifier's pseudonym; the subject is that
		// customer's pseudonym.
		subjects[i] = keys.Pseudonym(subjectDomain, "customer:"+keys.Pseudonym(subjectDomain, id.Subject()))
	}
	// The previous batch's sessions are revoked with the timer stopped, so
	// the live heap stays that of a server in steady state instead of
	// growing with b.N.
	tokens := make([]string, 0, batch)
	fill := func() {
		for _, tok := range tokens {
			if _, err := svc.Revoke(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		tokens = tokens[:0]
		for _, subject := range subjects {
			rec := store.Code{ID: "bench", MAC: keys.Sign(codeDomain, strictIntegration, subject, "", code), Integration: strictIntegration, ExpiresAt: time.Now().Add(time.Hour)}
			if err := st.PutCode(ctx, store.Pair{Integration: strictIntegration, Subject: subject}, rec, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		v, err := svc.Verify(ctx, inputs[i%batch])
		if err != nil {
			b.Fatalf("Verify: %v", err)
		}
		tokens = append(tokens, v.Session)
	}
}

// TestVerifyReadsClockOnce: a verification reads the clock once, the
// service and the memory store together; every store call of it is
// judged at that one reading (store.WithTime).
func TestVerifyReadsClockOnce(t *testing.T) {
	var reads atomic.Int64
	start := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	now := func() time.Time { reads.Add(1); return start }
	st := memory.New(memory.WithClock(now), memory.WithCleanupInterval(0))
	t.Cleanup(st.Close)
	keys := newKeyring(t)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	require.NoError(t, err)
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithClock(now))
	require.NoError(t, err)
	ctx := context.Background()
	const phone, code = "+5531900000001", "123456"
	id, err := otpcode.Parser{}.Parse(phone)
	require.NoError(t, err)
	subject := keys.Pseudonym(subjectDomain, "customer:"+keys.Pseudonym(subjectDomain, id.Subject()))
	rec := store.Code{ID: "c", MAC: keys.Sign(codeDomain, strictIntegration, subject, "", code), Integration: strictIntegration, ExpiresAt: start.Add(time.Minute)}
	require.NoError(t, st.PutCode(ctx, store.Pair{Integration: strictIntegration, Subject: subject}, rec, time.Hour))

	before := reads.Load()
	v, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: strictIntegration, Identifier: phone, Code: code})
	require.NoError(t, err)
	assert.Equal(t, int64(1), reads.Load()-before, "got %d clock readings in one Verify, want 1", reads.Load()-before)
	assert.True(t, v.ExpiresAt.After(start), "got a session expiring at %v, want after %v", v.ExpiresAt, start)
	assert.True(t, store.VerifyToken(keys, v.Session), "got a session token the keys did not sign")
	_, found, err := st.GetSession(ctx, store.HashToken(v.Session))
	require.NoError(t, err)
	assert.True(t, found, "got no session in the store")
}
