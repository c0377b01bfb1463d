package otpcode_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

// assertSealed checks that sess, stored under hash, is sealed with keys
// (store.Sealed), and that changing any of its fields, its hash or the keys
// breaks the seal.
func assertSealed(t *testing.T, keys *keyring.Keyring, hash string, sess store.Session) {
	t.Helper()
	require.Len(t, sess.MAC, sha256.Size, "got a session MAC of %d bytes, want %d", len(sess.MAC), sha256.Size)
	require.True(t, store.Sealed(keys, hash, &sess), "got a session the service did not seal")
	changes := []struct {
		field  string
		change func(*store.Session)
	}{
		{"Integration", func(s *store.Session) { s.Integration += "x" }},
		{"CustomerID", func(s *store.Session) { s.CustomerID += "x" }},
		{"Scopes (one added)", func(s *store.Session) { s.Scopes = append(s.Scopes, "admin") }},
		{"Scopes (all dropped or one set)", func(s *store.Session) {
			if len(s.Scopes) > 0 {
				s.Scopes = nil
			} else {
				s.Scopes = []string{"redeem_reward"}
			}
		}},
		{"VerifiedAt", func(s *store.Session) { s.VerifiedAt = s.VerifiedAt.Add(-time.Nanosecond) }},
		{"ExpiresAt", func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.Add(time.Hour) }},
		{"MAC", func(s *store.Session) { s.MAC[len(s.MAC)-1] ^= 1 }},
	}
	for _, c := range changes {
		changed := sess
		changed.Scopes = slices.Clone(sess.Scopes)
		changed.MAC = bytes.Clone(sess.MAC)
		c.change(&changed)
		assert.False(t, store.Sealed(keys, hash, &changed), "got the session sealed with its %s changed", c.field)
	}
	assert.False(t, store.Sealed(keys, store.HashToken("another token"), &sess), "got the session sealed under another token's hash")
	other, err := keyring.New(testKey(2))
	require.NoError(t, err)
	assert.False(t, store.Sealed(other, hash, &sess), "got the session sealed under another key")
}

// argLog is a store that records every argument any of its methods
// receives, then passes the call on, so a test can check all that a store
// is ever told. It embeds nothing: every method of store.Store is written
// out below, so that one added to the interface cannot go unrecorded.
type argLog struct {
	next  store.Store
	mu    sync.Mutex
	calls []string // the method's name, then each argument but ctx, as %+v
}

var _ store.Store = (*argLog)(nil)

func (l *argLog) log(method string, args ...any) {
	var b strings.Builder
	b.WriteString(method)
	for _, a := range args {
		fmt.Fprintf(&b, " %+v", a)
	}
	l.mu.Lock()
	l.calls = append(l.calls, b.String())
	l.mu.Unlock()
}

func (l *argLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func (l *argLog) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	l.log("PutCode", p, c, ttl)
	return l.next.PutCode(ctx, p, c, ttl)
}

func (l *argLog) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	l.log("AttemptCode", p, b)
	return l.next.AttemptCode(ctx, p, b)
}

func (l *argLog) ConsumeCode(ctx context.Context, p store.Pair, id string) (bool, error) {
	l.log("ConsumeCode", p, id)
	return l.next.ConsumeCode(ctx, p, id)
}

func (l *argLog) CreateSession(ctx context.Context, tokenHash string, s store.Session, ttl time.Duration) error {
	l.log("CreateSession", tokenHash, s, ttl)
	return l.next.CreateSession(ctx, tokenHash, s, ttl)
}

func (l *argLog) GetSession(ctx context.Context, tokenHash string) (store.Session, bool, error) {
	l.log("GetSession", tokenHash)
	return l.next.GetSession(ctx, tokenHash)
}

func (l *argLog) UseSession(ctx context.Context, tokenHash, action string) (bool, error) {
	l.log("UseSession", tokenHash, action)
	return l.next.UseSession(ctx, tokenHash, action)
}

func (l *argLog) RevokeSession(ctx context.Context, tokenHash string) (bool, error) {
	l.log("RevokeSession", tokenHash)
	return l.next.RevokeSession(ctx, tokenHash)
}

