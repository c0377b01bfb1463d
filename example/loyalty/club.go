package loyalty

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otpguard/otpguard/otpcode"
)

// This file is the example's loyalty programme: customers, rewards and
// coupons. It is the host's own business logic; otpguard only sees it
// through the otpcode.Directory interface that club implements.
//
// The data that changes (customers, their points, history and coupons, the
// partners' webhooks) is kept by a clubData: memClub in the process
// (club_memory.go), or redisClub on Redis (club_redis.go), where every
// instance that shares the Redis shares it too. What does not change (the
// rewards, the programmes) is configuration, the same on every instance,
// and stays in club.

// customer is one member of the loyalty programme.
type customer struct {
	ID       string
	Name     string
	Phone    string // E.164, or ""
	Email    string // or ""
	CPF      string // 11 digits, or ""
	Points   int
	Tier     string
	Enrolled bool
	History  []entry
}

// entry is one line of a customer's points history.
type entry struct {
	Type        string    `json:"type"` // "earn" or "redeem"
	Points      int       `json:"points"`
	Description string    `json:"description"`
	At          time.Time `json:"at"`
}

// reward is something points buy.
type reward struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PointsCost int    `json:"points_cost"`
}

// coupon belongs to one customer and can be used once.
type coupon struct {
	Code        string     `json:"code"`
	CustomerID  string     `json:"customer_id"`
	Description string     `json:"description"`
	Used        bool       `json:"used"`
	UsedAt      *time.Time `json:"used_at,omitempty"`
}

// webhook is a partner's subscription to events.
type webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// program is a loyalty programme.
type program struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	PointsPerReal int      `json:"points_per_real"`
	Tiers         []string `json:"tiers"`
}

// Errors of the loyalty programme, mapped to problems by the API.
var (
	errNoCustomer         = errors.New("loyalty: no such customer")
	errNoReward           = errors.New("loyalty: no such reward")
	errNoCoupon           = errors.New("loyalty: no such coupon")
	errInsufficientPoints = errors.New("loyalty: insufficient points")
	errCouponUsed         = errors.New("loyalty: coupon already used")
)

// clubData keeps the programme's changing data. Implementations are safe
// for concurrent use, and each method is one atomic change or one
// consistent read of one customer: two instances sharing the data cannot
// spend the same points twice, use a coupon twice or make two customers of
// one identifier. The programme's refusals are the sentinel errors above
// (errNoCustomer, errInsufficientPoints, ...); any other error is a system
// failure, which the API answers with 503.
type clubData interface {
	// find returns the customer an identifier names; found is false when
	// there is none.
	find(ctx context.Context, id otpcode.Identifier) (c customer, found bool, err error)
	// create returns the customer an identifier names, making one (tier
	// bronze, no points, not enrolled, with the identifier as its only
	// contact) when there is none. It is idempotent by identifier: however
	// many callers create the same identifier at once, they all get the
	// same customer, and exactly one of them gets created true.
	create(ctx context.Context, id otpcode.Identifier) (c customer, created bool, err error)
	// enroll enrolls a customer, renaming it unless name is "", and
	// returns it; errNoCustomer when there is no such customer.
	enroll(ctx context.Context, customerID, name string) (customer, error)
	// customer returns a customer with its history; errNoCustomer when
	// there is none.
	customer(ctx context.Context, customerID string) (customer, error)
	// search returns the customers whose name or email contains q (lower
	// case) or whose phone or CPF contains digits, or every customer when
	// q is "", in no particular order, without their history.
	search(ctx context.Context, q, digits string) ([]customer, error)
	// award adds e (an "earn" of e.Points) to a customer's points and
	// history and returns the new balance.
	award(ctx context.Context, customerID string, e entry) (balance int, err error)
	// redeem spends rw.PointsCost of a customer's points, adds e (a
	// "redeem") to its history and issues the coupon that delivers rw, in
	// one step; it returns the coupon and the new balance, or
	// errInsufficientPoints with the balance unchanged.
	redeem(ctx context.Context, customerID string, rw reward, e entry) (coupon, int, error)
	// coupons returns the coupons of one customer, or of every customer
	// when customerID is "", in no particular order.
	coupons(ctx context.Context, customerID string) ([]coupon, error)
	// coupon returns the coupon with the given code; errNoCoupon when
	// there is none.
	coupon(ctx context.Context, code string) (coupon, error)
	// useCoupon marks a coupon used at at, once: a coupon already used is
	// returned, as it is, with errCouponUsed.
	useCoupon(ctx context.Context, code string, at time.Time) (coupon, error)
	// addWebhook files a webhook.
	addWebhook(ctx context.Context, wh webhook) error
}

