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

	"github.com/otpguard/otpguard/keyring"
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

// verifyBench is the set-up of the benchmarks of Verify's success path
// (benchVerify, and the paired harness's otpcode/Verify-memory): a service
// over a memory store, and a batch of inputs, each for its own customer,
// whose codes fill puts straight into the store, as otpcode's
// BenchmarkVerify does, so that only Verify is measured.
type verifyBench struct {
	svc    *otpcode.Service
	st     *memory.Store
	keys   *keyring.Keyring
	inputs []otpcode.VerifyInput
	// subjects are what the store knows each input's customer by: the
	// service's default directory knows no one, and makes each identifier a
	// customer whose ID is the identifier's pseudonym; the subject is that
	// customer's pseudonym.
	subjects []string
	// tokens are the sessions of the batch verified since the last fill.
	tokens []string
}

// verifyBatch is the number of inputs of a verifyBench.
const verifyBatch = 4096

// verifyCode is the code of every input.
const verifyCode = "123456"

func newVerifyBench(tb testing.TB) *verifyBench {
	st := memory.New()
	tb.Cleanup(st.Close)
	keys := newKeyring(tb)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	if err != nil {
		tb.Fatal(err)
	}
	l := otpcode.DefaultLimits()
	l.IntegrationRate = rate.Inf
	l.IntegrationBurst = 1 << 20
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(l))
	if err != nil {
		tb.Fatal(err)
	}
	v := &verifyBench{svc: svc, st: st, keys: keys, inputs: make([]otpcode.VerifyInput, verifyBatch), subjects: make([]string, verifyBatch), tokens: make([]string, 0, verifyBatch)}
	for i := range v.inputs {
		phone := fmt.Sprintf("+55319%08d", i)
		id, err := otpcode.Parser{}.Parse(phone)
		if err != nil {
			tb.Fatal(err)
		}
		v.inputs[i] = otpcode.VerifyInput{Integration: strictIntegration, Identifier: phone, Code: verifyCode}
		v.subjects[i] = keys.Pseudonym(subjectDomain, "customer:"+keys.Pseudonym(subjectDomain, id.Subject()))
	}
	return v
}

// fill revokes the sessions of the last batch, so that the live heap stays
// that of a server in steady state instead of growing with the count, and
// puts a code for every input into the store. It is meant to run outside
// the time measured.
func (v *verifyBench) fill(ctx context.Context) error {
	for _, tok := range v.tokens {
		if _, err := v.svc.Revoke(ctx, tok); err != nil {
			return err
		}
	}
	v.tokens = v.tokens[:0]
	for _, subject := range v.subjects {
		rec := store.Code{ID: "bench", MAC: v.keys.Sign(codeDomain, strictIntegration, subject, "", verifyCode), Integration: strictIntegration, ExpiresAt: time.Now().Add(time.Hour)}
		if err := v.st.PutCode(ctx, store.Pair{Integration: strictIntegration, Subject: subject}, rec, time.Hour); err != nil {
			return err
		}
	}
	return nil
}

// verify verifies input i of the batch, whose code fill put in.
func (v *verifyBench) verify(ctx context.Context, i int) error {
	res, err := v.svc.Verify(ctx, v.inputs[i])
	if err != nil {
		return fmt.Errorf("Verify: %w", err)
	}
	v.tokens = append(v.tokens, res.Session)
	return nil
}

// benchVerify times Verify on its success path, a batch of codes put in
// with the timer stopped at a time.
func benchVerify(b *testing.B) {
	v := newVerifyBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%verifyBatch == 0 {
			b.StopTimer()
			if err := v.fill(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := v.verify(ctx, i%verifyBatch); err != nil {
			b.Fatal(err)
		}
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
