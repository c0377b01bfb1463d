package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/internal/testio"
)

// testAdminToken is the admin bearer token of the tests of /metrics.
const testAdminToken = "admin-token-for-the-metrics-test-6f1c9a2e"

// TestRunMetrics is the acceptance test of the example's observability, on
// each store: after one code sent by WhatsApp, one wrong verification, one
// right one, a guarded call without a session and one with it, and a lock,
// GET /metrics on the admin listener shows every count, and neither it nor
// the audit log holds a phone number, an email address, a CPF, a code or a
// token.
func TestRunMetrics(t *testing.T) {
	stores := []struct {
		name string
		args func(t *testing.T) ([]string, map[string]string)
	}{
		{"memory", func(*testing.T) ([]string, map[string]string) { return nil, nil }},
		{"redis", func(t *testing.T) ([]string, map[string]string) {
			client := redistest.Client(t)
			prefix := redistest.Prefix(t, client)
			return []string{"-store", "redis", "-redis-addr", redistest.Addr(), "-redis-prefix", prefix, "-redis-timeout", "2s"}, testPepper
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			storeArgs, env := st.args(t)
			testRunMetrics(t, storeArgs, env)
		})
	}
}

func testRunMetrics(t *testing.T, storeArgs []string, env map[string]string) {
	withToken := map[string]string{"OTPGUARD_ADMIN_TOKEN": testAdminToken}
	for k, v := range env {
		withToken[k] = v
	}
	args := append([]string{"-admin-addr", "127.0.0.1:0", "-log", "-lock-after", "3", "-resend-cooldown", "0s"}, storeArgs...)
	base, stdout, stderr := startRunOutput(t, args, withToken)
	admin := adminBase(t, stderr)

	// One code by WhatsApp, one wrong verification, one right one.
	code := requestCode(t, base, stdout)
	status, body := verifyOTP(t, base, wrongCode(code))
	require.Equal(t, http.StatusUnauthorized, status, "wrong code: body %s", body)
	status, body = verifyOTP(t, base, code)
	require.Equal(t, http.StatusOK, status, "right code: body %s", body)
	session := sessionOf(t, body)
	require.NotEmpty(t, session)

	// Goomer's policy asks for OTP to redeem: denied without the session,
	// allowed with it.
	status, body = redeemCoffee(t, base, "")
	require.Equal(t, http.StatusForbidden, status, "redeem without a session: body %s", body)
	status, body = redeemCoffee(t, base, session)
	require.Equal(t, http.StatusOK, status, "redeem with the session: body %s", body)

	// A lock: wrong codes until the pair is locked (-lock-after 3).
	code2 := requestCode(t, base, stdout)
	locked := false
	for range 5 {
		status, body = verifyOTP(t, base, wrongCode(code2))
		if status == http.StatusTooManyRequests {
			locked = true
			break
		}
		require.Equal(t, http.StatusUnauthorized, status, "wrong code: body %s", body)
	}
	require.True(t, locked, "got no 429 after 5 wrong codes with -lock-after 3")

	// /metrics is the admin token holder's only.
	for name, auth := range map[string][]string{
		"no token":      nil,
		"wrong token":   {"Bearer " + strings.Repeat("x", len(testAdminToken))},
		"two headers":   {"Bearer " + testAdminToken, "Bearer " + testAdminToken},
		"not a bearer":  {"Basic " + testAdminToken},
		"partner's key": {"Bearer " + partnerKey(t, "goomer")},
	} {
		status, body := scrape(t, admin, auth...)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: got %d, want 401", name, status)
		assert.NotContains(t, body, "otpguard_", "%s: the refusal shows metrics", name)
	}
	status, metrics := scrape(t, admin, "Bearer "+testAdminToken)
	require.Equal(t, http.StatusOK, status, "/metrics: body %s", metrics)
	samples := parseSamples(t, metrics)

	for _, want := range []struct {
		name   string
		labels map[string]string
	}{
		{"otpguard_codes_sent_total", map[string]string{"channel": "whatsapp"}},
		{"otpguard_codes_sent_total", map[string]string{"channel": "whatsapp", "outcome": "sent"}},
		{"otpguard_verifications_total", map[string]string{"outcome": "wrong_code"}},
		{"otpguard_verifications_total", map[string]string{"outcome": "verified"}},
		{"otpguard_guard_decisions_total", map[string]string{"action": "redeem_reward", "outcome": "denied"}},
		{"otpguard_guard_decisions_total", map[string]string{"action": "redeem_reward", "outcome": "denied", "reason": "no_session"}},
		{"otpguard_guard_decisions_total", map[string]string{"action": "redeem_reward", "outcome": "allowed"}},
		{"otpguard_locks_total", nil},
		{"otpguard_locks_total", map[string]string{"scope": "integration-customer"}},
		{"otpguard_rate_limit_refusals_total", map[string]string{"limit": "pair_lock"}},
		{"otpguard_delivery_duration_seconds_count", map[string]string{"channel": "whatsapp"}},
	} {
		got, n := samples.sum(want.name, want.labels)
		assert.GreaterOrEqual(t, got, 1.0, "%s%v: got %v over %d samples, want >= 1", want.name, want.labels, got, n)
	}
	_, buckets := samples.sum("otpguard_delivery_duration_seconds_bucket", map[string]string{"channel": "whatsapp"})
	assert.Positive(t, buckets, "got no otpguard_delivery_duration_seconds_bucket{channel=\"whatsapp\"} lines")

	// Nothing personal or secret, in /metrics or in the audit log.
	forbidden := []string{
		"987654321", loyalty.MariaPhone, // Maria's phone
		"maria@example.com",             // her email
		"52998224725", "529.982.247-25", // her CPF
		session, testAdminToken, partnerKey(t, "goomer"),
	}
	for _, c := range deliveries(t, stdout) {
		forbidden = append(forbidden, c, wrongCode(c))
	}
	email := regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.]+`)
	metricsText := samples.names()
	audit := auditStrings(t, stderr.String())
	require.NotEmpty(t, audit, "the audit log is empty")
	assert.Contains(t, strings.Join(audit, "\n"), "otp.locked", "the audit log has no lock event")
	for what, text := range map[string]string{"/metrics": metricsText, "the audit log": strings.Join(audit, "\n")} {
		for _, s := range forbidden {
			assert.NotContains(t, text, s, "%s holds %q", what, s)
		}
		assert.False(t, email.MatchString(text), "%s holds an email address: %q", what, email.FindString(text))
	}
}

// wrongCode returns a code of the same length as code that is not code.
func wrongCode(code string) string {
	last := code[len(code)-1]
	return code[:len(code)-1] + string('0'+(last-'0'+1)%10)
}

// adminBase waits for the admin listener's metrics line on stderr and
// returns the listener's base URL.
func adminBase(t *testing.T, stderr *testio.Buffer) string {
	t.Helper()
	re := regexp.MustCompile(`metrics on (http://127\.0\.0\.1:\d+)/metrics `)
	var base string
	eventually(t, 10*time.Second, "the admin listener's metrics line on stderr", func() bool {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
		return base != ""
	})
	return base
}

