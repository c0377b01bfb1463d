package loyalty

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpguard/otpguard/otpcode"
)

// This file is the example's loyalty programme: customers, rewards and
// coupons, all in memory. It is the host's own business logic; otpguard only
// sees it through the otpcode.Directory interface that club implements.

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

// club holds the programme's data. It is safe for concurrent use: one
// mutex guards everything, which is plenty for an example.
type club struct {
	mu        sync.Mutex
	now       func() time.Time
	customers map[string]*customer // by ID
	bySubject map[string]string    // otpcode.Identifier.Subject() → customer ID
	rewards   []reward
	coupons   map[string]*coupon // by code
	webhooks  []webhook
	programs  []program
}

var _ otpcode.Directory = (*club)(nil)

// newClub returns the programme with its sample data: Maria Santos of the
// Zupy documentation and two more customers, three rewards, three coupons.
func newClub(now func() time.Time) (*club, error) {
	l := &club{
		now:       now,
		customers: map[string]*customer{},
		bySubject: map[string]string{},
		coupons:   map[string]*coupon{},
		rewards: []reward{
			{ID: "rwd_free_coffee", Name: "Free coffee", PointsCost: 100},
			{ID: "rwd_dessert", Name: "Dessert of the day", PointsCost: 120},
			{ID: "rwd_10_off", Name: "R$ 10 off your order", PointsCost: 300},
		},
		programs: []program{
			{ID: "prg_zupy_demo", Name: "Zupy Demo Rewards", PointsPerReal: 1, Tiers: []string{"bronze", "silver", "gold"}},
		},
	}
	for _, c := range []*customer{
		{ID: MariaID, Name: "Maria Santos", Phone: MariaPhone, Email: "maria@example.com",
			CPF: "529.982.247-25", Points: 150, Tier: "silver", Enrolled: true},
		{ID: "2awTHmQ4kLx9GGprJoaoPe7XYzw", Name: "João Pereira", Phone: "+5521998765432", Email: "joao@example.com",
			CPF: "123.456.789-09", Points: 420, Tier: "gold", Enrolled: true},
		// Ana has no phone, so her codes go by email.
		{ID: "2awTHnB7cRt2GGprAnaCo5tAqWe", Name: "Ana Costa", Email: "ana@example.com",
			CPF: "390.533.447-05", Points: 80, Tier: "bronze", Enrolled: true},
	} {
		if err := l.add(c); err != nil {
			return nil, err
		}
	}
	for _, c := range []coupon{
		{Code: "MARIA10", CustomerID: MariaID, Description: "10% off your next order"},
		{Code: "JOAO-FRETE", CustomerID: "2awTHmQ4kLx9GGprJoaoPe7XYzw", Description: "Free delivery"},
		{Code: "ANA5", CustomerID: "2awTHnB7cRt2GGprAnaCo5tAqWe", Description: "R$ 5 off"},
	} {
		l.coupons[c.Code] = &c
	}
	return l, nil
}

// add files c under its ID and every identifier it has, in canonical form.
func (l *club) add(c *customer) error {
	for _, raw := range []string{c.Phone, c.Email, c.CPF} {
		if raw == "" {
			continue
		}
		id, err := otpcode.Parser{}.Parse(raw)
		if err != nil {
			return fmt.Errorf("loyalty: customer %s: %w", c.ID, err)
		}
		l.bySubject[id.Subject()] = c.ID
		if id.Kind == otpcode.KindCPF {
			c.CPF = id.Value
		}
	}
	l.customers[c.ID] = c
	return nil
}

// Lookup finds the customer an identifier names (otpcode.Directory).
func (l *club) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[l.bySubject[id.Subject()]]
	if !ok {
		return otpcode.Customer{}, false, nil
	}
	return c.forOTP(false), true, nil
}

