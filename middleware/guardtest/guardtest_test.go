package guardtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/middleware/guardtest"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

const (
	maria = "cust-maria"
	joao  = "cust-joao"

	keyRepediu = "test_key_repediu_0123456789"
	keyGoomer  = "test_key_goomer_0123456789"
	keyBalcao  = "test_key_balcao_0123456789"
)

// testKeys are the session keys of the test hosts' guards.
var testKeys = newKeyring(1)

// newKeyring returns a keyring of one 32-byte key, every byte b.
func newKeyring(b byte) *keyring.Keyring {
	k, err := keyring.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

// testPolicies are the hosts' policies: Repediu trusted, Goomer relaxed,
// and Balcão not listed, so strict by default.
func testPolicies(t *testing.T) *policy.Static {
	t.Helper()
	strict, err := policy.Preset(policy.Strict)
	require.NoError(t, err)
	relaxed, err := policy.Preset(policy.Relaxed)
	require.NoError(t, err)
	trusted, err := policy.Preset(policy.Trusted)
	require.NoError(t, err)
	s, err := policy.NewStatic(strict, map[string]policy.Policy{"repediu": trusted, "goomer": relaxed})
	require.NoError(t, err)
	return s
}

// hostConfig breaks the test host in one way; the zero value is a correct
// host.
type hostConfig struct {
	// redeemAction guards the redeem route; "" leaves it unguarded.
	redeemAction policy.Action
	// balanceAction guards the balance route.
	balanceAction policy.Action
	// noCustomerSource drops the customer binding from the customer routes.
	noCustomerSource bool
	// forbiddenCoupon replaces the coupon route with an unguarded handler
	// that always answers its own 403 (not otp-required).
	forbiddenCoupon bool
}

// newHost builds a host like a real one: API keys in front of a mux whose
// routes are guarded per action, sessions in st sealed with testKeys.
func newHost(t *testing.T, st store.Sessions, policies policy.Source, cfg hostConfig) http.Handler {
	t.Helper()
	if cfg.redeemAction == "" {
		cfg.redeemAction = policy.RedeemReward
	}
	if cfg.balanceAction == "" {
		cfg.balanceAction = policy.ViewBalance
	}
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	guard, err := middleware.NewGuard(web, middleware.WithPolicies(policies), middleware.WithSessions(st), middleware.WithSessionKeys(testKeys))
	require.NoError(t, err)
	// The customer routes bind their sessions to the customer in the path.
	customer := middleware.CustomerFromPath("id")
	if cfg.noCustomerSource {
		customer = middleware.AnyCustomer
	}
	auth, err := middleware.APIKeys(web, map[string]string{keyRepediu: "repediu", keyGoomer: "goomer", keyBalcao: "balcao"})
	require.NoError(t, err)

	reply := func(text string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			fmt.Fprintln(w, text, r.PathValue("id"))
		}
	}
	enroll := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "enrolled") }
	// useCoupon refuses a session of another customer than the coupon's
	// owner with the otp-required problem, as the example does.
	useCoupon := func(w http.ResponseWriter, r *http.Request) {
		if s, ok := middleware.SessionFrom(r.Context()); ok && s.CustomerID != maria {
			middleware.WriteProblem(w, middleware.Problem{Type: "about:blank#otp-required", Title: "OTP Required", Status: http.StatusForbidden})
			return
		}
		fmt.Fprintln(w, "used")
	}
	forbidden := func(w http.ResponseWriter, _ *http.Request) {
		middleware.WriteProblem(w, middleware.Problem{Type: "about:blank#forbidden", Title: "Forbidden", Status: http.StatusForbidden})
	}

	mux := http.NewServeMux()
	mux.Handle("GET /customers/{id}/balance", guard.Require(cfg.balanceAction, customer)(reply("balance of")))
	if cfg.redeemAction == "none" {
		mux.Handle("POST /customers/{id}/redeem", reply("redeemed for"))
	} else {
		mux.Handle("POST /customers/{id}/redeem", guard.Require(cfg.redeemAction, customer)(reply("redeemed for")))
	}
	mux.Handle("POST /customers/enroll", guard.Require(policy.EnrollCustomer)(http.HandlerFunc(enroll)))
	if cfg.forbiddenCoupon {
		mux.HandleFunc("POST /coupons/{code}/use", forbidden)
	} else {
		mux.Handle("POST /coupons/{code}/use", guard.Require(policy.UseCoupon)(http.HandlerFunc(useCoupon)))
	}
	return auth(mux)
}

