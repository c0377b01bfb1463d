package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store/redisstore"
)

// redisClub keeps the programme's data on Redis, in the Redis and under
// the prefix of the OTP store, so that every instance sharing them sees
// the same customers, points, coupons and webhooks. It is safe for
// concurrent use and holds no data of its own.
//
// # Keys
//
// With P the OTP store's prefix followed by "loyalty:" (the OTP store's own
// keys follow its prefix with "{" or "session:", so the two never meet), C
// a customer ID, N a pseudonym (Config.Pseudonym) of an identifier's
// subject ("phone:+5511987654321") and K a coupon code:
//
//	key               type    holds
//	P{c:C}            hash    the customer: points, tier, enrolled ("1" or "0"), ids (a JSON array of
//	                          its identifiers' pseudonyms) and, sealed (see club_seal.go), name, phone, email, cpf
//	P{c:C}:history    list    its history, one JSON entry each, oldest first
//	P{c:C}:coupons    hash    its coupons: "d:K" the description, "u:K" when it was used (RFC 3339)
//	P{id:N}           string  the ID of the customer the identifier names
//	P{coupon:K}       string  the ID of the coupon's owner
//	Pcustomers        set     every customer ID (search, the list of every coupon)
//	Pwebhooks         list    the webhooks, one JSON object each
//
// No key or value holds an identifier or a name in clear: identifiers are
// pseudonyms in key names, contacts and names are sealed.
//
// # Atomicity and Redis Cluster
//
// A customer's three keys share the hash tag {c:C}, so every change of a
// customer (award, redeem: check the points, spend them, write the history
// and issue the coupon; use a coupon once; enroll) is one Lua script on one
// slot. The identifier index and the coupon index are in slots of their
// own, so creating a customer takes steps in an order that keeps the data
// whole: the index entry first (SET NX: of two instances creating the same
// identifier at once, one wins and both go on with the winner's ID), then
// the customer set, then the record (a script that writes it only when it
// does not exist yet, and says which caller wrote it). Redeeming reserves
// the new coupon's code first (SET NX) and runs the redemption; a refused
// redemption deletes the reservation. An index entry whose record does not
// exist (yet) names no customer; create makes the record.
//
// # Expiry
//
// Every key expires loyaltyTTL (30 days) after the last change of its
// customer, so test data never lingers and the whole Redis has a TTL on
// every key. A script that changes a customer re-arms the expiry of its
// three keys and returns the names of its index entries and coupon codes,
// whose expiry the club then re-arms with one pipeline (best effort: a
// failure there is not the change's, and the next change re-arms them
// again). The customer set and the webhook list are re-armed when written
// to. Reads re-arm nothing: a customer nobody changes for 30 days is
// forgotten, identifiers, coupons and all. The sample data is written when
// an instance starts and finds it missing (SET NX, and a record script that
// writes only a missing record), so restarts never reset balances and the
// sample customers come back 30 days after they were last changed.
type redisClub struct {
	client    redis.UniversalClient
	prefix    string // the OTP store's prefix + "loyalty:"
	ttl       time.Duration
	ttlArg    string // ttl in milliseconds, for scripts
	timeout   time.Duration
	sealer    *sealer
	pseudonym func(string) string
}

var _ clubData = (*redisClub)(nil)

// loyaltyTTL is how long the example's loyalty data lives on Redis after
// its customer's last change.
const loyaltyTTL = 30 * 24 * time.Hour

// redisClubTimeout bounds each redisClub method, all its round trips
// included.
const redisClubTimeout = time.Second

// seedTimeout bounds the writing of the sample data when a server starts.
const seedTimeout = 10 * time.Second