func (l *argLog) RevokeSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	l.log("RevokeSessions", scope, id)
	return l.next.RevokeSessions(ctx, scope, id)
}

func (l *argLog) CountSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	l.log("CountSessions", scope, id)
	return l.next.CountSessions(ctx, scope, id)
}

func (l *argLog) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	l.log("Fail", p, b)
	return l.next.Fail(ctx, p, b)
}

func (l *argLog) Locked(ctx context.Context, p store.Pair) (store.Lock, error) {
	l.log("Locked", p)
	return l.next.Locked(ctx, p)
}

func (l *argLog) Succeed(ctx context.Context, p store.Pair) error {
	l.log("Succeed", p)
	return l.next.Succeed(ctx, p)
}

func (l *argLog) Status(ctx context.Context, subject string) (store.Status, error) {
	l.log("Status", subject)
	return l.next.Status(ctx, subject)
}

func (l *argLog) Unlock(ctx context.Context, subject, integration string) error {
	l.log("Unlock", subject, integration)
	return l.next.Unlock(ctx, subject, integration)
}

func (l *argLog) Cooldown(ctx context.Context, key string, d time.Duration) (bool, time.Duration, error) {
	l.log("Cooldown", key, d)
	return l.next.Cooldown(ctx, key, d)
}

func (l *argLog) Hit(ctx context.Context, key string, limit int, window time.Duration) (store.Window, error) {
	l.log("Hit", key, limit, window)
	return l.next.Hit(ctx, key, limit, window)
}

func (l *argLog) Peek(ctx context.Context, key string, limit int) (store.Window, error) {
	l.log("Peek", key, limit)
	return l.next.Peek(ctx, key, limit)
}

func (l *argLog) Refund(ctx context.Context, key string) error {
	l.log("Refund", key)
	return l.next.Refund(ctx, key)
}

func (l *argLog) Take(ctx context.Context, key string, r rate.Limit, burst int) (bool, time.Duration, error) {
	l.log("Take", key, r, burst)
	return l.next.Take(ctx, key, r, burst)
}

// everywhere knows Maria by her phone, her email and her CPF.
type everywhere struct{}

const mariaCPF = "52998224725"

func (everywhere) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if id.Value == maria || id.Value == mariaEmail || id.Value == mariaCPF {
		return otpcode.Customer{ID: "cust-maria", Contacts: otpcode.Contacts{Phone: maria, Email: mariaEmail}}, true, nil
	}
	return otpcode.Customer{}, false, nil
}

func (d everywhere) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return d.Lookup(ctx, id)
}

// assertNothingNamed checks that no call in log names any of the
// identifiers, in any case, and that the calls include each of methods,
// so that the check is not vacuous.
func assertNothingNamed(t *testing.T, log *argLog, identifiers []string, methods []string) {
	t.Helper()
	calls := log.all()
	seen := map[string]bool{}
	for _, c := range calls {
		name, _, _ := strings.Cut(c, " ")
		seen[name] = true
		lower := strings.ToLower(c)
		for _, id := range identifiers {
			assert.NotContains(t, lower, strings.ToLower(id), "the store was told %q", c)
		}
	}
	for _, m := range methods {
		assert.True(t, seen[m], "got no call of %s, want the flow to reach it", m)
	}
	t.Logf("%d store calls checked", len(calls))
}

