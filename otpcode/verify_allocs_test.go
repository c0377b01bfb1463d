package otpcode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// TestVerifyHelpersMatch holds the helpers that save Verify allocations to
// what they stand for: subjectOf to the pseudonyms it replaces and
// integrationKeys to integrationKey.
func TestVerifyHelpersMatch(t *testing.T) {
	keys, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MinKeyBytes), bytes.Repeat([]byte{8}, keyring.MinKeyBytes))
	require.NoError(t, err)
	s := &Service{keys: keys}
	for _, id := range []Identifier{
		{Kind: KindPhone, Value: "+5511987654321"},
		{Kind: KindEmail, Value: "maria." + strings.Repeat("santos.", 10) + "@example.com"},
		{Kind: KindCPF, Value: "52998224725"},
	} {
		sub, self := s.subjectOf(id, Customer{}, false)
		assert.Equal(t, selfID(keys, id), self, "%s: self", id.Subject())
		assert.Equal(t, keys.Pseudonym(subjectDomain, "customer:"+keys.Pseudonym(subjectDomain, id.Subject())), sub, "%s: subject", id.Subject())
		sub, self = s.subjectOf(id, Customer{ID: "cust-maria"}, true)
		assert.Equal(t, keys.Pseudonym(subjectDomain, "customer:cust-maria"), sub, "%s: known customer's subject", id.Subject())
		assert.Empty(t, self, "%s: known customer's self", id.Subject())
	}

	for _, in := range []string{"", "goomer", "an integration with spaces: and colons"} {
		rateKey, breakerKey := integrationKeys(in)
		assert.Equal(t, integrationKey("rate", in), rateKey)
		assert.Equal(t, integrationKey("fails", in), breakerKey)
	}
}

// verifyAllocsRuns is the number of verifications each allocation count
// averages over.
const verifyAllocsRuns = 200

// The allocations of a successful verification (TestVerifyAllocations):
// the service's own, and those the memory store adds.
const (
	serviceAllocs = 6
	memoryAllocs  = 2
)

// TestVerifyAllocations pins the allocations of Verify's success path:
// counting the attempt, comparing the code, consuming it, resetting the
// failure counts and creating the session, for a customer the default
// directory makes of a phone number, as BenchmarkVerify measures it.
//
// The service's own allocations, over a store that allocates nothing
// (allocFreeStore), are six: the context that carries the one reading of
// the clock to the store (store.WithTime); the integration's two keys
// (integrationKeys); the customer's ID and subject, two pseudonyms in one
// string (subjectOf); the session token (store.SignToken); the session's
// MAC (store.Seal); and the key the session is stored under (hashToken).
//
// Over the memory store, the store's own two are added: the copy of the
// code's MAC that AttemptCode returns (the caller may write to it), and
// the session's record. Issue #16's target for the sum is 8.
//
// The race detector makes sync.Pool drop objects at random, and the pooled
// ones then allocate afresh, so the counts are not checked under it; CI
// runs the allocation pins a second time without it (.ci/run).
func TestVerifyAllocations(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector makes sync.Pool drop objects, which then allocate")
	}
	keys, err := keyring.New(bytes.Repeat([]byte{1}, keyring.MinKeyBytes))
	require.NoError(t, err)
	ctx := context.Background()
	const integration, code = "goomer", "123456"

	// Each verification is of its own customer's code, put into the store
	// beforehand, so that only Verify is counted. Each phone number is
	// parsed once first: the parser's cache takes parsing off the verify
	// path, as it does in a server where a request precedes each
	// verification.
	n := verifyAllocsRuns + 1 // AllocsPerRun calls once more, to warm up
	inputs := make([]VerifyInput, n)
	pairs := make([]store.Pair, n)
	for i := range inputs {
		phone := fmt.Sprintf("+551197%07d", i)
		id, err := Parser{}.Parse(phone)
		require.NoError(t, err)
		inputs[i] = VerifyInput{Integration: integration, Identifier: phone, Code: code}
		sub := keys.Pseudonym(subjectDomain, "customer:"+selfID(keys, id))
		pairs[i] = store.Pair{Integration: integration, Subject: sub}
	}
	codeOf := func(p store.Pair) store.Code {
		return store.Code{ID: "c", MAC: keys.Sign(codeDomain, p.Integration, p.Subject, "", code), Integration: p.Integration, ExpiresAt: time.Now().Add(time.Hour)}
	}
	limits := DefaultLimits()
	limits.IntegrationRate = rate.Inf
	limits.IntegrationBurst = 1 << 20
	chain, err := NewChain(Route{Channel: ChannelWhatsApp, Sender: NewDevSender(io.Discard)})
	require.NoError(t, err)

	newService := func(t *testing.T, st store.Store) *Service {
		t.Helper()
		svc, err := NewService(st, keys, chain, WithLimits(limits))
		require.NoError(t, err)
		return svc
	}
	count := func(t *testing.T, svc *Service) float64 {
		t.Helper()
		i := 0
		return testing.AllocsPerRun(verifyAllocsRuns, func() {
			if _, err := svc.Verify(ctx, inputs[i]); err != nil {
				t.Fatalf("verification %d: %v", i, err)
			}
			i++
		})
	}

	t.Run("service", func(t *testing.T) {
		st := &allocFreeStore{codes: make(map[string]store.Code, n)}
		for _, p := range pairs {
			st.codes[p.Subject] = codeOf(p)
		}
		got := count(t, newService(t, st))
		t.Logf("%v allocations of the service's own per verification", got)
		assert.LessOrEqual(t, got, float64(serviceAllocs), "got %v allocations of the service's own per verification, want at most %d", got, serviceAllocs)
	})
	t.Run("memory", func(t *testing.T) {
		st := memory.New(memory.WithCleanupInterval(0))
		t.Cleanup(st.Close)
		svc := newService(t, st)
		fill := func() {
			for _, p := range pairs {
				require.NoError(t, st.PutCode(ctx, p, codeOf(p), time.Hour))
			}
		}
		// A first round makes the records that a customer's first
		// verification leaves behind (the list of its pairs) and grows the
		// store's maps, as BenchmarkVerify's first batch does: the second
		// round is the steady state that it measures.
		fill()
		for _, in := range inputs {
			_, err := svc.Verify(ctx, in)
			require.NoError(t, err)
		}
		fill()
		got := count(t, svc)
		want := float64(serviceAllocs + memoryAllocs)
		t.Logf("%v allocations per verification over the memory store", got)
		assert.LessOrEqual(t, got, want, "got %v allocations per verification over the memory store, want at most %v", got, want)
	})
}