// newRedisClub returns the club on cfg.Redis under cfg.RedisPrefix, and
// writes s there unless it is there already.
func newRedisClub(ctx context.Context, cfg Config, peppers [][]byte, s seed) (*redisClub, error) {
	if err := redisstore.CheckClient(cfg.Redis); err != nil {
		return nil, fmt.Errorf("loyalty: redis: %w", err)
	}
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = redisstore.DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("loyalty: redis prefix %q contains '{' or '}'", prefix)
	}
	keys, err := dataKeys(cfg.DataKey, peppers)
	if err != nil {
		return nil, err
	}
	sl, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	r := &redisClub{
		client:    cfg.Redis,
		prefix:    prefix + "loyalty:",
		ttl:       loyaltyTTL,
		ttlArg:    strconv.FormatInt(loyaltyTTL.Milliseconds(), 10),
		timeout:   redisClubTimeout,
		sealer:    sl,
		pseudonym: cfg.Pseudonym,
	}
	if r.pseudonym == nil {
		if r.pseudonym, err = keyedPseudonym(peppers[0]); err != nil {
			return nil, err
		}
	}
	if err := r.seed(ctx, s); err != nil {
		return nil, err
	}
	return r, nil
}

// Keys.

// tag escapes s for a hash tag, as redisstore does: '%', '{' and '}' as
// %25, %7B and %7D, and "" as a lone '%', so that any string makes a valid,
// distinct tag.
func tag(s string) string {
	if s == "" {
		return "%"
	}
	return strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D").Replace(s)
}

// customerKeys returns a customer's record, history and coupons keys.
func (r *redisClub) customerKeys(customerID string) []string {
	k := r.prefix + "{c:" + tag(customerID) + "}"
	return []string{k, k + ":history", k + ":coupons"}
}

func (r *redisClub) identifierKey(pseudonym string) string {
	return r.prefix + "{id:" + tag(pseudonym) + "}"
}

func (r *redisClub) couponKey(code string) string { return r.prefix + "{coupon:" + tag(code) + "}" }
func (r *redisClub) customersKey() string         { return r.prefix + "customers" }
func (r *redisClub) webhooksKey() string          { return r.prefix + "webhooks" }

// pseudonymOf returns the pseudonym of id's subject.
func (r *redisClub) pseudonymOf(id otpcode.Identifier) string { return r.pseudonym(id.Subject()) }

// bound returns ctx with the club's deadline.
func (r *redisClub) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Scripts. KEYS are a customer's record, history and coupons keys (one
// slot); ARGV[1] is the expiry in milliseconds.

// touchLua re-arms the expiry of a customer's keys and returns what the
// club re-arms outside the slot: the record's ids and the coupon codes.
const touchLua = `
local function touch()
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  local codes = {}
  for _, f in ipairs(redis.call('HKEYS', KEYS[3])) do
    if string.sub(f, 1, 2) == 'd:' then codes[#codes + 1] = string.sub(f, 3) end
  end
  return {redis.call('HGET', KEYS[1], 'ids') or '', codes}
end
`

var (
	// createScript writes a record, ARGV[3] .. ARGV[2+ARGV[2]] as field
	// and value pairs, and the coupons, the remaining pairs, unless the
	// record exists; 1 when it wrote them.
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local n = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + n))
if #ARGV > 2 + n then redis.call('HSET', KEYS[3], unpack(ARGV, 3 + n, #ARGV)) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
return 1
`)

	// readScript returns the record and the history, or nil.
	readScript = redis.NewScript(`