// TestStoreNeverSeesIdentifiers runs whole flows (requests, a wrong guess,
// right codes, status, unlock, revocation) and checks that no argument of
// any store method named the phone number, the email address or the CPF:
// the store knows customers only by keyed pseudonyms.
func TestStoreNeverSeesIdentifiers(t *testing.T) {
	ctx := context.Background()
	const (
		phoneDigits   = "987654321" // in Maria's number and the stranger's
		strangerPhone = "+5521987654321"
		strangerEmail = "new.person@example.com"
	)
	identifiers := []string{phoneDigits, mariaEmail, strangerEmail, mariaCPF}

	t.Run("a customer the directory knows", func(t *testing.T) {
		log := &argLog{}
		f := newFixture(t, func(l *otpcode.Limits) { l.ResendCooldown = 0 },
			func(s store.Store) store.Store { log.next = s; return log },
			otpcode.WithDirectory(everywhere{}))

		// By CPF: the code goes to her phone; a wrong guess, then the
		// right code given with her phone number (the same customer).
		_, err := f.svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "529.982.247-25"})
		require.NoError(t, err)
		code := f.whatsapp.last(t).Code
		_, err = f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: mariaCPF, Code: wrong(code)})
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
		st, err := f.svc.Status(ctx, "cust-maria")
		require.NoError(t, err)
		assert.Equal(t, 1, st.Limits.CustomerFailures, "got %d failures, want the wrong guess counted for the customer", st.Limits.CustomerFailures)
		direct, err := f.store.Status(ctx, subject(f.keys, "customer:cust-maria"))
		require.NoError(t, err)
		assert.Equal(t, st.Limits, direct, "got the customer's limits kept under another subject than its pseudonym")
		v, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: "+55 11 98765-4321", Code: code})
		require.NoError(t, err)
		assert.Equal(t, "cust-maria", v.Customer.ID)

		// By email, verified by email, for another integration.
		_, err = f.svc.Request(ctx, otpcode.RequestInput{Integration: saipos, Identifier: "Maria@Example.com", Channel: otpcode.ChannelEmail})
		require.NoError(t, err)
		v2, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: saipos, Identifier: mariaEmail, Code: f.email.last(t).Code, Scopes: []string{"redeem_reward"}})
		require.NoError(t, err)

		st, err = f.svc.Status(ctx, "cust-maria")
		require.NoError(t, err)
		assert.Equal(t, 2, st.Sessions)
		require.NoError(t, f.svc.Unlock(ctx, "cust-maria", ""))
		ok, err := f.svc.RevokeOwned(ctx, saipos, v2.Session)
		require.NoError(t, err)
		assert.True(t, ok)
		n, err := f.svc.RevokeCustomer(ctx, "cust-maria")
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		assertNothingNamed(t, log, identifiers, []string{
			"PutCode", "AttemptCode", "ConsumeCode", "Fail", "Succeed", "Locked",
			"CreateSession", "GetSession", "RevokeSession", "RevokeSessions", "CountSessions",
			"Status", "Unlock", "Hit", "Take",
		})
	})

	t.Run("strangers, with the default directory", func(t *testing.T) {
		clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
		mem := memory.New(memory.WithClock(clock.Now))
		t.Cleanup(mem.Close)
		log := &argLog{next: mem}
		keys := mustKeys(t)
		whatsapp, email := &outbox{}, &outbox{}
		chain, err := otpcode.NewChain(
			otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: whatsapp},
			otpcode.Route{Channel: otpcode.ChannelEmail, Sender: email},
		)
		require.NoError(t, err)
		limits := otpcode.DefaultLimits()
		limits.ResendCooldown = 0
		svc, err := otpcode.NewService(log, keys, chain, otpcode.WithLimits(limits), otpcode.WithClock(clock.Now))
		require.NoError(t, err)

		// A phone number nobody knows is its own customer, whose ID is
		// its pseudonym.
		_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "+55 21 98765-4321"})
		require.NoError(t, err)
		msg := whatsapp.last(t)
		require.Equal(t, strangerPhone, msg.To)
		_, err = svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: strangerPhone, Code: wrong(msg.Code)})
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
		v, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: strangerPhone, Code: msg.Code})
		require.NoError(t, err)
		assert.Equal(t, subject(keys, "phone:"+strangerPhone), v.Customer.ID)
		hash := store.HashToken(v.Session)
		sess, found, err := mem.GetSession(ctx, hash)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, v.Customer.ID, sess.CustomerID)
		assertSealed(t, keys, hash, sess)

		// So is an email address.
		_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "New.Person@Example.COM"})
		require.NoError(t, err)
		ve, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: strangerEmail, Code: email.last(t).Code})
		require.NoError(t, err)
		assert.Equal(t, subject(keys, "email:"+strangerEmail), ve.Customer.ID)

		// A CPF nobody knows is refused, and a guess at it finds no code.
		_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: "529.982.247-25"})
		require.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
		_, err = svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: mariaCPF, Code: "123456"})
		require.ErrorIs(t, err, otpcode.ErrNotRequested)

		st, err := svc.Status(ctx, v.Customer.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Sessions)
		require.NoError(t, svc.Unlock(ctx, v.Customer.ID, ""))
		n, err := svc.RevokeCustomer(ctx, v.Customer.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		assertNothingNamed(t, log, identifiers, []string{
			"PutCode", "AttemptCode", "ConsumeCode", "Fail", "Succeed", "Locked",
			"CreateSession", "RevokeSessions", "CountSessions", "Status", "Unlock", "Hit", "Take",
		})
	})
}

