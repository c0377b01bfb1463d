package loyalty_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware/guardtest"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store/memory"
)

// TestGuardMatrix asserts the example's whole matrix, every partner × every
// endpoint of the seed's action table, with the testing kit a host would use:
// the expectations come from the policies, not from this file.
func TestGuardMatrix(t *testing.T) {
	st := memory.New()
	defer st.Close()
	pol, err := loyalty.DefaultPolicies()
	require.NoError(t, err)
	// The server seals sessions with the keyring of its peppers; the
	// matrix seals its sessions with the same keyring.
	peppers := [][]byte{bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes)}
	keys, err := keyring.New(peppers...)
	require.NoError(t, err)
	srv, err := loyalty.New(loyalty.Config{Policies: pol, Store: st, Peppers: peppers}, nil)
	require.NoError(t, err)
	defer srv.Close()

	m := guardtest.Matrix{Sessions: st, Keys: keys, Policies: pol, OtherCustomerID: "2awTHmQ4kLx9GGprJoaoPe7XYzw"}
	for _, p := range loyalty.Partners {
		m.Partners = append(m.Partners, guardtest.Partner{Name: p.ID, Integration: p.ID, APIKey: p.Key})
	}
	c, maria, post := "/api/v2/customers/"+loyalty.MariaID, loyalty.MariaID, http.MethodPost
	m.Routes = []guardtest.Route{
		{Target: "/api/v2/customers/search?q=maria", Action: policy.SearchCustomers},
		{Target: c + "/balance", Action: policy.ViewBalance, CustomerID: maria},
		{Target: c + "/history", Action: policy.ViewHistory, CustomerID: maria},
		{Method: post, Target: c + "/points/", Body: `{"points":10,"description":"test"}`, Action: policy.AwardPoints, CustomerID: maria},
		{Target: "/api/v2/rewards/", Action: policy.ListRewards},
		{Target: "/api/v2/coupons/", Action: policy.ListCoupons},
		{Target: "/api/v2/programs/", Action: policy.ViewPrograms},
		{Method: post, Target: "/api/v2/webhooks/", Body: `{"url":"https://example.com/hook","events":["points.earned"]}`, Action: policy.SendWebhook},
		{Method: post, Target: c + "/rewards/rwd_free_coffee/redeem/", Body: `{"use_z_tokens":false}`, Action: policy.RedeemReward, CustomerID: maria},
		{Method: post, Target: "/api/v2/coupons/MARIA10/validate/", Action: policy.ValidateCoupon, CustomerID: maria},
		{Method: post, Target: "/api/v2/coupons/MARIA10/use/", Action: policy.UseCoupon, CustomerID: maria},
		{Method: post, Target: "/api/v2/customers/enroll/", Body: `{"identifier":"` + loyalty.MariaPhone + `","full_name":"Maria Santos"}`, Action: policy.EnrollCustomer, CustomerID: maria},
	}
	guardtest.AssertMatrix(t, srv, m)
}
