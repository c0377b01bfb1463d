package loyalty

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The three curl commands of the Zupy documentation, verbatim.
const (
	seedRequestOTP = `curl -X POST "https://api.zupy.com/api/v2/auth/request-otp/" \
  -H "X-API-Key: zupy_pk_your_api_key_here" \
  -H "Content-Type: application/json" \
  -d '{"identifier": "+5511987654321"}'`

	seedVerifyOTP = `curl -X POST "https://api.zupy.com/api/v2/auth/verify-otp/" \
  -H "X-API-Key: zupy_pk_your_api_key_here" \
  -H "Content-Type: application/json" \
  -d '{"identifier": "+5511987654321", "otp_code": "123456"}'`

	seedRedeem = `curl -X POST "https://api.zupy.com/api/v2/customers/{id}/rewards/{rid}/redeem/" \
  -H "X-API-Key: zupy_pk_your_api_key_here" \
  -H "X-OTP-Session: abc123def456ghi789..." \
  -H "Content-Type: application/json" \
  -d '{"use_z_tokens": false}'`
)

// curlRequest turns a curl command line of the kind the documentation uses
// (-X, -H, -d, one URL; single or double quotes; backslash-newline
// continuations) into a request.
func curlRequest(t *testing.T, cmd string) *http.Request {
	t.Helper()
	words := shellWords(t, strings.ReplaceAll(cmd, "\\\n", " "))
	require.Equal(t, "curl", words[0])
	method, url, body := "", "", ""
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			name, value, ok := strings.Cut(words[i], ":")
			require.True(t, ok, "header %q", words[i])
			header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		case "-d":
			i++
			body = words[i]
			if method == "" {
				method = http.MethodPost
			}
		default:
			require.Empty(t, url, "a second URL %q", words[i])
			url = words[i]
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	r.Header = header
	return r
}

// shellWords splits s as a POSIX shell would for the quoting curl commands
// use: whitespace separates words, '...' is literal, "..." allows \" and \\.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			require.GreaterOrEqual(t, j, 0, "unterminated ' in %q", s)
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			require.Less(t, i, len(s), "unterminated \" in %q", s)
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestSeedCurlCommands runs the documentation's curl commands against a
// real server, changing only the host, the key and the placeholders the
// documentation asks the reader to fill in (the code, the session, the IDs).
func TestSeedCurlCommands(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	fill := func(cmd string, repl ...string) string {
		repl = append([]string{
			"https://api.zupy.com", srv.URL,
			"zupy_pk_your_api_key_here", key["saipos"],
		}, repl...)
		return strings.NewReplacer(repl...).Replace(cmd)
	}
	do := func(cmd string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Do(curlRequest(t, cmd))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, body := do(fill(seedRequestOTP))
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	assert.JSONEq(t, `{"data": {"status": "sent", "channel": "whatsapp", "expires_in": 300}, "meta": {}}`, body)

	status, body = do(fill(seedVerifyOTP, `"otp_code": "123456"`, `"otp_code": "`+e.lastCode(t, mariaPhone)+`"`))
	require.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
	var v struct{ Data verified }
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	assert.Equal(t, mariaID, v.Data.CustomerID)
	assert.Equal(t, "Maria Santos", v.Data.FullName)
	assert.Equal(t, 150, v.Data.Points)
	assert.Equal(t, "silver", v.Data.Tier)

	// Saipos is relaxed: redemption needs the session.
	noSession := strings.Replace(seedRedeem, "  -H \"X-OTP-Session: abc123def456ghi789...\" \\\n", "", 1)
	status, body = do(fill(noSession, "{id}", v.Data.CustomerID, "{rid}", "rwd_free_coffee"))
	assert.Equal(t, http.StatusForbidden, status, "redeem without session: body %s", body)
	assert.JSONEq(t, `{"type":"https://api.zupy.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`, body)

	status, body = do(fill(seedRedeem, "{id}", v.Data.CustomerID, "{rid}", "rwd_free_coffee", "abc123def456ghi789...", v.Data.Session))
	require.Equal(t, http.StatusOK, status, "redeem: body %s", body)
	var c struct {
		Data struct {
			CouponCode string `json:"coupon_code"`
			Points     int    `json:"points_balance"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &c))
	assert.NotEmpty(t, c.Data.CouponCode)
	assert.Equal(t, 50, c.Data.Points)
}

func TestCurlRequestParser(t *testing.T) {
	r := curlRequest(t, seedRedeem)
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "https://api.zupy.com/api/v2/customers/%7Bid%7D/rewards/%7Brid%7D/redeem/", r.URL.String())
	assert.Equal(t, "abc123def456ghi789...", r.Header.Get("X-OTP-Session"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, `{"use_z_tokens": false}`, string(b))
	assert.Equal(t, []string{"a", "b c", `d"e`, "fg"}, shellWords(t, `a 'b c' "d\"e" f'g'`))
}