// scrape gets base/metrics with the Authorization headers auth and returns
// the status and the body.
func scrape(t *testing.T, base string, auth ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	require.NoError(t, err)
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusOK {
		assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain", "got Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
	text   string // the line without its value
}

// samples are the lines of one scrape.
type samples struct {
	lines    []sample
	comments []string // # HELP and # TYPE lines
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// parseSamples parses the text format; a line it cannot parse fails t.
func parseSamples(t *testing.T, text string) samples {
	t.Helper()
	var s samples
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			s.comments = append(s.comments, line)
		default:
			m := sampleLine.FindStringSubmatch(line)
			require.NotNil(t, m, "unparsable /metrics line %q", line)
			v, err := strconv.ParseFloat(m[3], 64)
			require.NoError(t, err, "/metrics line %q", line)
			labels := map[string]string{}
			for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
				labels[p[1]] = p[2]
			}
			s.lines = append(s.lines, sample{name: m[1], labels: labels, value: v, text: strings.TrimSuffix(line, " "+m[3])})
		}
	}
	return s
}

// sum returns the sum of the values of the samples of name whose labels
// include want, and how many there are.
func (s samples) sum(name string, want map[string]string) (float64, int) {
	var total float64
	n := 0
next:
	for _, l := range s.lines {
		if l.name != name {
			continue
		}
		for k, v := range want {
			if l.labels[k] != v {
				continue next
			}
		}
		total += l.value
		n++
	}
	return total, n
}

// names returns the scrape without its sample values — the comments, the
// names and the labels — which is where a leak would be: the values are
// numbers, and a duration's digits could match a code by chance.
func (s samples) names() string {
	out := append([]string(nil), s.comments...)
	for _, l := range s.lines {
		out = append(out, l.text)
	}
	return strings.Join(out, "\n")
}

// auditStrings returns every key and string value of the audit log's JSON
// lines in stderr, but their time: the values a leak would be in. Numbers
// (durations, counts) are left out, as their digits could match a code by
// chance.
func auditStrings(t *testing.T, stderr string) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the banner
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "audit line %q", line)
		delete(rec, "time")
		walk(rec)
	}
	return out
}