// testMatrix is the matrix of the test host.
func testMatrix(st store.Sessions, policies policy.Source) guardtest.Matrix {
	return guardtest.Matrix{
		Partners: []guardtest.Partner{
			{Name: "repediu", Integration: "repediu", APIKey: keyRepediu},
			{Name: "goomer", Integration: "goomer", APIKey: keyGoomer},
			{Integration: "balcao", APIKey: keyBalcao},
		},
		Routes: []guardtest.Route{
			{Name: "balance", Target: "/customers/" + maria + "/balance", Action: policy.ViewBalance, CustomerID: maria},
			{Name: "redeem", Method: http.MethodPost, Target: "/customers/" + maria + "/redeem", Body: `{"reward":"coffee"}`,
				Action: policy.RedeemReward, CustomerID: maria},
			{Name: "enroll", Method: http.MethodPost, Target: "/customers/enroll", Body: `{"identifier":"+5511987654321"}`,
				Action: policy.EnrollCustomer},
			{Name: "use-coupon", Method: http.MethodPost, Target: "/coupons/MARIA10/use", Action: policy.UseCoupon, CustomerID: maria},
		},
		Sessions:        st,
		Keys:            testKeys,
		Policies:        policies,
		OtherCustomerID: joao,
	}
}

// names returns the results' names.
func names(results []guardtest.Result) []string {
	var out []string
	for _, r := range results {
		out = append(out, r.Name())
	}
	return out
}

func TestCheckMatrixCorrectHost(t *testing.T) {
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	m := testMatrix(st, policies)
	resets := 0
	m.Reset = func() { resets++ }

	results, err := guardtest.CheckMatrix(newHost(t, st, policies, hostConfig{}), m)
	require.NoError(t, err)

	for _, r := range results {
		assert.True(t, r.OK(), "%s: %s", r.Name(), r.Failure)
	}
	assert.Equal(t, []string{
		"repediu/balance/without-session", "repediu/balance/with-session",
		"repediu/redeem/without-session", "repediu/redeem/with-session",
		"repediu/enroll/without-session", "repediu/enroll/with-session",
		"repediu/use-coupon/without-session", "repediu/use-coupon/with-session",
		"goomer/balance/without-session", "goomer/balance/with-session",
		"goomer/redeem/without-session", "goomer/redeem/other-customer", "goomer/redeem/with-session",
		"goomer/enroll/without-session", "goomer/enroll/with-session",
		"goomer/use-coupon/without-session", "goomer/use-coupon/other-customer", "goomer/use-coupon/with-session",
		"balcao/balance/without-session", "balcao/balance/with-session",
		"balcao/redeem/without-session", "balcao/redeem/other-customer", "balcao/redeem/with-session",
		"balcao/enroll/without-session", "balcao/enroll/with-session",
		"balcao/use-coupon/without-session", "balcao/use-coupon/other-customer", "balcao/use-coupon/with-session",
	}, names(results))
	assert.Equal(t, len(results), resets, "Reset calls")

	// The expectations come from the policies, not from the test.
	byName := map[string]guardtest.Result{}
	for _, r := range results {
		byName[r.Name()] = r
	}
	for _, c := range []struct {
		name   string
		want   guardtest.Want
		reason policy.Reason
		status int
	}{
		{"repediu/redeem/without-session", guardtest.WantAllowed, policy.ReasonTrustedPartner, http.StatusOK},
		{"goomer/redeem/without-session", guardtest.WantOTPRequired, policy.ReasonRedemption, http.StatusForbidden},
		{"goomer/redeem/other-customer", guardtest.WantOTPRequired, policy.ReasonRedemption, http.StatusForbidden},
		{"goomer/enroll/without-session", guardtest.WantAllowed, policy.ReasonEnrollment, http.StatusOK},
		{"balcao/enroll/without-session", guardtest.WantOTPRequired, policy.ReasonEnrollment, http.StatusForbidden},
		{"balcao/enroll/with-session", guardtest.WantAllowed, policy.ReasonEnrollment, http.StatusOK},
		{"balcao/balance/without-session", guardtest.WantAllowed, policy.ReasonNever, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, ok := byName[c.name]
			require.True(t, ok, "no result %s", c.name)
			assert.Equal(t, c.want, r.Want, "want")
			assert.Equal(t, c.reason, r.Decision.Reason, "reason")
			assert.Equal(t, c.status, r.Status, "status")
		})
	}
	assert.Equal(t, "about:blank#otp-required", byName["balcao/redeem/without-session"].ProblemType)
	assert.Equal(t, "redeemed for cust-maria\n", byName["balcao/redeem/with-session"].Body)
}