// TestCodesAreKeptUnderPseudonyms puts codes straight into the store, as
// the benchmarks do, and checks where the service looks for them: under the
// pseudonym of "customer:<id>" for a customer the directory knows, and for
// an identifier it does not know under that of the customer the default
// directory makes of it; never under a plain subject.
func TestCodesAreKeptUnderPseudonyms(t *testing.T) {
	ctx := context.Background()
	keys := mustKeys(t) // the fixture's key
	const code = "123456"
	tests := []struct {
		name       string
		identifier string
		subject    string // where the code is put
		found      bool
	}{
		{"known customer, by its pseudonym", maria, subject(keys, "customer:cust-maria"), true},
		{"known customer, by the plain subject", maria, "customer:cust-maria", false},
		{"known customer, by the identifier's pseudonym", maria, subject(keys, "phone:"+maria), false},
		{"stranger, by its customer's pseudonym", "+5521987654321", strangerSubject(keys, "phone:+5521987654321"), true},
		{"stranger, by the identifier's pseudonym", "+5521987654321", subject(keys, "phone:+5521987654321"), false},
		{"stranger, by the plain subject", "+5521987654321", "phone:+5521987654321", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			sub := tt.subject
			rec := store.Code{ID: "poked", MAC: f.keys.Sign(codeDomain, goomer, sub, "", code), Integration: goomer, ExpiresAt: f.clock.Now().Add(time.Minute)}
			require.NoError(t, f.store.PutCode(ctx, store.Pair{Integration: goomer, Subject: sub}, rec, time.Minute))
			_, err := f.svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: tt.identifier, Code: code})
			if tt.found {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, otpcode.ErrNotRequested)
			}
		})
	}
}

// TestStatusAndUnlockOfDefaultDirectoryCustomer: with the default
// directory, the customer ID verify-otp returns is the identifier's
// pseudonym, and the limits are kept under that customer's subject; Status
// and Unlock, given that ID, must reach them.
func TestStatusAndUnlockOfDefaultDirectoryCustomer(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	mem := memory.New(memory.WithClock(clock.Now))
	t.Cleanup(mem.Close)
	whatsapp := &outbox{}
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: whatsapp})
	require.NoError(t, err)
	limits := otpcode.DefaultLimits()
	limits.ResendCooldown = 0
	svc, err := otpcode.NewService(mem, mustKeys(t), chain, otpcode.WithLimits(limits), otpcode.WithClock(clock.Now))
	require.NoError(t, err)

	_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
	require.NoError(t, err)
	v, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: whatsapp.last(t).Code})
	require.NoError(t, err)
	_, err = svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: maria})
	require.NoError(t, err)
	code := whatsapp.last(t).Code
	for range 5 {
		_, err = svc.Verify(ctx, otpcode.VerifyInput{Integration: goomer, Identifier: maria, Code: wrong(code)})
		require.ErrorIs(t, err, otpcode.ErrInvalidCode)
	}
	st, err := svc.Status(ctx, v.Customer.ID)
	require.NoError(t, err)
	assert.Equal(t, 5, st.Limits.CustomerFailures, "got %d failures for customer %q, want 5", st.Limits.CustomerFailures, v.Customer.ID)
	require.NoError(t, svc.Unlock(ctx, v.Customer.ID, ""))
	st, err = svc.Status(ctx, v.Customer.ID)
	require.NoError(t, err)
	assert.Zero(t, st.Limits.CustomerFailures, "got failures left after Unlock")
}