local rec = redis.call('HGETALL', KEYS[1])
if #rec == 0 then return false end
return {rec, redis.call('LRANGE', KEYS[2], 0, -1)}
`)

	// awardScript adds ARGV[2] points and the entry ARGV[3]; it returns
	// {balance, touch}, or nil for no customer.
	awardScript = redis.NewScript(touchLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local balance = redis.call('HINCRBY', KEYS[1], 'points', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return {balance, touch()}
`)

	// redeemScript spends ARGV[2] points, adds the entry ARGV[3] and the
	// coupon ARGV[4] described ARGV[5]: {"ok", balance, touch}, or
	// {"insufficient", balance}, or {"no-customer"}.
	redeemScript = redis.NewScript(touchLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no-customer'} end
local points = tonumber(redis.call('HGET', KEYS[1], 'points') or '0')
local cost = tonumber(ARGV[2])
if points < cost then return {'insufficient', points} end
local balance = redis.call('HINCRBY', KEYS[1], 'points', -cost)
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], 'd:' .. ARGV[4], ARGV[5])
return {'ok', balance, touch()}
`)

	// useScript marks the coupon ARGV[2] used at ARGV[3], once:
	// {"ok", description, used at, touch}, {"used", description, used at}
	// or {"no-coupon"}.
	useScript = redis.NewScript(touchLua + `
local d = redis.call('HGET', KEYS[3], 'd:' .. ARGV[2])
if not d then return {'no-coupon'} end
if redis.call('HSETNX', KEYS[3], 'u:' .. ARGV[2], ARGV[3]) == 0 then
  return {'used', d, redis.call('HGET', KEYS[3], 'u:' .. ARGV[2])}