// allocFreeStore is a store whose methods that a successful verification
// calls allocate nothing: every limit allows, and each subject has the
// code in codes, which it returns as charged once. It implements no other
// method (the embedded Store is nil).
type allocFreeStore struct {
	store.Store
	codes map[string]store.Code // by subject
}

func (*allocFreeStore) Take(context.Context, string, rate.Limit, int) (bool, time.Duration, error) {
	return true, 0, nil
}

func (*allocFreeStore) Hit(_ context.Context, _ string, limit int, _ time.Duration) (store.Window, error) {
	return store.Window{Allowed: true, Left: limit - 1}, nil
}

func (*allocFreeStore) Refund(context.Context, string) error { return nil }

func (s *allocFreeStore) AttemptCode(_ context.Context, p store.Pair, _ store.Budgets) (store.Attempt, error) {
	c, ok := s.codes[p.Subject]
	c.Attempts = 1
	return store.Attempt{Code: c, Found: ok}, nil
}

func (*allocFreeStore) ConsumeCode(context.Context, store.Pair, string) (bool, error) {
	return true, nil
}

func (*allocFreeStore) Succeed(context.Context, store.Pair) error { return nil }

func (*allocFreeStore) CreateSession(context.Context, string, store.Session, time.Duration) error {
	return nil
}

// TestRefundDetaches: a refund runs to completion whatever its caller's
// context does, with the caller's values. A context that can end is
// detached, with refundTimeout of its own; one that never ends is used as
// it is, which saves a verification's success path the detached context.
func TestRefundDetaches(t *testing.T) {
	type key struct{}
	spy := &refundSpy{}
	s := &Service{store: spy}
	base := context.WithValue(context.Background(), key{}, "caller's value")

	cctx, cancel := context.WithCancel(base)
	cancel()
	start := time.Now()
	s.refund(cctx, "fails:integration:goomer")
	require.NotNil(t, spy.ctx, "no refund")
	assert.Equal(t, "fails:integration:goomer", spy.key)
	assert.NoError(t, spy.err, "the refund's context was done")
	assert.Equal(t, "caller's value", spy.ctx.Value(key{}))
	dl, ok := spy.ctx.Deadline()
	assert.True(t, ok, "got a detached refund without a deadline, want one of refundTimeout")
	assert.WithinRange(t, dl, start.Add(refundTimeout), time.Now().Add(refundTimeout))
	assert.Error(t, spy.ctx.Err(), "the detached context outlived the refund")

	spy.ctx = nil
	s.refund(base, "fails:integration:goomer")
	assert.Equal(t, base, spy.ctx, "a context that never ends was not used as it is")
}

// refundSpy is a store that keeps what its Refund was called with.
type refundSpy struct {
	store.Store
	ctx context.Context
	key string
	err error // ctx.Err() during the call
}

func (r *refundSpy) Refund(ctx context.Context, key string) error {
	r.ctx, r.key, r.err = ctx, key, ctx.Err()
	return nil
}