// club is the loyalty programme as the server uses it: the directory of
// the OTP service and the business of the API, on a clubData, with the
// rewards and programmes, the clock and the rules (who may be created, what
// a redemption writes) that are the same whatever keeps the data. It is
// safe for concurrent use.
type club struct {
	data     clubData
	now      func() time.Time
	rewards  []reward
	programs []program
}

var _ otpcode.Directory = (*club)(nil)

// newClub returns the programme with its sample data (see seedCustomers),
// kept in the process or, when cfg.Redis is set, on Redis (newRedisClub;
// peppers are the server's code-signing keys, from which the data key is
// derived unless cfg.DataKey is set). cfg.Now must be set.
func newClub(cfg Config, peppers [][]byte) (*club, error) {
	l := &club{
		now: cfg.Now,
		rewards: []reward{
			{ID: "rwd_free_coffee", Name: "Free coffee", PointsCost: 100},
			{ID: "rwd_dessert", Name: "Dessert of the day", PointsCost: 120},
			{ID: "rwd_10_off", Name: "R$ 10 off your order", PointsCost: 300},
		},
		programs: []program{
			{ID: "prg_zupy_demo", Name: "Zupy Demo Rewards", PointsPerReal: 1, Tiers: []string{"bronze", "silver", "gold"}},
		},
	}
	seed, err := seedData()
	if err != nil {
		return nil, err
	}
	if cfg.Redis == nil {
		if l.data, err = newMemClub(seed); err != nil {
			return nil, err
		}
		return l, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	if l.data, err = newRedisClub(ctx, cfg, peppers, seed); err != nil {
		return nil, err
	}
	return l, nil
}

// seed is the sample data: customers and their coupons.
type seed struct {
	customers []customer
	coupons   []coupon
}

// seedData returns the sample data, every identifier in canonical form:
// Maria Santos of the Zupy documentation and two more customers, and a
// coupon for each.
func seedData() (seed, error) {
	s := seed{
		customers: []customer{
			{ID: MariaID, Name: "Maria Santos", Phone: MariaPhone, Email: "maria@example.com",
				CPF: "529.982.247-25", Points: 150, Tier: "silver", Enrolled: true},
			{ID: "2awTHmQ4kLx9GGprJoaoPe7XYzw", Name: "João Pereira", Phone: "+5521998765432", Email: "joao@example.com",
				CPF: "123.456.789-09", Points: 420, Tier: "gold", Enrolled: true},
			// Ana has no phone, so her codes go by email.
			{ID: "2awTHnB7cRt2GGprAnaCo5tAqWe", Name: "Ana Costa", Email: "ana@example.com",
				CPF: "390.533.447-05", Points: 80, Tier: "bronze", Enrolled: true},
		},
		coupons: []coupon{
			{Code: "MARIA10", CustomerID: MariaID, Description: "10% off your next order"},
			{Code: "JOAO-FRETE", CustomerID: "2awTHmQ4kLx9GGprJoaoPe7XYzw", Description: "Free delivery"},
			{Code: "ANA5", CustomerID: "2awTHnB7cRt2GGprAnaCo5tAqWe", Description: "R$ 5 off"},
		},
	}
	for i := range s.customers {
		c := &s.customers[i]
		if c.CPF == "" {
			continue
		}
		id, err := otpcode.Parser{Kind: otpcode.KindCPF}.Parse(c.CPF)
		if err != nil {
			return seed{}, fmt.Errorf("loyalty: customer %s: %w", c.ID, err)
		}
		c.CPF = id.Value
	}
	return s, nil
}

// identifiers returns c's identifiers: its phone, email and CPF, those it
// has.
func (c *customer) identifiers() ([]otpcode.Identifier, error) {
	var ids []otpcode.Identifier
	for _, f := range []struct {
		kind otpcode.Kind
		raw  string
	}{{otpcode.KindPhone, c.Phone}, {otpcode.KindEmail, c.Email}, {otpcode.KindCPF, c.CPF}} {
		if f.raw == "" {
			continue
		}
		id, err := otpcode.Parser{Kind: f.kind}.Parse(f.raw)
		if err != nil {
			return nil, fmt.Errorf("loyalty: customer %s: %w", c.ID, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// newCustomer returns a new customer with id as its only contact.
func newCustomer(id otpcode.Identifier) (customer, error) {
	c := customer{Tier: "bronze"}
	switch id.Kind {
	case otpcode.KindPhone:
		c.Phone = id.Value
	case otpcode.KindEmail:
		c.Email = id.Value
	case otpcode.KindCPF:
		c.CPF = id.Value
	}
	var err error
	c.ID, err = newID()
	return c, err
}

// Lookup finds the customer an identifier names (otpcode.Directory).
func (l *club) Lookup(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok, err := l.data.find(ctx, id)
	if err != nil || !ok {
		return otpcode.Customer{}, false, err
	}
	return c.forOTP(false), true, nil
}

// Resolve returns the customer of a verified identifier (otpcode.Directory).
// A phone number or email address nobody has yet becomes a new customer with
// no points; an unknown CPF has no way to be reached and is never resolved.
func (l *club) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if id.Kind != otpcode.KindPhone && id.Kind != otpcode.KindEmail {
		return l.Lookup(ctx, id)
	}
	c, created, err := l.data.create(ctx, id)
	if err != nil {
		return otpcode.Customer{}, false, err
	}
	return c.forOTP(created), true, nil
}

// forOTP returns what verify-otp tells the partner about c.
func (c *customer) forOTP(isNew bool) otpcode.Customer {
	return otpcode.Customer{
		ID:       c.ID,
		IsNew:    isNew,
		Name:     c.Name,
		Locale:   "pt-BR",
		Contacts: otpcode.Contacts{Phone: c.Phone, Email: c.Email},
		Profile: map[string]any{
			"full_name":      c.Name,
			"points_balance": c.Points,
			"tier":           c.Tier,
		},
	}
}

// customerView is a customer as the API shows it.
type customerView struct {
	ID     string `json:"customer_id"`
	Name   string `json:"full_name"`
	Phone  string `json:"phone,omitempty"`
	Email  string `json:"email,omitempty"`
	Points int    `json:"points_balance"`
	Tier   string `json:"tier"`
}

func (c *customer) view() customerView {
	return customerView{ID: c.ID, Name: c.Name, Phone: c.Phone, Email: c.Email, Points: c.Points, Tier: c.Tier}
}

// matches reports whether c's name or email contains q (lower case) or its
// phone or CPF contains digits; every customer matches an empty q.
func (c *customer) matches(q, digits string) bool {
	return q == "" || strings.Contains(strings.ToLower(c.Name), q) || strings.Contains(strings.ToLower(c.Email), q) ||
		digits != "" && (strings.Contains(c.Phone, digits) || strings.Contains(c.CPF, digits))
}

// search returns the customers whose name, phone, email or CPF contains q,
// by name.
func (l *club) search(ctx context.Context, q string) ([]customerView, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	found, err := l.data.search(ctx, q, digits)
	if err != nil {
		return nil, err
	}
	out := make([]customerView, 0, len(found))
	for _, c := range found {
		out = append(out, c.view())
	}
	slices.SortFunc(out, func(a, b customerView) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// customer returns a customer and its history.
func (l *club) customer(ctx context.Context, id string) (customerView, []entry, error) {
	c, err := l.data.customer(ctx, id)
	if err != nil {
		return customerView{}, nil, err
	}
	return c.view(), c.History, nil
}

// award credits points to a customer and returns the new balance.
func (l *club) award(ctx context.Context, id string, points int, description string) (int, error) {
	return l.data.award(ctx, id, entry{Type: "earn", Points: points, Description: description, At: l.now().UTC()})
}

// redeem spends a customer's points on a reward and issues the coupon that
// delivers it.
func (l *club) redeem(ctx context.Context, customerID, rewardID string) (coupon, int, error) {
	i := slices.IndexFunc(l.rewards, func(r reward) bool { return r.ID == rewardID })
	if i < 0 {
		// An unknown customer is the first thing to report.
		if _, err := l.data.customer(ctx, customerID); err != nil {
			return coupon{}, 0, err
		}
		return coupon{}, 0, errNoReward
	}
	rw := l.rewards[i]
	return l.data.redeem(ctx, customerID, rw, entry{Type: "redeem", Points: -rw.PointsCost, Description: rw.Name, At: l.now().UTC()})
}

// listCoupons returns the coupons, of one customer when customerID is set,
// by code.
func (l *club) listCoupons(ctx context.Context, customerID string) ([]coupon, error) {
	out, err := l.data.coupons(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []coupon{}
	}
	slices.SortFunc(out, func(a, b coupon) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

// findCoupon returns the coupon with the given code.
func (l *club) findCoupon(ctx context.Context, code string) (coupon, error) {
	return l.data.coupon(ctx, code)
}

// useCoupon marks a coupon used, once. The guard has checked that an OTP
// session, when the policy needs one, is the coupon owner's.
func (l *club) useCoupon(ctx context.Context, code string) (coupon, error) {
	return l.data.useCoupon(ctx, code, l.now().UTC())
}

// enroll enrolls the customer an identifier names, creating the customer
// when there is none. created reports a new customer.
func (l *club) enroll(ctx context.Context, id otpcode.Identifier, name string) (view customerView, created bool, err error) {
	c, created, err := l.data.create(ctx, id)
	if err != nil {
		return customerView{}, false, err
	}
	if c, err = l.data.enroll(ctx, c.ID, name); err != nil {
		return customerView{}, false, err
	}
	return c.view(), created, nil
}

func (l *club) listRewards() []reward { return slices.Clone(l.rewards) }

func (l *club) listPrograms() []program { return slices.Clone(l.programs) }

func (l *club) addWebhook(ctx context.Context, url string, events []string) (webhook, error) {
	id, err := newID()
	if err != nil {
		return webhook{}, err
	}
	wh := webhook{ID: "wh_" + id[:12], URL: url, Events: slices.Clone(events)}
	if err := l.data.addWebhook(ctx, wh); err != nil {
		return webhook{}, err
	}
	return wh, nil
}

// The three methods below serve the server's route bindings and admin API,
// whose call sites pass no context. Each runs under its own deadline of
// shimTimeout; an error names no customer, which the guard refuses (fails
// closed), or reports an unknown customer to the admin API.
//
// TODO(server.go): pass r.Context() (and the admin hook's ctx) to
// findCoupon, find and customer, return their errors, and drop these.

// coupon returns the coupon with the given code.
func (l *club) coupon(code string) (coupon, error) {
	ctx, cancel := context.WithTimeout(context.Background(), shimTimeout)
	defer cancel()
	return l.data.coupon(ctx, code)
}

// customerID returns the ID of the customer an identifier names, or "".
func (l *club) customerID(id otpcode.Identifier) string {
	ctx, cancel := context.WithTimeout(context.Background(), shimTimeout)
	defer cancel()
	c, ok, err := l.data.find(ctx, id)
	if err != nil || !ok {
		return ""
	}
	return c.ID
}

// has reports whether id is a customer's ID.
func (l *club) has(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), shimTimeout)
	defer cancel()
	_, err := l.data.customer(ctx, id)
	return err == nil
}

// shimTimeout bounds the calls that come without a context.
const shimTimeout = 2 * time.Second

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns a 27-character random ID in the style of Zupy's.
func newID() (string, error) {
	return randomString(base62, 27)
}

// newCouponCode returns a code such as "ZP-7KQ3X9".
func newCouponCode() (string, error) {
	s, err := randomString("23456789ABCDEFGHJKLMNPQRSTUVWXYZ", 6)
	return "ZP-" + s, err
}

// randomString returns n characters of alphabet (at most 256 long) chosen
// uniformly by rejection sampling.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("loyalty: random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