func TestCheckMatrixDetectsBrokenHosts(t *testing.T) {
	tests := []struct {
		name   string
		cfg    hostConfig
		matrix func(*guardtest.Matrix)
		want   []string // the failing checks
	}{
		{
			name: "unguarded route",
			cfg:  hostConfig{redeemAction: "none"},
			want: []string{"goomer/redeem/without-session", "goomer/redeem/other-customer",
				"balcao/redeem/without-session", "balcao/redeem/other-customer"},
		},
		{
			name: "guarded with an action that never requires OTP",
			cfg:  hostConfig{redeemAction: policy.ViewBalance},
			want: []string{"goomer/redeem/without-session", "goomer/redeem/other-customer",
				"balcao/redeem/without-session", "balcao/redeem/other-customer"},
		},
		{
			name: "guarded with another flag's action",
			cfg:  hostConfig{redeemAction: policy.EnrollCustomer},
			// Relaxed needs no OTP to enroll; under strict the session,
			// scoped to redeem_reward, does not cover enroll_customer.
			want: []string{"goomer/redeem/without-session", "goomer/redeem/other-customer",
				"balcao/redeem/with-session"},
		},
		{
			name: "guarded with a stricter action",
			cfg:  hostConfig{balanceAction: policy.RedeemReward},
			want: []string{"goomer/balance/without-session", "goomer/balance/with-session",
				"balcao/balance/without-session", "balcao/balance/with-session"},
		},
		{
			name: "no customer source",
			cfg:  hostConfig{noCustomerSource: true},
			want: []string{"goomer/redeem/other-customer", "balcao/redeem/other-customer"},
		},
		{
			name: "a 403 that is not otp-required",
			cfg:  hostConfig{forbiddenCoupon: true},
			want: []string{"repediu/use-coupon/without-session", "repediu/use-coupon/with-session",
				"goomer/use-coupon/without-session", "goomer/use-coupon/other-customer", "goomer/use-coupon/with-session",
				"balcao/use-coupon/without-session", "balcao/use-coupon/other-customer", "balcao/use-coupon/with-session"},
		},
		{
			name:   "wrong API key",
			matrix: func(m *guardtest.Matrix) { m.Partners[0].APIKey = "test_key_unknown_0123456789" },
			want: []string{"repediu/balance/without-session", "repediu/balance/with-session",
				"repediu/redeem/without-session", "repediu/redeem/with-session",
				"repediu/enroll/without-session", "repediu/enroll/with-session",
				"repediu/use-coupon/without-session", "repediu/use-coupon/with-session"},
		},
		{
			name: "sessions expired by the matrix's clock",
			matrix: func(m *guardtest.Matrix) {
				m.Now = func() time.Time { return time.Now().Add(-time.Hour) }
			},
			want: []string{"goomer/redeem/with-session", "goomer/use-coupon/with-session",
				"balcao/redeem/with-session", "balcao/enroll/with-session", "balcao/use-coupon/with-session"},
		},
		{
			// The host's guard refuses every session sealed with other
			// keys than its own, wherever OTP is required.
			name:   "sessions sealed with other keys than the host's",
			matrix: func(m *guardtest.Matrix) { m.Keys = newKeyring(2) },
			want: []string{"goomer/redeem/with-session", "goomer/use-coupon/with-session",
				"balcao/redeem/with-session", "balcao/enroll/with-session", "balcao/use-coupon/with-session"},
		},
		{
			name: "route's Accept refuses",
			matrix: func(m *guardtest.Matrix) {
				m.Routes[0].Accept = func(status int) bool { return status == http.StatusCreated }
			},
			want: []string{"repediu/balance/without-session", "repediu/balance/with-session",
				"goomer/balance/without-session", "goomer/balance/with-session",
				"balcao/balance/without-session", "balcao/balance/with-session"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New()
			defer st.Close()
			policies := testPolicies(t)
			m := testMatrix(st, policies)
			if tt.matrix != nil {
				tt.matrix(&m)
			}
			results, err := guardtest.CheckMatrix(newHost(t, st, policies, tt.cfg), m)
			require.NoError(t, err)
			require.Len(t, results, 28)
			failures := guardtest.Failures(results)
			assert.Equal(t, tt.want, names(failures), "failing checks")
			for _, f := range failures {
				assert.True(t, strings.HasPrefix(f.Failure, "got status "), "got failure %q, want it to start with \"got status \"", f.Failure)
				assert.Contains(t, f.Failure, ", want ")
				assert.True(t, strings.HasPrefix(f.String(), "FAIL "+f.Name()+": "), "got %q", f.String())
			}
		})
	}
}

