package otpcode_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
)

// enrolling is a directory that knows nobody until it makes a customer,
// with an ID of its own, on the first Resolve of an identifier: a host's
// directory that enrolls new customers at verification.
type enrolling struct {
	mu    sync.Mutex
	known map[string]string // identifier value → customer ID
}

func (d *enrolling) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cid, ok := d.known[id.Value]
	return otpcode.Customer{ID: cid, Contacts: otpcode.Contacts{Phone: id.Value}}, ok, nil
}

func (d *enrolling) Resolve(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cid, ok := d.known[id.Value]; ok {
		return otpcode.Customer{ID: cid}, true, nil
	}
	cid := "cust-" + id.Value[len(id.Value)-4:]
	d.known[id.Value] = cid
	return otpcode.Customer{ID: cid, IsNew: true}, true, nil
}

// TestVerifyAfterAnotherPartnerEnrolled: two partners request codes for a
// phone nobody knows; the first to verify makes the customer. The
// second's code, issued to the stranger the phone was then, still
// verifies — for the same customer, not new — and a wrong guess at it is
// judged as wrong, not as a code never requested.
func TestVerifyAfterAnotherPartnerEnrolled(t *testing.T) {
	onStores(t, testVerifyAfterAnotherPartnerEnrolled)
}

func testVerifyAfterAnotherPartnerEnrolled(t *testing.T, wrap func(store.Store) store.Store) {
	const phone = "+5531987650000"
	dir := &enrolling{known: map[string]string{}}
	f := newFixture(t, manyRequests, wrap, otpcode.WithDirectory(dir))
	ctx := context.Background()
	codes := map[string]string{}
	for _, partner := range []string{"goomer", "saipos"} {
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: partner, Identifier: phone})
		require.NoError(t, err, "request for %s", partner)
		codes[partner] = f.whatsapp.last(t).Code
	}
	verify := func(partner, code string) (otpcode.VerifyResult, error) {
		return f.svc.Verify(ctx, otpcode.VerifyInput{Integration: partner, Identifier: phone, Code: code})
	}

	first, err := verify("goomer", codes["goomer"])
	require.NoError(t, err)
	assert.True(t, first.Customer.IsNew, "the first verification makes the customer")

	_, err = verify("saipos", wrong(codes["saipos"]))
	assert.ErrorIs(t, err, otpcode.ErrInvalidCode, "a wrong guess at the stranger's code")
	second, err := verify("saipos", codes["saipos"])
	require.NoError(t, err, "the code issued before the customer existed")
	assert.Equal(t, first.Customer.ID, second.Customer.ID, "one phone, one customer")
	assert.False(t, second.Customer.IsNew)

	// Both codes are used: neither subject has one left.
	_, err = verify("saipos", codes["saipos"])
	assert.ErrorIs(t, err, otpcode.ErrNotRequested)
}

// TestStrangerLockIsNotTheCustomers: a partner that locked its pair by
// guessing at a code issued to a stranger, before the customer existed,
// finds after enrollment that no code was requested — the answer the
// operator's view of the customer (Status: no lock) explains — and the
// lock, which is the stranger's, keeps that old code from being judged.
func TestStrangerLockIsNotTheCustomers(t *testing.T) {
	onStores(t, testStrangerLockIsNotTheCustomers)
}

func testStrangerLockIsNotTheCustomers(t *testing.T, wrap func(store.Store) store.Store) {
	const phone = "+5531987650001"
	dir := &enrolling{known: map[string]string{}}
	f := newFixture(t, func(l *otpcode.Limits) { manyRequests(l); l.LockAfter = 2 }, wrap, otpcode.WithDirectory(dir))
	ctx := context.Background()
	verify := func(partner, code string) (otpcode.VerifyResult, error) {
		return f.svc.Verify(ctx, otpcode.VerifyInput{Integration: partner, Identifier: phone, Code: code})
	}
	for _, partner := range []string{"goomer", "saipos"} {
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: partner, Identifier: phone})
		require.NoError(t, err, "request for %s", partner)
	}
	saiposCode := f.whatsapp.last(t).Code
	_, err := verify("saipos", wrong(saiposCode))
	require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	_, err = verify("saipos", wrong(saiposCode))
	require.ErrorIs(t, err, otpcode.ErrLocked, "the stranger's pair locked")

	// goomer's verification makes the customer.
	_, err = verify("goomer", f.whatsapp.msgs[0].Code)
	require.NoError(t, err)

	_, err = verify("saipos", saiposCode)
	assert.ErrorIs(t, err, otpcode.ErrNotRequested, "the stranger's locked code, after enrollment")
	assert.NotErrorIs(t, err, otpcode.ErrLocked)
	st, err := f.svc.Status(ctx, "cust-0001")
	require.NoError(t, err)
	assert.Equal(t, store.Status{}, st.Limits, "the customer's status: no lock, no count, no pair")
}

// onStores runs test over the fixture's memory store and over Redis (a
// server of the test's own prefix; see internal/redistest), for tests
// that do not move the clock.
func onStores(t *testing.T, test func(t *testing.T, wrap func(store.Store) store.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, nil) })
	t.Run("redis", func(t *testing.T) {
		client := redistest.Client(t)
		rs, err := redisstore.New(client, redisstore.WithPrefix(redistest.Prefix(t, client)))
		require.NoError(t, err)
		test(t, func(store.Store) store.Store { return rs })
	})
}