// Resolve returns the customer of a verified identifier (otpcode.Directory).
// A phone number or email address nobody has yet becomes a new customer with
// no points; an unknown CPF has no way to be reached and is never resolved.
func (l *club) Resolve(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.customers[l.bySubject[id.Subject()]]; ok {
		return c.forOTP(false), true, nil
	}
	c := &customer{Tier: "bronze"}
	switch id.Kind {
	case otpcode.KindPhone:
		c.Phone = id.Value
	case otpcode.KindEmail:
		c.Email = id.Value
	default:
		return otpcode.Customer{}, false, nil
	}
	var err error
	if c.ID, err = newID(); err != nil {
		return otpcode.Customer{}, false, err
	}
	l.customers[c.ID] = c
	l.bySubject[id.Subject()] = c.ID
	return c.forOTP(true), true, nil
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

// search returns the customers whose name, phone, email or CPF contains q.
func (l *club) search(q string) []customerView {
	q = strings.ToLower(strings.TrimSpace(q))
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []customerView{}
	for _, c := range l.customers {
		if q == "" || strings.Contains(strings.ToLower(c.Name), q) || strings.Contains(strings.ToLower(c.Email), q) ||
			digits != "" && (strings.Contains(c.Phone, digits) || strings.Contains(c.CPF, digits)) {
			out = append(out, c.view())
		}
	}
	slices.SortFunc(out, func(a, b customerView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (l *club) customer(id string) (customerView, []entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[id]
	if !ok {
		return customerView{}, nil, errNoCustomer
	}
	return c.view(), slices.Clone(c.History), nil
}

// has reports whether id is a customer's ID.
func (l *club) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.customers[id]
	return ok
}

// award credits points to a customer and returns the new balance.
func (l *club) award(id string, points int, description string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[id]
	if !ok {
		return 0, errNoCustomer
	}
	c.Points += points
	c.History = append(c.History, entry{Type: "earn", Points: points, Description: description, At: l.now().UTC()})
	return c.Points, nil
}

// redeem spends a customer's points on a reward and issues the coupon that
// delivers it.
func (l *club) redeem(customerID, rewardID string) (coupon, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[customerID]
	if !ok {
		return coupon{}, 0, errNoCustomer
	}
	i := slices.IndexFunc(l.rewards, func(r reward) bool { return r.ID == rewardID })
	if i < 0 {
		return coupon{}, 0, errNoReward
	}
	rw := l.rewards[i]
	if c.Points < rw.PointsCost {
		return coupon{}, c.Points, errInsufficientPoints
	}
	code, err := newCouponCode()
	if err != nil {
		return coupon{}, 0, err
	}
	c.Points -= rw.PointsCost
	c.History = append(c.History, entry{Type: "redeem", Points: -rw.PointsCost, Description: rw.Name, At: l.now().UTC()})
	cp := &coupon{Code: code, CustomerID: c.ID, Description: rw.Name}
	l.coupons[code] = cp
	return *cp, c.Points, nil
}

// listCoupons returns the coupons, of one customer when customerID is set.
func (l *club) listCoupons(customerID string) []coupon {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []coupon{}
	for _, cp := range l.coupons {
		if customerID == "" || cp.CustomerID == customerID {
			out = append(out, *cp)
		}
	}
	slices.SortFunc(out, func(a, b coupon) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// coupon returns the coupon with the given code.
func (l *club) coupon(code string) (coupon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp, ok := l.coupons[code]
	if !ok {
		return coupon{}, errNoCoupon
	}
	return *cp, nil
}

// useCoupon marks a coupon used, once. The guard has checked that an OTP
// session, when the policy needs one, is the coupon owner's.
func (l *club) useCoupon(code string) (coupon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp, ok := l.coupons[code]
	if !ok {
		return coupon{}, errNoCoupon
	}
	if cp.Used {
		return *cp, errCouponUsed
	}
	at := l.now().UTC()
	cp.Used, cp.UsedAt = true, &at
	return *cp, nil
}

// customerID returns the ID of the customer an identifier names, or "".
func (l *club) customerID(id otpcode.Identifier) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySubject[id.Subject()]
}

// enroll enrolls the customer an identifier names, creating the customer
// when there is none. created reports a new customer.
func (l *club) enroll(id otpcode.Identifier, name string) (view customerView, created bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[l.bySubject[id.Subject()]]
	if !ok {
		c = &customer{Tier: "bronze"}
		if c.ID, err = newID(); err != nil {
			return customerView{}, false, err
		}
		switch id.Kind {
		case otpcode.KindPhone:
			c.Phone = id.Value
		case otpcode.KindEmail:
			c.Email = id.Value
		case otpcode.KindCPF:
			c.CPF = id.Value
		}
		l.customers[c.ID] = c
		l.bySubject[id.Subject()] = c.ID
		created = true
	}
	if name != "" {
		c.Name = name
	}
	c.Enrolled = true
	return c.view(), created, nil
}

func (l *club) listRewards() []reward {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rewards)
}

func (l *club) listPrograms() []program {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.programs)
}

func (l *club) addWebhook(url string, events []string) (webhook, error) {
	id, err := newID()
	if err != nil {
		return webhook{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	wh := webhook{ID: "wh_" + id[:12], URL: url, Events: slices.Clone(events)}
	l.webhooks = append(l.webhooks, wh)
	return wh, nil
}

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