func TestCheckMatrixFailureMessages(t *testing.T) {
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	m := testMatrix(st, policies)

	results, err := guardtest.CheckMatrix(newHost(t, st, policies, hostConfig{redeemAction: "none", forbiddenCoupon: true, balanceAction: policy.RedeemReward}), m)
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range results {
		got[r.Name()] = r.Failure
	}
	for name, want := range map[string]string{
		"balcao/redeem/without-session": "got status 200, want 403 otp-required (redeem_reward: required (require_otp_for_redemption)); body: redeemed for cust-maria",
		"balcao/use-coupon/without-session": `got status 403 (problem type "about:blank#forbidden"), want 403 otp-required (use_coupon: required (require_otp_for_coupon_usage)); ` +
			`body: {"type":"about:blank#forbidden","title":"Forbidden","status":403}`,
		"repediu/use-coupon/with-session": `got status 403 (problem type "about:blank#forbidden"), want neither 401 nor 403 (use_coupon: not required (trusted partner)); ` +
			`body: {"type":"about:blank#forbidden","title":"Forbidden","status":403}`,
		"goomer/balance/without-session": `got status 403 otp-required, want neither 401 nor 403 (view_balance: not required (never)); ` +
			`body: {"type":"about:blank#otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`,
		"goomer/redeem/with-session": "",
	} {
		assert.Equal(t, want, got[name], name)
	}
}

