package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store"
)

// tagLua is tag in Lua: it escapes an integration ID as the Go function
// does, so that a script can build a pair's key from the integrations it
// reads in the subject's set of pairs. Those keys carry the subject's hash
// tag, like the script's declared keys, so they are in the same slot.
const tagLua = `
local escapes = {['%'] = '%25', ['{'] = '%7B', ['}'] = '%7D'}
local function tag(s)
  if s == '' then return '%' end
  return (string.gsub(s, '[%%{}]', escapes))
end
`

// statusScript: KEYS clock, cfails, pairs (the subject's); ARGV the
// beginning of its pairs' lock keys, and of their count keys. Returns
// {customer lock ms, customer count, {integration, lock ms, count, ...}}
// with 0 ms for no lock and "" for no count, for every integration in
// pairs. It writes nothing.
var statusScript = redis.NewScript(tagLua + `
local function remaining(k)
  local p = redis.call('PTTL', k)
  if p == -2 then return 0 end
  if p < 1 then p = 1 end
  return p
end
local list = {}
for _, in_ in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local t = tag(in_)
  table.insert(list, in_)
  table.insert(list, remaining(ARGV[1] .. t))
  table.insert(list, redis.call('GET', ARGV[2] .. t) or '')
end
return {remaining(KEYS[1]), redis.call('GET', KEYS[2]) or '', list}
`)

// Status returns the customer's lock in force and consecutive-failure
// count, and the lock and failure count of every pair of subject that has
// either, sorted by integration, in one read-only script over the
// subject's keys: the customer's lock and count, the set of its pairs (which
// AttemptCode and Fail keep), and each listed pair's lock and count.
func (s *Store) Status(ctx context.Context, subject string) (store.Status, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.subjectKeysOf(subject)
	v, err := statusScript.Run(ctx, s.client, []string{k.clock, k.cfails, k.pairs}, k.lockBase, k.failsBase).Slice()
	if err != nil {
		return store.Status{}, fmt.Errorf("redisstore: status: %w", err)
	}
	st, err := decodeStatus(v)
	if err != nil {
		return store.Status{}, fmt.Errorf("redisstore: status: %w", err)
	}
	return st, nil
}

// decodeStatus turns statusScript's reply into a Status.
func decodeStatus(v []any) (store.Status, error) {
	var st store.Status
	if len(v) != 3 {
		return st, fmt.Errorf("unexpected status reply of %d elements", len(v))
	}
	lockMs, ok1 := v[0].(int64)
	pairs, ok2 := v[2].([]any)
	if !ok1 || !ok2 || len(pairs)%3 != 0 {
		return st, fmt.Errorf("unexpected status reply %v", v)
	}
	if lockMs > 0 {
		st.Customer = store.Lock{Scope: store.ScopeCustomer, Remaining: msDuration(lockMs)}
	}
	n, err := decodeCount(v[1])
	if err != nil {
		return store.Status{}, fmt.Errorf("customer count: %w", err)
	}
	st.CustomerFailures = n
	for i := 0; i < len(pairs); i += 3 {
		in, ok1 := pairs[i].(string)
		lockMs, ok2 := pairs[i+1].(int64)
		if !ok1 || !ok2 {
			return store.Status{}, fmt.Errorf("unexpected pair status %v", pairs[i:i+3])
		}
		ps := store.PairStatus{Integration: in}
		if lockMs > 0 {
			ps.Lock = store.Lock{Scope: store.ScopePair, Remaining: msDuration(lockMs)}
		}
		if ps.Failures, err = decodeCount(pairs[i+2]); err != nil {
			return store.Status{}, fmt.Errorf("count of pair %q: %w", in, err)
		}
		if ps.Lock.Locked() || ps.Failures > 0 {
			st.Pairs = append(st.Pairs, ps)
		}
	}
	slices.SortFunc(st.Pairs, func(a, b store.PairStatus) int { return strings.Compare(a.Integration, b.Integration) })
	return st, nil
}

// decodeCount parses a failure count as a script replies it: "" for none.
func decodeCount(v any) (int, error) {
	str, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected count %T", v)
	}
	if str == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(str)
	if err != nil {
		return 0, fmt.Errorf("corrupt count: %w", err)
	}
	return n, nil
}

// unlockPairScript: KEYS lock, fails (the pair's), pairs (the subject's);
// ARGV integration. Deletes the pair's lock and count and drops it from
// pairs.
var unlockPairScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`)

// unlockAllScript: KEYS clock, cfails, pairs (the subject's); ARGV the
// beginning of its pairs' lock keys, and of their count keys. Deletes the
// lock and count of every pair in pairs, then the customer's lock and count
// and pairs itself.
var unlockAllScript = redis.NewScript(tagLua + `
for _, in_ in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local t = tag(in_)
  redis.call('DEL', ARGV[1] .. t, ARGV[2] .. t)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`)

// Unlock deletes the lock and failure count of subject's pair with
// integration, or, when integration is "", the customer's lock and count and
// those of every pair in the subject's set of pairs, in one script over the
// subject's keys. Codes, cooldowns, windows, buckets and sessions are left
// alone.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) Unlock(ctx context.Context, subject, integration string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var err error
	if integration != "" {
		k := s.keysOf(store.Pair{Integration: integration, Subject: subject})
		err = s.write(ctx, unlockPairScript, []string{k.lock, k.fails, k.pairs}, integration).Err()
	} else {
		k := s.subjectKeysOf(subject)
		err = s.write(ctx, unlockAllScript, []string{k.clock, k.cfails, k.pairs}, k.lockBase, k.failsBase).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: unlock: %w", err)
	}
	return nil
}
