package loyalty

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/otpguard/otpguard/otpcode"
)

// memClub keeps the programme's data in the process: each server has its
// own, lost when it stops. It is the clubData of a server whose OTP store is
// the memory store. One mutex guards everything, which is plenty for an
// example.
type memClub struct {
	mu        sync.Mutex
	customers map[string]*customer // by ID
	bySubject map[string]string    // otpcode.Identifier.Subject() → customer ID
	byCode    map[string]*coupon   // by code
	webhooks  []webhook
}

var _ clubData = (*memClub)(nil)

// newMemClub returns a memClub holding s.
func newMemClub(s seed) (*memClub, error) {
	l := &memClub{
		customers: map[string]*customer{},
		bySubject: map[string]string{},
		byCode:    map[string]*coupon{},
	}
	for _, c := range s.customers {
		ids, err := c.identifiers()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			l.bySubject[id.Subject()] = c.ID
		}
		l.customers[c.ID] = &c
	}
	for _, cp := range s.coupons {
		l.byCode[cp.Code] = &cp
	}
	return l, nil
}

// copyOf returns c with its own history.
func copyOf(c *customer) customer {
	out := *c
	out.History = slices.Clone(c.History)
	return out
}

func (l *memClub) find(_ context.Context, id otpcode.Identifier) (customer, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[l.bySubject[id.Subject()]]
	if !ok {
		return customer{}, false, nil
	}
	return copyOf(c), true, nil
}

func (l *memClub) create(_ context.Context, id otpcode.Identifier) (customer, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.customers[l.bySubject[id.Subject()]]; ok {
		return copyOf(c), false, nil
	}
	c, err := newCustomer(id)
	if err != nil {
		return customer{}, false, err
	}
	l.customers[c.ID] = &c
	l.bySubject[id.Subject()] = c.ID
	return copyOf(&c), true, nil
}

func (l *memClub) enroll(_ context.Context, customerID, name string) (customer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[customerID]
	if !ok {
		return customer{}, errNoCustomer
	}
	if name != "" {
		c.Name = name
	}
	c.Enrolled = true
	return copyOf(c), nil
}

func (l *memClub) customer(_ context.Context, customerID string) (customer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[customerID]
	if !ok {
		return customer{}, errNoCustomer
	}
	return copyOf(c), nil
}

func (l *memClub) search(_ context.Context, q, digits string) ([]customer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []customer
	for _, c := range l.customers {
		if c.matches(q, digits) {
			out = append(out, *c)
			out[len(out)-1].History = nil
		}
	}
	return out, nil
}

func (l *memClub) award(_ context.Context, customerID string, e entry) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[customerID]
	if !ok {
		return 0, errNoCustomer
	}
	c.Points += e.Points
	c.History = append(c.History, e)
	return c.Points, nil
}

func (l *memClub) redeem(_ context.Context, customerID string, rw reward, e entry) (coupon, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.customers[customerID]
	if !ok {
		return coupon{}, 0, errNoCustomer
	}
	if c.Points < rw.PointsCost {
		return coupon{}, c.Points, errInsufficientPoints
	}
	var code string
	for {
		var err error
		if code, err = newCouponCode(); err != nil {
			return coupon{}, 0, err
		}
		if _, taken := l.byCode[code]; !taken {
			break
		}
	}
	c.Points -= rw.PointsCost
	c.History = append(c.History, e)
	cp := &coupon{Code: code, CustomerID: c.ID, Description: rw.Name}
	l.byCode[code] = cp
	return *cp, c.Points, nil
}

func (l *memClub) coupons(_ context.Context, customerID string) ([]coupon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []coupon
	for _, cp := range l.byCode {
		if customerID == "" || cp.CustomerID == customerID {
			out = append(out, *cp)
		}
	}
	return out, nil
}

func (l *memClub) coupon(_ context.Context, code string) (coupon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp, ok := l.byCode[code]
	if !ok {
		return coupon{}, errNoCoupon
	}
	return *cp, nil
}

func (l *memClub) useCoupon(_ context.Context, code string, at time.Time) (coupon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp, ok := l.byCode[code]
	if !ok {
		return coupon{}, errNoCoupon
	}
	if cp.Used {
		return *cp, errCouponUsed
	}
	cp.Used, cp.UsedAt = true, &at
	return *cp, nil
}

func (l *memClub) addWebhook(_ context.Context, wh webhook) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.webhooks = append(l.webhooks, wh)
	return nil
}