end
return {'ok', d, ARGV[3], touch()}
`)

	// enrollScript enrolls the customer and names it ARGV[2] unless that
	// is "": {record, touch}, or nil for no customer.
	enrollScript = redis.NewScript(touchLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[2]) end
redis.call('HSET', KEYS[1], 'enrolled', '1')
local t = touch()
return {redis.call('HGETALL', KEYS[1]), t}
`)

	// addScript adds ARGV[2] to the set KEYS[1] and re-arms its expiry.
	addScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

	// pushScript appends ARGV[2] to the list KEYS[1] and re-arms its
	// expiry.
	pushScript = redis.NewScript(`
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)
)

// Records.

// record returns c's record as field and value pairs, its contacts and
// name sealed, with the pseudonyms of its identifiers.
func (r *redisClub) record(c customer, pseudonyms []string) ([]any, error) {
	ids, err := json.Marshal(pseudonyms)
	if err != nil {
		return nil, fmt.Errorf("loyalty: record: %w", err)
	}
	enrolled := "0"
	if c.Enrolled {
		enrolled = "1"
	}
	out := []any{"points", c.Points, "tier", c.Tier, "enrolled", enrolled, "ids", string(ids)}
	for _, f := range []struct{ name, value string }{{"name", c.Name}, {"phone", c.Phone}, {"email", c.Email}, {"cpf", c.CPF}} {
		if f.value != "" {
			out = append(out, f.name, r.sealer.seal(c.ID, f.name, f.value))
		}
	}
	return out, nil
}

// decode returns the customer whose record is h.
func (r *redisClub) decode(customerID string, h map[string]string) (customer, error) {
	c := customer{ID: customerID, Tier: h["tier"], Enrolled: h["enrolled"] == "1"}
	var err error
	if c.Points, err = strconv.Atoi(h["points"]); err != nil {
		return customer{}, fmt.Errorf("loyalty: customer %s: points: %w", customerID, err)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &c.Name}, {"phone", &c.Phone}, {"email", &c.Email}, {"cpf", &c.CPF}} {
		if *f.dst, err = r.sealer.open(customerID, f.name, h[f.name]); err != nil {
			return customer{}, err
		}
	}
	return c, nil
}

// pairs returns the flat field and value list of a script's HGETALL as a
// map.
func pairs(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, fmt.Errorf("unexpected hash %T", v)
	}
	h := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		val, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unexpected hash member %T %T", list[i], list[i+1])
		}
		h[k] = val
	}
	return h, nil
}

// couponsOf returns the coupons of customerID's coupons hash h.
func couponsOf(customerID string, h map[string]string) ([]coupon, error) {
	var out []coupon
	for f, desc := range h {
		code, ok := strings.CutPrefix(f, "d:")
		if !ok {
			continue
		}
		cp, err := makeCoupon(code, customerID, desc, h["u:"+code])
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// makeCoupon returns a coupon from its stored parts; usedAt is "" for a
// coupon not used.
func makeCoupon(code, customerID, description, usedAt string) (coupon, error) {
	cp := coupon{Code: code, CustomerID: customerID, Description: description}
	if usedAt != "" {
		at, err := time.Parse(time.RFC3339Nano, usedAt)
		if err != nil {
			return coupon{}, fmt.Errorf("loyalty: coupon %s: used at: %w", code, err)
		}
		cp.Used, cp.UsedAt = true, &at
	}
	return cp, nil
}

// refresh re-arms the expiry of what a change of a customer leaves outside
// its slot: t is the script's touch result. It is best effort (see Expiry
// in redisClub's comment), so it returns nothing.
func (r *redisClub) refresh(ctx context.Context, t any) {
	parts, ok := t.([]any)
	if !ok || len(parts) != 2 {
		return
	}
	keys := []string{r.customersKey()}
	var ids []string
	if s, ok := parts[0].(string); ok && s != "" && json.Unmarshal([]byte(s), &ids) == nil {
		for _, p := range ids {
			keys = append(keys, r.identifierKey(p))
		}
	}
	if codes, ok := parts[1].([]any); ok {
		for _, c := range codes {
			if s, ok := c.(string); ok {
				keys = append(keys, r.couponKey(s))
			}
		}
	}
	_, _ = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.PExpire(ctx, k, r.ttl)
		}
		return nil
	})
}

// seed writes s unless it is there: each index entry with SET NX, each
// record only when missing.
func (r *redisClub) seed(ctx context.Context, s seed) error {
	owned := map[string][]coupon{}
	for _, cp := range s.coupons {
		owned[cp.CustomerID] = append(owned[cp.CustomerID], cp)
	}
	for _, c := range s.customers {
		ids, err := c.identifiers()
		if err != nil {
			return err
		}
		pseudonyms := make([]string, len(ids))
		for i, id := range ids {
			pseudonyms[i] = r.pseudonymOf(id)
			if err := r.client.SetNX(ctx, r.identifierKey(pseudonyms[i]), c.ID, r.ttl).Err(); err != nil {
				return fmt.Errorf("loyalty: seed customer %s: index: %w", c.ID, err)
			}
		}
		var couponArgs []any
		for _, cp := range owned[c.ID] {
			if err := r.client.SetNX(ctx, r.couponKey(cp.Code), c.ID, r.ttl).Err(); err != nil {
				return fmt.Errorf("loyalty: seed coupon %s: %w", cp.Code, err)
			}
			couponArgs = append(couponArgs, "d:"+cp.Code, cp.Description)
		}
		if err := addScript.Run(ctx, r.client, []string{r.customersKey()}, r.ttlArg, c.ID).Err(); err != nil {
			return fmt.Errorf("loyalty: seed customer %s: list: %w", c.ID, err)
		}
		rec, err := r.record(c, pseudonyms)
		if err != nil {
			return err
		}
		args := append([]any{r.ttlArg, len(rec)}, rec...)
		if err := createScript.Run(ctx, r.client, r.customerKeys(c.ID), append(args, couponArgs...)...).Err(); err != nil {
			return fmt.Errorf("loyalty: seed customer %s: %w", c.ID, err)
		}
	}
	return nil
}

// load returns a customer without its history; found is false when there
// is no such customer.
func (r *redisClub) load(ctx context.Context, customerID string) (customer, bool, error) {
	h, err := r.client.HGetAll(ctx, r.customerKeys(customerID)[0]).Result()
	if err != nil {
		return customer{}, false, fmt.Errorf("loyalty: load customer: %w", err)
	}
	if len(h) == 0 {
		return customer{}, false, nil
	}
	c, err := r.decode(customerID, h)
	return c, err == nil, err
}

func (r *redisClub) find(ctx context.Context, id otpcode.Identifier) (customer, bool, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	cid, err := r.client.Get(ctx, r.identifierKey(r.pseudonymOf(id))).Result()
	if errors.Is(err, redis.Nil) {
		return customer{}, false, nil
	}
	if err != nil {
		return customer{}, false, fmt.Errorf("loyalty: find customer: %w", err)
	}
	return r.load(ctx, cid)
}

// createAttempts bounds the rounds of create: a round is lost only when
// an index entry expires between its SET NX and its GET.
const createAttempts = 3

func (r *redisClub) create(ctx context.Context, id otpcode.Identifier) (customer, bool, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	pseudonym := r.pseudonymOf(id)
	idKey := r.identifierKey(pseudonym)
	for range createAttempts {
		cid, err := r.client.Get(ctx, idKey).Result()
		switch {
		case errors.Is(err, redis.Nil):
			fresh, err := newID()
			if err != nil {
				return customer{}, false, err
			}
			won, err := r.client.SetNX(ctx, idKey, fresh, r.ttl).Result()
			if err != nil {
				return customer{}, false, fmt.Errorf("loyalty: create customer: index: %w", err)
			}
			if !won {
				continue // another caller's; read it
			}
			cid = fresh
		case err != nil:
			return customer{}, false, fmt.Errorf("loyalty: create customer: %w", err)
		default:
			c, found, err := r.load(ctx, cid)
			if err != nil || found {
				return c, false, err
			}
			// The entry was written by a caller that has not written
			// the record yet, or it outlived its record: write one.
		}
		if err := addScript.Run(ctx, r.client, []string{r.customersKey()}, r.ttlArg, cid).Err(); err != nil {
			return customer{}, false, fmt.Errorf("loyalty: create customer: list: %w", err)
		}
		c, err := newCustomer(id)
		if err != nil {
			return customer{}, false, err
		}
		c.ID = cid
		rec, err := r.record(c, []string{pseudonym})
		if err != nil {
			return customer{}, false, err
		}
		n, err := createScript.Run(ctx, r.client, r.customerKeys(cid), append([]any{r.ttlArg, len(rec)}, rec...)...).Int()
		if err != nil {
			return customer{}, false, fmt.Errorf("loyalty: create customer: %w", err)
		}
		c, found, err := r.load(ctx, cid)
		if err != nil {
			return customer{}, false, err
		}
		if found {
			return c, n == 1, nil
		}
	}
	return customer{}, false, errors.New("loyalty: create customer: the index entry keeps disappearing")
}

func (r *redisClub) enroll(ctx context.Context, customerID, name string) (customer, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	res, err := enrollScript.Run(ctx, r.client, r.customerKeys(customerID), r.ttlArg, r.sealer.seal(customerID, "name", name)).Slice()
	if errors.Is(err, redis.Nil) {
		return customer{}, errNoCustomer
	}
	if err != nil {
		return customer{}, fmt.Errorf("loyalty: enroll: %w", err)
	}
	if len(res) != 2 {
		return customer{}, fmt.Errorf("loyalty: enroll: unexpected reply %v", res)
	}
	r.refresh(ctx, res[1])
	h, err := pairs(res[0])
	if err != nil {
		return customer{}, fmt.Errorf("loyalty: enroll: %w", err)
	}
	return r.decode(customerID, h)
}

func (r *redisClub) customer(ctx context.Context, customerID string) (customer, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	res, err := readScript.Run(ctx, r.client, r.customerKeys(customerID)[:2]).Slice()
	if errors.Is(err, redis.Nil) {
		return customer{}, errNoCustomer
	}
	if err != nil {
		return customer{}, fmt.Errorf("loyalty: read customer: %w", err)
	}
	if len(res) != 2 {
		return customer{}, fmt.Errorf("loyalty: read customer: unexpected reply %v", res)
	}
	h, err := pairs(res[0])
	if err != nil {
		return customer{}, fmt.Errorf("loyalty: read customer: %w", err)
	}
	c, err := r.decode(customerID, h)
	if err != nil {
		return customer{}, err
	}
	lines, _ := res[1].([]any)
	for _, l := range lines {
		s, _ := l.(string)
		var e entry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return customer{}, fmt.Errorf("loyalty: read customer %s: history: %w", customerID, err)
		}
		c.History = append(c.History, e)
	}
	return c, nil
}

// members returns every customer ID.
func (r *redisClub) members(ctx context.Context) ([]string, error) {
	ids, err := r.client.SMembers(ctx, r.customersKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("loyalty: list customers: %w", err)
	}
	return ids, nil
}

// hashes returns the hash at key(id) of each id, read in one pipeline;
// a missing hash is empty.
func (r *redisClub) hashes(ctx context.Context, ids []string, key func(string) string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, key(id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

func (r *redisClub) search(ctx context.Context, q, digits string) ([]customer, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	ids, err := r.members(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := r.hashes(ctx, ids, func(id string) string { return r.customerKeys(id)[0] })
	if err != nil {
		return nil, fmt.Errorf("loyalty: search: %w", err)
	}
	var out []customer
	for i, h := range recs {
		if len(h) == 0 {
			continue // expired, or not written yet
		}
		c, err := r.decode(ids[i], h)
		if err != nil {
			return nil, err
		}
		if c.matches(q, digits) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (r *redisClub) award(ctx context.Context, customerID string, e entry) (int, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	line, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("loyalty: award: %w", err)
	}
	res, err := awardScript.Run(ctx, r.client, r.customerKeys(customerID), r.ttlArg, e.Points, line).Slice()
	if errors.Is(err, redis.Nil) {
		return 0, errNoCustomer
	}
	if err != nil {
		return 0, fmt.Errorf("loyalty: award: %w", err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("loyalty: award: unexpected reply %v", res)
	}
	balance, ok := res[0].(int64)
	if !ok {
		return 0, fmt.Errorf("loyalty: award: unexpected reply %v", res)
	}
	r.refresh(ctx, res[1])
	return int(balance), nil
}

// couponAttempts bounds the codes redeem tries; with 32^6 codes, a second
// is already rare.
const couponAttempts = 5

func (r *redisClub) redeem(ctx context.Context, customerID string, rw reward, e entry) (coupon, int, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	line, err := json.Marshal(e)
	if err != nil {
		return coupon{}, 0, fmt.Errorf("loyalty: redeem: %w", err)
	}
	// Reserve a code first, so that the coupon the script issues is
	// found by it.
	var code string
	for i := 0; ; i++ {
		if i == couponAttempts {
			return coupon{}, 0, errors.New("loyalty: redeem: no free coupon code")
		}
		if code, err = newCouponCode(); err != nil {
			return coupon{}, 0, err
		}
		won, err := r.client.SetNX(ctx, r.couponKey(code), customerID, r.ttl).Result()
		if err != nil {
			return coupon{}, 0, fmt.Errorf("loyalty: redeem: reserve code: %w", err)
		}
		if won {
			break
		}
	}
	res, err := redeemScript.Run(ctx, r.client, r.customerKeys(customerID), r.ttlArg, rw.PointsCost, line, code, rw.Name).Slice()
	if err != nil {
		// The redemption may or may not have happened: keep the code.
		return coupon{}, 0, fmt.Errorf("loyalty: redeem: %w", err)
	}
	if len(res) == 0 {
		return coupon{}, 0, fmt.Errorf("loyalty: redeem: unexpected reply %v", res)
	}
	status, _ := res[0].(string)
	if status != "ok" {
		// Refused: free the code, best effort. A reservation left behind
		// names no coupon (coupon answers errNoCoupon) and expires.
		_ = r.client.Del(ctx, r.couponKey(code)).Err()
	}
	switch {
	case status == "no-customer":
		return coupon{}, 0, errNoCustomer
	case status == "insufficient" && len(res) == 2:
		balance, _ := res[1].(int64)
		return coupon{}, int(balance), errInsufficientPoints
	case status == "ok" && len(res) == 3:
		balance, _ := res[1].(int64)
		r.refresh(ctx, res[2])
		return coupon{Code: code, CustomerID: customerID, Description: rw.Name}, int(balance), nil
	}
	return coupon{}, 0, fmt.Errorf("loyalty: redeem: unexpected reply %v", res)
}

func (r *redisClub) coupons(ctx context.Context, customerID string) ([]coupon, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	ids := []string{customerID}
	if customerID == "" {
		var err error
		if ids, err = r.members(ctx); err != nil {
			return nil, err
		}
	}
	hs, err := r.hashes(ctx, ids, func(id string) string { return r.customerKeys(id)[2] })
	if err != nil {
		return nil, fmt.Errorf("loyalty: list coupons: %w", err)
	}
	var out []coupon
	for i, h := range hs {
		cps, err := couponsOf(ids[i], h)
		if err != nil {
			return nil, err
		}
		out = append(out, cps...)
	}
	return out, nil
}

// owner returns the ID of the owner of the coupon with the given code.
func (r *redisClub) owner(ctx context.Context, code string) (string, error) {
	cid, err := r.client.Get(ctx, r.couponKey(code)).Result()
	if errors.Is(err, redis.Nil) {
		return "", errNoCoupon
	}
	if err != nil {
		return "", fmt.Errorf("loyalty: find coupon: %w", err)
	}
	return cid, nil
}

func (r *redisClub) coupon(ctx context.Context, code string) (coupon, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	cid, err := r.owner(ctx, code)
	if err != nil {
		return coupon{}, err
	}
	v, err := r.client.HMGet(ctx, r.customerKeys(cid)[2], "d:"+code, "u:"+code).Result()
	if err != nil {
		return coupon{}, fmt.Errorf("loyalty: read coupon: %w", err)
	}
	desc, ok := v[0].(string)
	if !ok {
		return coupon{}, errNoCoupon // reserved by a redemption, or expired
	}
	usedAt, _ := v[1].(string)
	return makeCoupon(code, cid, desc, usedAt)
}

func (r *redisClub) useCoupon(ctx context.Context, code string, at time.Time) (coupon, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	cid, err := r.owner(ctx, code)
	if err != nil {
		return coupon{}, err
	}
	res, err := useScript.Run(ctx, r.client, r.customerKeys(cid), r.ttlArg, code, at.Format(time.RFC3339Nano)).Slice()
	if err != nil {
		return coupon{}, fmt.Errorf("loyalty: use coupon: %w", err)
	}
	if len(res) == 0 {
		return coupon{}, fmt.Errorf("loyalty: use coupon: unexpected reply %v", res)
	}
	status, _ := res[0].(string)
	switch {
	case status == "no-coupon":
		return coupon{}, errNoCoupon
	case (status == "used" || status == "ok") && len(res) >= 3:
		desc, _ := res[1].(string)
		usedAt, _ := res[2].(string)
		cp, err := makeCoupon(code, cid, desc, usedAt)
		if err != nil {
			return coupon{}, err
		}
		if status == "used" {
			return cp, errCouponUsed
		}
		if len(res) == 4 {
			r.refresh(ctx, res[3])
		}
		return cp, nil
	}
	return coupon{}, fmt.Errorf("loyalty: use coupon: unexpected reply %v", res)
}

func (r *redisClub) addWebhook(ctx context.Context, wh webhook) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	line, err := json.Marshal(wh)
	if err != nil {
		return fmt.Errorf("loyalty: add webhook: %w", err)
	}
	if err := pushScript.Run(ctx, r.client, []string{r.webhooksKey()}, r.ttlArg, line).Err(); err != nil {
		return fmt.Errorf("loyalty: add webhook: %w", err)
	}
	return nil
}
