package loyalty

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/otpcode"
)

// These tests hold both clubData implementations to one contract: the
// in-process memClub, and redisClub on the test Redis and, when one is
// configured (OTPGUARD_REDIS_CLUSTER_ADDRS), on a Redis Cluster. open
// returns another instance on the same data, as a second server would
// have: the same memClub, or a new redisClub on the same Redis and prefix.

// eachClub runs test on every implementation.
func eachClub(t *testing.T, test func(t *testing.T, open func() clubData)) {
	t.Run("memory", func(t *testing.T) {
		s, err := seedData()
		require.NoError(t, err)
		d, err := newMemClub(s)
		require.NoError(t, err)
		test(t, func() clubData { return d })
	})
	t.Run("redis", func(t *testing.T) {
		test(t, redisOpener(t, redistest.Client(t)))
	})
	t.Run("cluster", func(t *testing.T) {
		test(t, redisOpener(t, redistest.ClusterClient(t)))
	})
}

// redisOpener returns a function that opens a redisClub on client under a
// prefix of the test's own, as a server with the same pepper does.
func redisOpener(t *testing.T, client redis.UniversalClient) func() clubData {
	prefix := redistest.Prefix(t, client)
	pepper := randomPepper(t)
	return func() clubData {
		t.Helper()
		s, err := seedData()
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
		defer cancel()
		r, err := newRedisClub(ctx, Config{Redis: client, RedisPrefix: prefix}, pepper, s)
		require.NoError(t, err)
		return r
	}
}

// parse returns the identifier raw names.
func parse(t *testing.T, raw string) otpcode.Identifier {
	t.Helper()
	id, err := otpcode.Parser{Region: "BR"}.Parse(raw)
	require.NoError(t, err)
	return id
}

var testAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestClubFind(t *testing.T) {
	eachClub(t, func(t *testing.T, open func() clubData) {
		ctx := context.Background()
		d := open()
		for _, raw := range []string{MariaPhone, "(11) 98765-4321", "Maria@Example.com", "529.982.247-25"} {
			c, found, err := d.find(ctx, parse(t, raw))
			require.NoError(t, err, raw)
			require.True(t, found, "%s: got not found, want Maria", raw)
			assert.Equal(t, customer{ID: MariaID, Name: "Maria Santos", Phone: MariaPhone, Email: "maria@example.com",
				CPF: "52998224725", Points: 150, Tier: "silver", Enrolled: true}, c, raw)
		}
		c, found, err := d.find(ctx, parse(t, "ana@example.com"))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, "Ana Costa", c.Name)
		assert.Empty(t, c.Phone)

		_, found, err = d.find(ctx, parse(t, "+5531987650000"))
		require.NoError(t, err)
		assert.False(t, found, "got an unknown phone found")

		_, err = d.customer(ctx, "nobody")
		assert.ErrorIs(t, err, errNoCustomer)
	})
}

// TestClubCreateOnce: many callers on two instances create the same new
// phone at once; they all get one customer, and one of them created it.
func TestClubCreateOnce(t *testing.T) {
	eachClub(t, func(t *testing.T, open func() clubData) {
		ctx := context.Background()
		instances := []clubData{open(), open()}
		id := parse(t, "+5531987650000")
		const n = 16
		var (
			wg      sync.WaitGroup
			ids     [n]string
			created [n]bool
			errs    [n]error
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var c customer
				c, created[i], errs[i] = instances[i%2].create(ctx, id)
				ids[i] = c.ID
			}()
		}
		wg.Wait()
		news := 0
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, ids[0], ids[i], "caller %d got another customer", i)
			if created[i] {
				news++
			}
		}
		assert.Equal(t, 1, news, "got %d callers told they created the customer, want 1", news)

		c, found, err := instances[1].find(ctx, id)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, customer{ID: ids[0], Phone: "+5531987650000", Tier: "bronze"}, c)

		// An identifier someone has is never created again.
		c, isNew, err := instances[0].create(ctx, parse(t, "529.982.247-25"))
		require.NoError(t, err)
		assert.False(t, isNew)
		assert.Equal(t, MariaID, c.ID)
	})
}