func TestCheckMatrixInvalid(t *testing.T) {
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	tests := []struct {
		name   string
		change func(*guardtest.Matrix)
		want   []string
		is     error
	}{
		{"no store", func(m *guardtest.Matrix) { m.Sessions = nil }, []string{"no session store"}, nil},
		{"no keys", func(m *guardtest.Matrix) { m.Keys = nil }, []string{"no session keys (set Keys)"}, nil},
		{"empty keys", func(m *guardtest.Matrix) { m.Keys = &keyring.Keyring{} }, []string{"no session keys (set Keys)"}, nil},
		{"no policies", func(m *guardtest.Matrix) { m.Policies = nil }, []string{"no policy source"}, nil},
		{"no partners", func(m *guardtest.Matrix) { m.Partners = nil }, []string{"no partners"}, nil},
		{"no routes", func(m *guardtest.Matrix) { m.Routes = nil }, []string{"no routes"}, nil},
		{"negative TTL", func(m *guardtest.Matrix) { m.TTL = -time.Second }, []string{"negative TTL"}, nil},
		{"partner without integration", func(m *guardtest.Matrix) { m.Partners[0].Integration = "" }, []string{`partner 0 ("repediu"): no integration`}, nil},
		{"repeated partner", func(m *guardtest.Matrix) { m.Partners[1].Name = "repediu" }, []string{`partner "repediu": repeated name`}, nil},
		{"slash in a name", func(m *guardtest.Matrix) { m.Routes[0].Name = "a/b" }, []string{`route "a/b": name contains "/"`}, nil},
		{"route without action", func(m *guardtest.Matrix) { m.Routes[0].Name, m.Routes[0].Action = "", "" }, []string{"route 0: no action"}, nil},
		{"unknown action", func(m *guardtest.Matrix) { m.Routes[0].Action = "fly" }, []string{`route "balance": policy: rule for "fly"`}, policy.ErrUnknownAction},
		{"no target", func(m *guardtest.Matrix) { m.Routes[1].Target = "" }, []string{`route "redeem": no target`}, nil},
		{"bad method", func(m *guardtest.Matrix) { m.Routes[1].Method = "PO ST" }, []string{`route "redeem": method "PO ST"`}, nil},
		{"every problem at once", func(m *guardtest.Matrix) { m.Sessions, m.Keys, m.Routes = nil, nil, nil }, []string{"no session store", "no session keys", "no routes"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMatrix(st, policies)
			tt.change(&m)
			results, err := guardtest.CheckMatrix(http.NotFoundHandler(), m)
			require.Error(t, err)
			assert.Nil(t, results)
			assert.ErrorIs(t, err, guardtest.ErrInvalidMatrix)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// failingSource is a policy source that always fails.
type failingSource struct{ err error }

func (s failingSource) Policy(context.Context, string) (policy.Policy, error) {
	return policy.Policy{}, s.err
}

// failingSessions is a session store whose writes fail.
type failingSessions struct {
	store.Sessions
	err error
}

func (s failingSessions) CreateSession(context.Context, string, store.Session, time.Duration) error {
	return s.err
}

func TestCheckMatrixSourceAndStoreErrors(t *testing.T) {
	errBoom := errors.New("boom")
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	h := newHost(t, st, policies, hostConfig{})

	t.Run("policy source", func(t *testing.T) {
		m := testMatrix(st, failingSource{err: errBoom})
		results, err := guardtest.CheckMatrix(h, m)
		require.ErrorIs(t, err, errBoom)
		assert.NotErrorIs(t, err, guardtest.ErrInvalidMatrix)
		assert.Contains(t, err.Error(), `guardtest: matrix: policy of integration "repediu"`)
		assert.Nil(t, results)
	})
	t.Run("session store", func(t *testing.T) {
		m := testMatrix(failingSessions{Sessions: st, err: errBoom}, policies)
		results, err := guardtest.CheckMatrix(h, m)
		require.ErrorIs(t, err, errBoom)
		assert.Contains(t, err.Error(), "guardtest: matrix: repediu/balance/with-session: guardtest: issue session")
		// The first check, without a session, ran before the failure.
		assert.Equal(t, []string{"repediu/balance/without-session"}, names(results))
	})
}

func TestAssertMatrixCorrectHost(t *testing.T) {
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	// A failure here fails this test: that is the assertion.
	guardtest.AssertMatrix(t, newHost(t, st, policies, hostConfig{}), testMatrix(st, policies))
}

// brokenEnv makes TestAssertMatrixBrokenHost run AssertMatrix against a
// broken host, in a child process its parent inspects.
const brokenEnv = "GUARDTEST_ASSERT_BROKEN_HOST"

func TestAssertMatrixBrokenHost(t *testing.T) {
	if os.Getenv(brokenEnv) == "1" {
		st := memory.New()
		defer st.Close()
		policies := testPolicies(t)
		guardtest.AssertMatrix(t, newHost(t, st, policies, hostConfig{redeemAction: "none"}), testMatrix(st, policies))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAssertMatrixBrokenHost$", "-test.v")
	cmd.Env = append(os.Environ(), brokenEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "got err %v, want a failed test run; output:\n%s", err, out)

	var failed []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: TestAssertMatrixBrokenHost/"); ok {
			failed = append(failed, strings.Fields(name)[0])
		}
	}
	slices.Sort(failed)
	assert.Equal(t, []string{
		"balcao", "balcao/redeem", "balcao/redeem/other-customer", "balcao/redeem/without-session",
		"goomer", "goomer/redeem", "goomer/redeem/other-customer", "goomer/redeem/without-session",
	}, failed)
	// The failure points at the AssertMatrix call, not into the kit.
	assert.Regexp(t, `guardtest_test\.go:\d+: got status 200, want 403 otp-required \(redeem_reward: required \(require_otp_for_redemption\)\); body: redeemed for cust-maria`, string(out))
	assert.Contains(t, string(out), "--- PASS: TestAssertMatrixBrokenHost/repediu/redeem/without-session")
}

func TestIssueSession(t *testing.T) {
	st := memory.New()
	defer st.Close()
	policies := testPolicies(t)
	h := newHost(t, st, policies, hostConfig{})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fixed := func() time.Time { return base }

	tests := []struct {
		name    string
		session guardtest.Session
		target  string // redeem route of this customer
		want    int
	}{
		{"valid", guardtest.Session{Integration: "balcao", CustomerID: maria, Keys: testKeys}, maria, http.StatusOK},
		{"scoped to the action", guardtest.Session{Integration: "balcao", CustomerID: maria, Keys: testKeys, Scopes: []policy.Action{policy.RedeemReward}}, maria, http.StatusOK},
		{"scoped to another action", guardtest.Session{Integration: "balcao", CustomerID: maria, Keys: testKeys, Scopes: []policy.Action{policy.UseCoupon}}, maria, http.StatusForbidden},
		{"another customer", guardtest.Session{Integration: "balcao", CustomerID: joao, Keys: testKeys}, maria, http.StatusForbidden},
		{"another integration", guardtest.Session{Integration: "goomer", CustomerID: maria, Keys: testKeys}, maria, http.StatusForbidden},
		{"expired", guardtest.Session{Integration: "balcao", CustomerID: maria, Keys: testKeys, TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, maria, http.StatusForbidden},
		{"sealed with other keys", guardtest.Session{Integration: "balcao", CustomerID: maria, Keys: newKeyring(2)}, maria, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := guardtest.IssueSession(context.Background(), st, tt.session)
			require.NoError(t, err)
			rec := guardtest.Serve(h, guardtest.NewRequest(http.MethodPost, "/customers/"+tt.target+"/redeem", nil,
				guardtest.WithAPIKey(keyBalcao), guardtest.WithSession(token)))
			assert.Equal(t, tt.want, rec.Code, "got status %d, want %d; body: %s", rec.Code, tt.want, rec.Body)
			if tt.want == http.StatusForbidden {
				assert.True(t, guardtest.IsOTPRequired(rec.Code, rec.Body.Bytes()), "got body %s, want otp-required", rec.Body)
			}
		})
	}

	t.Run("stored record", func(t *testing.T) {
		token, err := guardtest.IssueSession(context.Background(), st, guardtest.Session{
			Integration: "goomer", CustomerID: maria, Keys: testKeys,
			Scopes: []policy.Action{policy.RedeemReward, policy.UseCoupon}, Now: fixed,
		})
		require.NoError(t, err)
		assert.Len(t, token, store.TokenLen)
		assert.True(t, store.VerifyToken(testKeys, token), "got a token that does not carry the MAC of Keys")
		hash := store.HashToken(token)
		got, found, err := st.GetSession(context.Background(), hash)
		require.NoError(t, err)
		require.True(t, found)
		assert.True(t, store.Sealed(testKeys, hash, &got), "got a record whose MAC does not verify under Keys")
		assert.False(t, store.Sealed(newKeyring(2), hash, &got), "got a record whose MAC verifies under other keys")
		want := store.Session{
			Integration: "goomer", CustomerID: maria,
			Scopes: []string{"redeem_reward", "use_coupon"}, VerifiedAt: base, ExpiresAt: base.Add(guardtest.DefaultSessionTTL),
		}
		store.Seal(testKeys, hash, &want)
		assert.Equal(t, want, got)
	})

	t.Run("tokens differ", func(t *testing.T) {
		s := guardtest.Session{Integration: "goomer", CustomerID: maria, Keys: testKeys}
		a, err := guardtest.IssueSession(context.Background(), st, s)
		require.NoError(t, err)
		b, err := guardtest.IssueSession(context.Background(), st, s)
		require.NoError(t, err)
		assert.NotEqual(t, a, b)
	})
}

func TestIssueSessionErrors(t *testing.T) {
	errBoom := errors.New("boom")
	st := memory.New()
	defer st.Close()
	tests := []struct {
		name  string
		st    store.Sessions
		s     guardtest.Session
		is    error
		words string
	}{
		{"nil store", nil, guardtest.Session{Integration: "goomer", Keys: testKeys}, guardtest.ErrInvalidSession, "nil session store"},
		{"no integration", st, guardtest.Session{CustomerID: maria, Keys: testKeys}, guardtest.ErrInvalidSession, "no integration"},
		{"no keys", st, guardtest.Session{Integration: "goomer", CustomerID: maria}, guardtest.ErrInvalidSession, "guardtest: issue session: guardtest: invalid session: no session keys"},
		{"empty keys", st, guardtest.Session{Integration: "goomer", CustomerID: maria, Keys: &keyring.Keyring{}}, guardtest.ErrInvalidSession, "no session keys"},
		{"negative TTL", st, guardtest.Session{Integration: "goomer", Keys: testKeys, TTL: -time.Second}, guardtest.ErrInvalidSession, "negative TTL -1s"},
		{"store error", failingSessions{Sessions: st, err: errBoom}, guardtest.Session{Integration: "goomer", Keys: testKeys}, errBoom, "guardtest: issue session: create session: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := guardtest.IssueSession(context.Background(), tt.st, tt.s)
			require.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.words)
			assert.Empty(t, token)
		})
	}
	n, err := st.CountSessions(context.Background(), store.ScopeCustomer, maria)
	require.NoError(t, err)
	assert.Zero(t, n, "got %d sessions stored by refused issues, want 0", n)
}

// fakeTB records what MustIssue reports. Methods it does not override are
// those of a nil testing.TB and must not be called.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Context() context.Context          { return context.Background() }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestMustIssue(t *testing.T) {
	st := memory.New()
	defer st.Close()

	token := guardtest.MustIssue(t, st, guardtest.Session{Integration: "goomer", CustomerID: maria, Keys: testKeys})
	_, found, err := st.GetSession(context.Background(), store.HashToken(token))
	require.NoError(t, err)
	assert.True(t, found, "got no session for the token, want one")

	tb := &fakeTB{}
	assert.Empty(t, guardtest.MustIssue(tb, st, guardtest.Session{}))
	assert.Equal(t, "guardtest: guardtest: issue session: guardtest: invalid session: no integration", tb.fatal)

	tb = &fakeTB{}
	assert.Empty(t, guardtest.MustIssue(tb, st, guardtest.Session{Integration: "goomer", CustomerID: maria}))
	assert.Equal(t, "guardtest: guardtest: issue session: guardtest: invalid session: no session keys", tb.fatal)
}

