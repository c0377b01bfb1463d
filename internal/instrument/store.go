package instrument

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/store"
)

// op is a store method.
type op uint8

// The store methods, in the order of the store interfaces.
const (
	opPutCode op = iota
	opAttemptCode
	opConsumeCode
	opCreateSession
	opGetSession
	opUseSession
	opRevokeSession
	opRevokeSessions
	opCountSessions
	opFail
	opLocked
	opSucceed
	opStatus
	opUnlock
	opCooldown
	opHit
	opPeek
	opRefund
	opTake
	numOps
)

var opNames = [numOps]string{
	"PutCode", "AttemptCode", "ConsumeCode",
	"CreateSession", "GetSession", "UseSession", "RevokeSession", "RevokeSessions", "CountSessions",
	"Fail", "Locked", "Succeed", "Status", "Unlock", "Cooldown", "Hit", "Peek", "Refund", "Take",
}

// errStoreFailed is what a failed store call's span records: the store's
// own error text stays out of traces.
var errStoreFailed = errors.New("otpguard: store call failed")

// calls reports store calls: a child span per call when tracing, and a
// count of otpguard_store_errors per failure when metering.
type calls struct {
	tracer    trace.Tracer        // nil: no spans
	errors    metric.Int64Counter // nil: no counts
	errorOpts [numOps][]metric.AddOption
	spanNames [numOps]string
	spanOpts  [numOps][]trace.SpanStartOption
}

// StoreErrorsCounter returns otpguard_store_errors on m, nil when m is nil.
func StoreErrorsCounter(m metric.Meter) (metric.Int64Counter, error) {
	return Counter(m, StoreErrors, "{error}", "Failed store calls, by store method (operation).")
}

// newCalls returns the reporter of store calls, or nil when there is
// nothing to report.
func newCalls(tracer trace.Tracer, m metric.Meter) (*calls, error) {
	if tracer == nil && m == nil {
		return nil, nil
	}
	c := &calls{tracer: tracer}
	var err error
	if c.errors, err = StoreErrorsCounter(m); err != nil {
		return nil, err
	}
	for o := range numOps {
		c.errorOpts[o] = AddOptions(KeyOperation.String(opNames[o]))
		c.spanNames[o] = SpanStore + opNames[o]
		c.spanOpts[o] = []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(SpanOperation.String(opNames[o])),
		}
	}
	return c, nil
}

// start begins the span of a call of o, when tracing.
func (c *calls) start(ctx context.Context, o op) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, nil
	}
	return c.tracer.Start(ctx, c.spanNames[o], c.spanOpts[o]...)
}

// end ends the call of o begun by start, which returned err.
func (c *calls) end(ctx context.Context, span trace.Span, o op, err error) {
	if err != nil && c.errors != nil {
		c.errors.Add(ctx, 1, c.errorOpts[o]...)
	}
	if span == nil {
		return
	}
	if err != nil {
		Fail(span, errStoreFailed, Class(err))
	}
	span.End()
}

// Sessions returns s reporting each call as the package documentation of
// telemetry says, or s itself when there is nothing to report.
func Sessions(s store.Sessions, tracer trace.Tracer, m metric.Meter) (store.Sessions, error) {
	c, err := newCalls(tracer, m)
	if c == nil || err != nil {
		return s, err
	}
	return sessions{next: s, c: c}, nil
}

// Store returns st reporting each call as the package documentation of
// telemetry says, or st itself when there is nothing to report.
func Store(st store.Store, tracer trace.Tracer, m metric.Meter) (store.Store, error) {
	c, err := newCalls(tracer, m)
	if c == nil || err != nil {
		return st, err
	}
	return reportingStore{sessions: sessions{next: st, c: c}, next: st}, nil
}

type sessions struct {
	next store.Sessions
	c    *calls
}

func (s sessions) CreateSession(ctx context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	ctx, span := s.c.start(ctx, opCreateSession)
	err := s.next.CreateSession(ctx, tokenHash, sess, ttl)
	s.c.end(ctx, span, opCreateSession, err)
	return err
}

func (s sessions) GetSession(ctx context.Context, tokenHash string) (store.Session, bool, error) {
	ctx, span := s.c.start(ctx, opGetSession)
	sess, found, err := s.next.GetSession(ctx, tokenHash)
	s.c.end(ctx, span, opGetSession, err)
	return sess, found, err
}

func (s sessions) UseSession(ctx context.Context, tokenHash, action string) (bool, error) {
	ctx, span := s.c.start(ctx, opUseSession)
	first, err := s.next.UseSession(ctx, tokenHash, action)
	s.c.end(ctx, span, opUseSession, err)
	return first, err
}

