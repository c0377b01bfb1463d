package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/policy"
)

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// envOf returns a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPolicies(t *testing.T) {
	t.Run("no path is the built-in file", func(t *testing.T) {
		pol, source, err := loadPolicies("")
		require.NoError(t, err)
		assert.Equal(t, "built-in example/loyalty/policies.json", source)
		in, ok := pol.Integration("repediu")
		require.True(t, ok)
		assert.Equal(t, policy.Trusted, in.Level)
		assert.Equal(t, policy.Strict, pol.Default().Level)
	})
	t.Run("the file the README names", func(t *testing.T) {
		pol, source, err := loadPolicies(filepath.Join("loyalty", "policies.json"))
		require.NoError(t, err)
		assert.Equal(t, filepath.Join("loyalty", "policies.json"), source)
		for id, want := range map[string]policy.TrustLevel{"repediu": policy.Trusted, "goomer": policy.Relaxed, "saipos": policy.Relaxed} {
			in, ok := pol.Integration(id)
			require.True(t, ok, "got no policy for %s", id)
			assert.Equal(t, want, in.Level, "got level %v for %s, want %v", in.Level, id, want)
		}
		_, ok := pol.Integration("balcao")
		assert.False(t, ok, "balcao must have no entry, so that it is strict by default")
	})
	t.Run("missing file is an error", func(t *testing.T) {
		_, _, err := loadPolicies(filepath.Join(t.TempDir(), "policies.json"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("custom file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "p.json")
		require.NoError(t, os.WriteFile(file, []byte(`{"default": "trusted"}`), 0o600))
		pol, source, err := loadPolicies(file)
		require.NoError(t, err)
		assert.Equal(t, file, source)
		assert.Equal(t, policy.Trusted, pol.Default().Level)
	})
}

func TestReadPeppers(t *testing.T) {
	k1, k2 := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	file := filepath.Join(t.TempDir(), "pepper")
	require.NoError(t, os.WriteFile(file, []byte(k2+"\n"), 0o600))
	tests := []struct {
		name, file, env string
		want            int
		wantErr         bool
	}{
		{"none", "", "", 0, false},
		{"env", "", k1, 1, false},
		{"env rotation", "", k1 + "," + k2, 2, false},
		{"file wins", file, "zz", 1, false},
		{"not hex", "", "xyz", 0, true},
		{"missing file", file + ".nope", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPeppers(tt.file, tt.env)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, got, tt.want, "got %d keys, want %d", len(got), tt.want)
		})
	}
}

func TestRunFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-h"}, noEnv, &stdout, &stderr))
	for _, f := range []string{"-addr", "-policies", "-code-ttl", "-session-ttl", "-max-attempts", "-resend-cooldown",
		"-send-limit", "-send-window", "-lock-after", "-lock-window", "-lock-for", "-rate", "-burst", "-problem-base", "-log", "-pepper-file",
		"-store", "-redis-addr", "-redis-url", "-redis-master", "-redis-prefix", "-redis-timeout", "-redis-min-replicas", "-admin-addr", "-region", "-allowed-countries", "-unknown-recipients",
		"-customer-fail-limit", "-customer-fail-window", "-customer-lock-for", "-integration-fail-limit", "-integration-fail-window",
		"-customer-send-limit", "-customer-send-window", "-integration-send-limit", "-integration-send-window",
		"-whatsapp-phone-number-id", "-whatsapp-base-url", "-whatsapp-template",
		"-smtp-host", "-smtp-port", "-smtp-user", "-smtp-from", "-smtp-tls"} {
		assert.Regexp(t, `(?m)^  `+f+`( |$)`, stderr.String(), "-h does not list %s", f)
	}
	for _, secret := range []string{"-whatsapp-token", "-smtp-password"} {
		assert.NotRegexp(t, `(?m)^  `+secret+`( |$)`, stderr.String(), "secrets are read from the environment only, but -h lists %s", secret)
	}
	for _, def := range []string{`(default "127.0.0.1:8080")`, `(default "BR")`, `(default "memory")`, `(default "127.0.0.1:6379")`, `(default "otpguard:")`, `(default 500ms)`} {
		assert.Contains(t, stderr.String(), def)
	}
	assert.Empty(t, stdout.String(), "stdout is for deliveries only")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad limit", []string{"-max-attempts", "0"}, nil, "limits"},
		{"unknown flag", []string{"-no-such-flag"}, nil, "no-such-flag"},
		{"stray argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"unknown store", []string{"-store", "etcd"}, nil, `-store "etcd"`},
		{"redis unreachable", []string{"-store", "redis", "-redis-addr", "127.0.0.1:1"}, nil, "redis at 127.0.0.1:1 is unreachable"},
		{"zero redis timeout", []string{"-store", "redis", "-redis-timeout", "0s"}, nil, "-redis-timeout"},
		{"missing policy file", []string{"-policies", "/nonexistent/policies.json"}, nil, "policies"},
		{"bad pepper", nil, map[string]string{"OTPGUARD_PEPPER": "not-hex"}, "pepper 1 is not hex"},
		{"half a WhatsApp set-up", nil, map[string]string{envWhatsAppToken: "wa-secret-token-123"}, envWhatsAppPhoneID},
		{"listen", []string{"-addr", "256.0.0.1:80"}, nil, "listen"},
		{"admin without a token", []string{"-admin-addr", "127.0.0.1:0"}, nil, "OTPGUARD_ADMIN_TOKEN"},
		{"admin with a short token", []string{"-admin-addr", "127.0.0.1:0"}, map[string]string{"OTPGUARD_ADMIN_TOKEN": "short"}, "shorter than 32"},
		{"admin off loopback", []string{"-admin-addr", "0.0.0.0:9090"}, map[string]string{"OTPGUARD_ADMIN_TOKEN": strings.Repeat("a", 40)}, "loopback only"},
		{"bad unknown-recipients", []string{"-unknown-recipients", "maybe"}, nil, "-unknown-recipients"},
		{"bad allowed country", []string{"-allowed-countries", "BR,XX"}, nil, "XX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tt.args, envOf(tt.env), &stdout, &stderr)
			require.Error(t, err, "got no error, want one containing %q", tt.wantErr)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "wa-secret-token-123")
		})
	}
}