// TestClubRedeemOnce: Maria's 150 points buy one coffee (100), however
// many redemptions race for them on two instances.
func TestClubRedeemOnce(t *testing.T) {
	eachClub(t, func(t *testing.T, open func() clubData) {
		ctx := context.Background()
		instances := []clubData{open(), open()}
		coffee := reward{ID: "rwd_free_coffee", Name: "Free coffee", PointsCost: 100}
		e := entry{Type: "redeem", Points: -100, Description: "Free coffee", At: testAt}
		const n = 10
		var (
			wg       sync.WaitGroup
			coupons  [n]coupon
			balances [n]int
			errs     [n]error
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				coupons[i], balances[i], errs[i] = instances[i%2].redeem(ctx, MariaID, coffee, e)
			}()
		}
		wg.Wait()
		var won coupon
		for i := range n {
			switch {
			case errs[i] == nil:
				assert.Empty(t, won.Code, "a second redemption succeeded")
				won = coupons[i]
				assert.Equal(t, 50, balances[i])
			case errors.Is(errs[i], errInsufficientPoints):
				assert.Equal(t, 50, balances[i], "the balance a refusal reports")
			default:
				t.Errorf("redemption %d: %v", i, errs[i])
			}
		}
		require.NotEmpty(t, won.Code, "no redemption succeeded")
		assert.Regexp(t, `^ZP-[2-9A-Z]{6}$`, won.Code)
		assert.Equal(t, coupon{Code: won.Code, CustomerID: MariaID, Description: "Free coffee"}, won)

		c, err := instances[1].customer(ctx, MariaID)
		require.NoError(t, err)
		assert.Equal(t, 50, c.Points)
		require.Len(t, c.History, 1)
		assert.Equal(t, "redeem", c.History[0].Type)
		assert.Equal(t, -100, c.History[0].Points)
		assert.True(t, c.History[0].At.Equal(testAt), "got the entry at %v, want %v", c.History[0].At, testAt)

		got, err := instances[1].coupon(ctx, won.Code)
		require.NoError(t, err)
		assert.Equal(t, won, got)
		mine, err := instances[0].coupons(ctx, MariaID)
		require.NoError(t, err)
		assert.ElementsMatch(t, []coupon{{Code: "MARIA10", CustomerID: MariaID, Description: "10% off your next order"}, won}, mine)

		_, _, err = instances[0].redeem(ctx, "nobody", coffee, e)
		assert.ErrorIs(t, err, errNoCustomer)
	})
}

// TestClubCouponOnce: a coupon is used once, however many uses race on two
// instances.
func TestClubCouponOnce(t *testing.T) {
	eachClub(t, func(t *testing.T, open func() clubData) {
		ctx := context.Background()
		instances := []clubData{open(), open()}
		const n = 8
		var (
			wg   sync.WaitGroup
			errs [n]error
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = instances[i%2].useCoupon(ctx, "MARIA10", testAt)
			}()
		}
		wg.Wait()
		ok := 0
		for i := range n {
			if errs[i] == nil {
				ok++
			} else {
				assert.ErrorIs(t, errs[i], errCouponUsed)
			}
		}
		assert.Equal(t, 1, ok, "got %d uses of one coupon, want 1", ok)

		cp, err := instances[1].coupon(ctx, "MARIA10")
		require.NoError(t, err)
		assert.True(t, cp.Used)
		require.NotNil(t, cp.UsedAt)
		assert.True(t, cp.UsedAt.Equal(testAt), "got used at %v, want %v", cp.UsedAt, testAt)
		cp, err = instances[0].useCoupon(ctx, "MARIA10", testAt.Add(time.Hour))
		assert.ErrorIs(t, err, errCouponUsed)
		assert.True(t, cp.Used, "a used coupon comes back with errCouponUsed")

		_, err = instances[0].useCoupon(ctx, "NO-SUCH", testAt)
		assert.ErrorIs(t, err, errNoCoupon)
		_, err = instances[0].coupon(ctx, "NO-SUCH")
		assert.ErrorIs(t, err, errNoCoupon)

		all, err := instances[0].coupons(ctx, "")
		require.NoError(t, err)
		codes := make([]string, len(all))
		for i, cp := range all {
			codes[i] = cp.Code
		}
		assert.ElementsMatch(t, []string{"ANA5", "JOAO-FRETE", "MARIA10"}, codes)
	})
}