func (s sessions) RevokeSession(ctx context.Context, tokenHash string) (bool, error) {
	ctx, span := s.c.start(ctx, opRevokeSession)
	deleted, err := s.next.RevokeSession(ctx, tokenHash)
	s.c.end(ctx, span, opRevokeSession, err)
	return deleted, err
}

func (s sessions) RevokeSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	ctx, span := s.c.start(ctx, opRevokeSessions)
	n, err := s.next.RevokeSessions(ctx, scope, id)
	s.c.end(ctx, span, opRevokeSessions, err)
	return n, err
}

func (s sessions) CountSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	ctx, span := s.c.start(ctx, opCountSessions)
	n, err := s.next.CountSessions(ctx, scope, id)
	s.c.end(ctx, span, opCountSessions, err)
	return n, err
}

// reportingStore is a store.Store reporting each call.
type reportingStore struct {
	sessions
	next store.Store
}

func (s reportingStore) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	ctx, span := s.c.start(ctx, opPutCode)
	err := s.next.PutCode(ctx, p, c, ttl)
	s.c.end(ctx, span, opPutCode, err)
	return err
}

func (s reportingStore) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	ctx, span := s.c.start(ctx, opAttemptCode)
	a, err := s.next.AttemptCode(ctx, p, b)
	s.c.end(ctx, span, opAttemptCode, err)
	return a, err
}

func (s reportingStore) ConsumeCode(ctx context.Context, p store.Pair, id string) (bool, error) {
	ctx, span := s.c.start(ctx, opConsumeCode)
	deleted, err := s.next.ConsumeCode(ctx, p, id)
	s.c.end(ctx, span, opConsumeCode, err)
	return deleted, err
}

func (s reportingStore) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	ctx, span := s.c.start(ctx, opFail)
	l, err := s.next.Fail(ctx, p, b)
	s.c.end(ctx, span, opFail, err)
	return l, err
}

func (s reportingStore) Locked(ctx context.Context, p store.Pair) (store.Lock, error) {
	ctx, span := s.c.start(ctx, opLocked)
	l, err := s.next.Locked(ctx, p)
	s.c.end(ctx, span, opLocked, err)
	return l, err
}

func (s reportingStore) Succeed(ctx context.Context, p store.Pair) error {
	ctx, span := s.c.start(ctx, opSucceed)
	err := s.next.Succeed(ctx, p)
	s.c.end(ctx, span, opSucceed, err)
	return err
}

func (s reportingStore) Status(ctx context.Context, subject string) (store.Status, error) {
	ctx, span := s.c.start(ctx, opStatus)
	st, err := s.next.Status(ctx, subject)
	s.c.end(ctx, span, opStatus, err)
	return st, err
}

func (s reportingStore) Unlock(ctx context.Context, subject, integration string) error {
	ctx, span := s.c.start(ctx, opUnlock)
	err := s.next.Unlock(ctx, subject, integration)
	s.c.end(ctx, span, opUnlock, err)
	return err
}

func (s reportingStore) Cooldown(ctx context.Context, key string, d time.Duration) (bool, time.Duration, error) {
	ctx, span := s.c.start(ctx, opCooldown)
	ok, retry, err := s.next.Cooldown(ctx, key, d)
	s.c.end(ctx, span, opCooldown, err)
	return ok, retry, err
}

func (s reportingStore) Hit(ctx context.Context, key string, limit int, window time.Duration) (store.Window, error) {
	ctx, span := s.c.start(ctx, opHit)
	w, err := s.next.Hit(ctx, key, limit, window)
	s.c.end(ctx, span, opHit, err)
	return w, err
}

func (s reportingStore) Peek(ctx context.Context, key string, limit int) (store.Window, error) {
	ctx, span := s.c.start(ctx, opPeek)
	w, err := s.next.Peek(ctx, key, limit)
	s.c.end(ctx, span, opPeek, err)
	return w, err
}

func (s reportingStore) Refund(ctx context.Context, key string) error {
	ctx, span := s.c.start(ctx, opRefund)
	err := s.next.Refund(ctx, key)
	s.c.end(ctx, span, opRefund, err)
	return err
}

func (s reportingStore) Take(ctx context.Context, key string, r rate.Limit, burst int) (bool, time.Duration, error) {
	ctx, span := s.c.start(ctx, opTake)
	ok, retry, err := s.next.Take(ctx, key, r, burst)
	s.c.end(ctx, span, opTake, err)
	return ok, retry, err
}