// startRun runs the command with args until the test ends, and returns its
// base URL and its stdout.
func startRun(t *testing.T, args []string, env map[string]string) (string, *testio.Buffer) {
	t.Helper()
	base, stdout, _ := startRunOutput(t, args, env)
	return base, stdout
}

// startRunOutput is startRun that also returns the command's stderr.
func startRunOutput(t *testing.T, args []string, env map[string]string) (string, *testio.Buffer, *testio.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &testio.Buffer{}, &testio.Buffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), envOf(env), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			assert.NoError(t, err, "run returned an error on shutdown")
		case <-time.After(15 * time.Second):
			t.Error("run did not return after its context was cancelled")
		}
	})

	// The banner names the address once the server listens.
	re := regexp.MustCompile(`loyalty API on (127\.0\.0\.1:\d+) `)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			require.FailNow(t, "run returned before serving", "error %v; stderr %s", err, stderr.String())
		default:
		}
		if m := re.FindStringSubmatch(stderr.String()); m != nil && strings.Contains(stderr.String(), "email: ") {
			return "http://" + m[1], stdout, stderr
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.FailNow(t, "the server did not start", "stderr %s", stderr.String())
	return "", nil, nil
}

func post(t *testing.T, url, apiKey, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// loginThrough runs request-otp and verify-otp for Maria on base with the
// Goomer key, reading the code from stdout, and returns the session.
func loginThrough(t *testing.T, base string, stdout *testio.Buffer) string {
	t.Helper()
	goomer := loyalty.Partners[1].Key
	status, body := post(t, base+"/api/v2/auth/request-otp/", goomer, `{"identifier": "`+loyalty.MariaPhone+`"}`)
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	var line struct{ To, Code string }
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(stdout.String())), &line), "stdout %q", stdout.String())
	require.Equal(t, loyalty.MariaPhone, line.To)
	status, body = post(t, base+"/api/v2/auth/verify-otp/", goomer, `{"identifier": "`+loyalty.MariaPhone+`", "otp_code": "`+line.Code+`"}`)
	require.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
	var v struct {
		Data struct {
			Session string `json:"otp_session"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.NotEmpty(t, v.Data.Session)
	return v.Data.Session
}

func TestRunServes(t *testing.T) {
	base, stdout := startRun(t, nil, nil)
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(b))
	loginThrough(t, base, stdout)
}

// TestRunRedis starts the command on the test Redis with a fresh prefix and
// checks that its codes and sessions land there.
func TestRunRedis(t *testing.T) {
	client := redistest.Client(t)
	addr := redistest.Addr()
	prefix := redistest.Prefix(t, client)

	base, stdout := startRun(t, []string{"-store", "redis", "-redis-addr", addr, "-redis-prefix", prefix, "-redis-timeout", "300ms"},
		map[string]string{"OTPGUARD_PEPPER": strings.Repeat("5a", 32)})
	session := loginThrough(t, base, stdout)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(keys, "\n"), prefix+"session:", "got keys %v, want a session under the prefix", keys)
	for _, k := range keys {
		assert.NotContains(t, k, session, "a key holds the session token")
	}
}

func TestOpenStore(t *testing.T) {
	opened, err := openStore(context.Background(), storeFlags{kind: "memory"}, noEnv)
	require.NoError(t, err)
	assert.Nil(t, opened.store, "memory is left to loyalty.New")
	assert.Nil(t, opened.client)
	assert.Contains(t, opened.info, "memory")
	opened.close()

	_, err = openStore(context.Background(), storeFlags{kind: "redis", addr: "127.0.0.1:1", prefix: "x:", timeout: 100 * time.Millisecond}, noEnv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redis at 127.0.0.1:1 is unreachable")

	_, err = openStore(context.Background(), storeFlags{kind: "redis", addr: "127.0.0.1:1", prefix: "bad{prefix", timeout: time.Second}, noEnv)
	require.Error(t, err, "got no error for a prefix with a brace")
	assert.Contains(t, err.Error(), "redis store")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = openStore(ctx, storeFlags{kind: "redis", addr: "127.0.0.1:1", prefix: "x:", timeout: time.Second}, noEnv)
	assert.ErrorIs(t, err, context.Canceled, "a start-up cancelled while pinging")
}