func TestClubAwardEnrollSearch(t *testing.T) {
	eachClub(t, func(t *testing.T, open func() clubData) {
		ctx := context.Background()
		a, b := open(), open()
		balance, err := a.award(ctx, MariaID, entry{Type: "earn", Points: 40, Description: "Order 1234", At: testAt})
		require.NoError(t, err)
		assert.Equal(t, 190, balance)
		c, err := b.customer(ctx, MariaID)
		require.NoError(t, err)
		assert.Equal(t, 190, c.Points)
		require.Len(t, c.History, 1)
		assert.Equal(t, "Order 1234", c.History[0].Description)
		_, err = a.award(ctx, "nobody", entry{Type: "earn", Points: 1, At: testAt})
		assert.ErrorIs(t, err, errNoCustomer)

		bia, created, err := a.create(ctx, parse(t, "111.444.777-35")) // a CPF nobody has
		require.NoError(t, err)
		require.True(t, created)
		c, err = b.enroll(ctx, bia.ID, "Bia Lima")
		require.NoError(t, err)
		assert.Equal(t, customer{ID: bia.ID, Name: "Bia Lima", CPF: "11144477735", Tier: "bronze", Enrolled: true}, c)
		c, err = a.enroll(ctx, bia.ID, "") // keeps the name
		require.NoError(t, err)
		assert.Equal(t, "Bia Lima", c.Name)
		_, err = a.enroll(ctx, "nobody", "x")
		assert.ErrorIs(t, err, errNoCustomer)

		for _, tt := range []struct {
			q, digits string
			want      []string
		}{
			{"maria", "", []string{MariaID}},
			{"joao@", "", []string{joaoID}},
			{"98765", "98765", []string{MariaID, joaoID}},                   // both phones
			{"447", "447", []string{"2awTHnB7cRt2GGprAnaCo5tAqWe", bia.ID}}, // both CPFs
			{"bia", "", []string{bia.ID}},
			{"", "", []string{MariaID, joaoID, "2awTHnB7cRt2GGprAnaCo5tAqWe", bia.ID}},
		} {
			found, err := b.search(ctx, tt.q, tt.digits)
			require.NoError(t, err)
			var ids []string
			for _, c := range found {
				ids = append(ids, c.ID)
				assert.Nil(t, c.History, "search returns no history")
			}
			assert.ElementsMatch(t, tt.want, ids, "search %q %q", tt.q, tt.digits)
		}

		require.NoError(t, a.addWebhook(ctx, webhook{ID: "wh_1", URL: "https://partner.example/hooks", Events: []string{"points.awarded"}}))
	})
}

// TestRedisClubRearmsExpiry: a change of a customer re-arms the expiry of
// every key that leads to it, in its slot and outside: its identifiers'
// index entries and its coupons' codes.
func TestRedisClubRearmsExpiry(t *testing.T) {
	client := redistest.Client(t)
	d := redisOpener(t, client)().(*redisClub)
	ctx := context.Background()
	var keys []string
	for _, raw := range []string{MariaPhone, "maria@example.com", "529.982.247-25"} {
		keys = append(keys, d.identifierKey(d.pseudonymOf(parse(t, raw))))
	}
	keys = append(keys, d.couponKey("MARIA10"), d.customersKey())
	keys = append(keys, d.customerKeys(MariaID)...)
	for _, k := range keys {
		require.NoError(t, client.PExpire(ctx, k, time.Minute).Err())
	}
	_, err := d.award(ctx, MariaID, entry{Type: "earn", Points: 1, At: testAt})
	require.NoError(t, err)
	for _, k := range keys {
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, loyaltyTTL-time.Minute, "key %s: got PTTL %v, want about %v", k, ttl, loyaltyTTL)
	}
}