func TestNewRequest(t *testing.T) {
	r := guardtest.NewRequest(http.MethodPost, "/coupons/X/use?x=1", strings.NewReader("ignored"),
		guardtest.WithAPIKey(keyGoomer),
		guardtest.WithSession("token-0123456789abcdef"),
		guardtest.WithHeader("X-Trace", "a"),
		guardtest.WithHeader("X-Trace", "b"),
		guardtest.WithJSON(map[string]int{"points": 10}),
		guardtest.WithIntegration("goomer"),
		nil,
	)
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/coupons/X/use", r.URL.Path)
	assert.Equal(t, "1", r.URL.Query().Get("x"))
	assert.Equal(t, keyGoomer, r.Header.Get("X-API-Key"))
	assert.Equal(t, "token-0123456789abcdef", r.Header.Get(middleware.SessionHeader))
	assert.Equal(t, []string{"a", "b"}, r.Header.Values("X-Trace"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.EqualValues(t, len(`{"points":10}`), r.ContentLength)
	body, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, `{"points":10}`, string(body))
	again, err := r.GetBody()
	require.NoError(t, err)
	body, err = io.ReadAll(again)
	require.NoError(t, err)
	assert.Equal(t, `{"points":10}`, string(body))
	integration, ok := middleware.IntegrationFrom(r.Context())
	assert.True(t, ok)
	assert.Equal(t, "goomer", integration)

	empty := guardtest.NewRequest("", "/", nil, guardtest.WithAPIKey(""), guardtest.WithSession(""))
	assert.Equal(t, http.MethodGet, empty.Method)
	assert.Empty(t, empty.Header, "got headers %v, want none", empty.Header)
	assert.PanicsWithValue(t, "guardtest: WithJSON: json: unsupported type: chan int", func() {
		guardtest.NewRequest(http.MethodPost, "/", nil, guardtest.WithJSON(make(chan int)))
	})
}

func TestIsOTPRequired(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"default base", 403, `{"type":"about:blank#otp-required","status":403}`, true},
		{"URL base", 403, `{"type":"https://api.zupy.com/errors/otp-required"}`, true},
		{"bare type", 403, `{"type":"otp-required"}`, true},
		{"another type ending alike", 403, `{"type":"https://x/errors/not-otp-required"}`, false},
		{"another 403", 403, `{"type":"about:blank#forbidden"}`, false},
		{"not 403", 401, `{"type":"about:blank#otp-required"}`, false},
		{"not JSON", 403, `otp-required`, false},
		{"no body", 403, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := guardtest.IsOTPRequired(tt.status, []byte(tt.body))
			assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestWantString(t *testing.T) {
	for _, c := range []struct {
		w    guardtest.Want
		want string
	}{
		{guardtest.WantOTPRequired, "403 otp-required"},
		{guardtest.WantAllowed, "neither 401 nor 403"},
		{guardtest.Want(9), "Want(9)"},
	} {
		assert.Equal(t, c.want, c.w.String())
	}
}
