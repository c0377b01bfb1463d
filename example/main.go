// Command example serves the loyalty API of package
// github.com/otpguard/otpguard/example/loyalty, the API of the Zupy
// documentation guarded by otpguard: partners call it with their API key,
// and for each action the partner's OTP policy decides whether the request
// must also carry a customer's X-OTP-Session.
//
//	go run ./example              # listens on 127.0.0.1:8080, everything in memory
//	go run ./example -h           # lists every flag with its default
//
// Standard error shows the partners with their trust level and test API key,
// their policy matrix, the store and the senders (and, with -log, the audit
// log). GET /healthz answers {"status":"ok"} without an API key while the
// process serves (liveness only: it does not check Redis).
//
// # Policies
//
// -policies names a policy file; without it the example uses its own
// example/loyalty/policies.json, compiled in.
//
// # Store
//
// By default codes, sessions and counters are kept in memory and lost when
// the server stops. With -store redis they are kept on Redis, so that
// several instances behind a load balancer share them:
//
//	OTPGUARD_PEPPER=$(openssl rand -hex 32) go run ./example -store redis -redis-addr 127.0.0.1:6379
//
// -redis-addr names one Redis; a comma list names the seed nodes of a
// Redis Cluster, and with -redis-master NAME the Sentinels that monitor the
// master NAME, which the server then follows across failovers. -redis-url
// takes a URL instead (rediss:// for TLS, addr= parameters for a Cluster's
// other nodes). The password comes from the URL or, better, from
// REDIS_PASSWORD, which does not show in the process list.
// -redis-prefix (default "otpguard:") prefixes every key and -redis-timeout
// (default 500ms) bounds every Redis call. -redis-min-replicas N (default 0)
// has every write that enforces a limit or a single use acknowledged by N
// replicas within that bound, or the request fails closed with 503. The
// server pings Redis at start and refuses to start when it cannot reach it,
// or when Redis may evict keys (a maxmemory-policy other than noeviction);
// when it cannot read the policy it warns and starts. When Redis goes down
// later, requests that need OTP fail closed with 503 within the timeout,
// requests that need none are still served, and the server recovers on its
// own when Redis returns. Instances sharing Redis must share the
// code-signing key: set the same OTPGUARD_PEPPER (or -pepper-file) on every
// one, or a code sent by one instance cannot be verified by another.
//
// # Senders
//
// Each channel uses a real sender when it is configured, and otherwise the
// development sender, which writes each delivery as one JSON line on
// standard output:
//
//	{"channel":"whatsapp","to":"+5511987654321","code":"493021","expires_at":"2025-03-01T12:05:00Z"}
//
// so a person, or a script reading stdout, can find the code. WhatsApp (Cloud
// API) is configured by WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID, with
// WHATSAPP_BASE_URL and WHATSAPP_TEMPLATE optional; email (SMTP) by
// SMTP_HOST and SMTP_FROM, with SMTP_PORT, SMTP_USER, SMTP_PASSWORD and
// SMTP_TLS (mandatory, opportunistic, none or implicit) optional. Every one
// but the two secrets has a flag (-whatsapp-phone-number-id, -smtp-host,
// ...) that overrides its variable. WHATSAPP_TOKEN and SMTP_PASSWORD are read
// only from the environment, never from flags, so that they do not show in
// the process list.
//
// # Observability
//
// With -admin-addr, the admin listener also serves otpguard's metrics (see
// package github.com/otpguard/otpguard/telemetry) in the Prometheus text
// format, to the holder of the admin token like every path there:
//
//	OTPGUARD_ADMIN_TOKEN=$(openssl rand -hex 32) go run ./example -admin-addr 127.0.0.1:9090
//	curl -H "Authorization: Bearer $OTPGUARD_ADMIN_TOKEN" http://127.0.0.1:9090/metrics
//
// With -otlp-endpoint URL, traces and metrics are exported over OTLP/HTTP to
// the collector at URL (http://127.0.0.1:4318: traces to /v1/traces, metrics
// to /v1/metrics every minute or OTEL_METRIC_EXPORT_INTERVAL milliseconds),
// and what is left is flushed when the server stops. Every partner request
// then gets a server span, continuing the caller's trace from its W3C
// traceparent header, and otpguard's spans are its children. The
// exporters' other settings, such as OTEL_EXPORTER_OTLP_HEADERS for a
// collector's token, come from the environment. Without either flag
// otpguard is given no provider and reports nothing.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run parses the flags (and reads the environment with getenv), builds the
// server and serves until ctx is done (SIGINT or SIGTERM in main), then
// shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	d := otpcode.DefaultLimits()
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", "127.0.0.1:8080", "listen address; loopback only by default, since the development sender prints live codes (use :8080 to listen on every interface)")
		adminAddr   = fs.String("admin-addr", "", "serve the operators' API (status, unlock, revoke-sessions) and GET /metrics (Prometheus) on this loopback address, e.g. 127.0.0.1:9090; its bearer token comes only from OTPGUARD_ADMIN_TOKEN (32+ characters). Off by default")
		otlpURL     = fs.String("otlp-endpoint", "", "export traces and metrics over OTLP/HTTP to the collector at this base URL, e.g. http://127.0.0.1:4318 (to /v1/traces and /v1/metrics); headers such as a collector token come from OTEL_EXPORTER_OTLP_HEADERS. Off by default")
		region      = fs.String("region", "BR", "default region of phone numbers typed without a country code (ISO 3166-1 alpha-2)")
		policyFile  = fs.String("policies", "", "policy file; default the built-in example/loyalty/policies.json")
		problemBase = fs.String("problem-base", "https://api.zupy.com/errors/", "base URI of problem types")
		pepperFile  = fs.String("pepper-file", "", "file holding the code-signing key(s) in hex, comma-separated, first signs (or set OTPGUARD_PEPPER); default a random key. Instances sharing Redis must share it")
		auditLog    = fs.Bool("log", false, "write the audit log (JSON) to stderr")
		codeTTL     = fs.Duration("code-ttl", d.CodeTTL, "code lifetime")
		sessionTTL  = fs.Duration("session-ttl", d.SessionTTL, "OTP session lifetime")
		maxAttempts = fs.Int("max-attempts", d.MaxAttempts, "wrong guesses per code before it is burned")
		cooldown    = fs.Duration("resend-cooldown", d.ResendCooldown, "minimum time between two codes for one (partner, customer) pair")
		sendLimit   = fs.Int("send-limit", d.SendLimit, "codes per (partner, customer) pair per send window")
		sendWindow  = fs.Duration("send-window", d.SendWindow, "send window of a (partner, customer) pair")
		lockAfter   = fs.Int("lock-after", d.LockAfter, "wrong guesses per (partner, customer) per lock window before that pair — only that pair — is locked")
		lockWindow  = fs.Duration("lock-window", d.LockWindow, "lock window of a (partner, customer) pair")
		lockFor     = fs.Duration("lock-for", d.LockFor, "how long a locked pair stays locked, at least (the lock also lasts until the lock window ends)")
		custFails   = fs.Int("customer-fail-limit", d.CustomerFailLimit, "consecutive wrong guesses for one customer, from every partner, that lock the customer for every partner (NIST SP 800-63B caps it at 100)")
		custFailWin = fs.Duration("customer-fail-window", d.CustomerFailWindow, "a customer's run of wrong guesses is forgotten after this long without one")
		custLockFor = fs.Duration("customer-lock-for", d.CustomerLockFor, "how long a customer locked for every partner stays locked (or until an operator unlocks)")
		intFails    = fs.Int("integration-fail-limit", d.IntegrationFailLimit, "wrong guesses per partner, across customers, per window; past it that partner's request-otp and verify-otp answer 429 until the window ends")
		intFailWin  = fs.Duration("integration-fail-window", d.IntegrationFailWindow, "window of -integration-fail-limit")
		custSends   = fs.Int("customer-send-limit", d.CustomerSendLimit, "codes per customer, from every partner, per customer send window")
		custSendWin = fs.Duration("customer-send-window", d.CustomerSendWindow, "window of -customer-send-limit")
		intSends    = fs.Int("integration-send-limit", d.IntegrationSendLimit, "codes per partner, to every customer, per integration send window")
		intSendWin  = fs.Duration("integration-send-window", d.IntegrationSendWindow, "window of -integration-send-limit")
		countries   = fs.String("allowed-countries", "BR,IN", "comma list of ISO 3166-1 regions whose phone numbers may receive codes; empty allows every country (premium-rate, satellite and similar numbers are refused either way)")
		unknownRcpt = fs.String("unknown-recipients", otpcode.UnknownAllow.String(), "what request-otp does with a phone or email the directory does not know: allow, enroll (only with \"purpose\": \"enroll_customer\") or deny (404)")
		perSecond   = fs.Float64("rate", float64(d.IntegrationRate), "request-otp and verify-otp calls per second per integration")
		burst       = fs.Int("burst", d.IntegrationBurst, "burst of calls per integration")
	)
	var sf storeFlags
	sf.register(fs)
	var snd senderFlags
	snd.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	pol, source, err := loadPolicies(*policyFile)
	if err != nil {
		return err
	}
	peppers, err := readPeppers(*pepperFile, getenv("OTPGUARD_PEPPER"))
	if err != nil {
		return err
	}
	senders, delivery, err := buildSenders(snd, getenv)
	if err != nil {
		return err
	}
	limits := otpcode.Limits{
		CodeLength:            d.CodeLength,
		CodeTTL:               *codeTTL,
		SessionTTL:            *sessionTTL,
		MaxAttempts:           *maxAttempts,
		LockAfter:             *lockAfter,
		LockWindow:            *lockWindow,
		LockFor:               *lockFor,
		CustomerFailLimit:     *custFails,
		CustomerFailWindow:    *custFailWin,
		CustomerLockFor:       *custLockFor,
		IntegrationFailLimit:  *intFails,
		IntegrationFailWindow: *intFailWin,
		ResendCooldown:        *cooldown,
		SendLimit:             *sendLimit,
		SendWindow:            *sendWindow,
		CustomerSendLimit:     *custSends,
		CustomerSendWindow:    *custSendWin,
		IntegrationSendLimit:  *intSends,
		IntegrationSendWindow: *intSendWin,
		IntegrationRate:       rate.Limit(*perSecond),
		IntegrationBurst:      *burst,
	}
	if err := limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	unknown, err := otpcode.ParseUnknownRecipients(*unknownRcpt)
	if err != nil {
		return fmt.Errorf("-unknown-recipients: %w", err)
	}
	var allowed []string
	for _, c := range strings.Split(*countries, ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
			allowed = append(allowed, c)
		}
	}

	if *adminAddr != "" {
		if err := checkAdmin(*adminAddr, getenv("OTPGUARD_ADMIN_TOKEN")); err != nil {
			return err
		}
	}
	// Metrics for GET /metrics on the admin listener, traces and metrics
	// for an OTLP collector; neither, and otpguard reports nothing.
	obs, err := newObservability(ctx, *adminAddr != "", *otlpURL)
	if err != nil {
		return err
	}
	defer func() {
		// After the servers stopped: flush the last spans and metrics.
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := obs.shutdown(flushCtx); err != nil {
			fmt.Fprintf(stderr, "warning: telemetry flush: %v\n", err)
		}
	}()

	opened, err := openStore(ctx, sf, getenv)
	if err != nil {
		return err
	}
	defer opened.close()

	cfg := loyalty.Config{
		Policies:          pol,
		Region:            *region,
		AllowedCountries:  allowed,
		UnknownRecipients: unknown,
		ProblemBase:       *problemBase,
		Limits:            limits,
		Peppers:           peppers,
		Store:             opened.store,
		Redis:             opened.client, // with -store redis, the loyalty data is shared there too
		RedisPrefix:       sf.prefix,
		Senders:           senders,
	}
	if *auditLog {
		cfg.Audit = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	if *adminAddr != "" {
		cfg.AdminToken = getenv("OTPGUARD_ADMIN_TOKEN")
	}
	if obs.meters != nil {
		cfg.MeterProvider = obs.meters
	}
	if obs.tracers != nil {
		cfg.TracerProvider = obs.tracers
	}
	handler, err := loyalty.New(cfg, stdout)
	if err != nil {
		return err
	}
	defer handler.Close()

	var partners http.Handler = handler
	if obs.tracers != nil {
		// A server span per request, parent of otpguard's spans.
		partners = traceRequests(handler, obs.tracers)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           partners,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	loyalty.PrintBanner(stderr, ln.Addr().String(), source, pol)
	fmt.Fprintf(stderr, "store: %s\n", opened.info)
	for _, w := range opened.warnings {
		fmt.Fprintln(stderr, w)
	}
	for _, line := range delivery {
		fmt.Fprintf(stderr, "%s\n", line)
	}
	if peppers == nil && sf.kind == "redis" {
		fmt.Fprintln(stderr, "warning: no OTPGUARD_PEPPER or -pepper-file: other instances on this Redis cannot verify this one's codes")
	}
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if *adminAddr != "" {
		aln, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		asrv := &http.Server{Handler: adminHandler(handler.Admin(), obs.metrics, cfg.AdminToken),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second}
		servers, listeners = append(servers, asrv), append(listeners, aln)
		fmt.Fprintf(stderr, "admin API on http://%s/admin/v1/customers/{customer_id}/otp (bearer token from OTPGUARD_ADMIN_TOKEN)\n", aln.Addr())
		fmt.Fprintf(stderr, "metrics on http://%s/metrics (Prometheus text format, same bearer token)\n", aln.Addr())
	}
	if *otlpURL != "" {
		fmt.Fprintf(stderr, "telemetry: traces and metrics over OTLP/HTTP to %s\n", *otlpURL)
	}
	fmt.Fprintln(stderr)

	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	select {
	case err := <-errc:
		shutdown(servers)
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "shutting down")
	return shutdown(servers)
}

// shutdown stops the servers gracefully, within 10 seconds in all.
func shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// checkAdmin refuses an admin listener that partners could reach, and a
// missing or short token.
func checkAdmin(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-admin-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-admin-addr %q: the admin API listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	switch {
	case token == "":
		return errors.New("-admin-addr needs OTPGUARD_ADMIN_TOKEN (at least 32 characters; it is read only from the environment)")
	case len(token) < otphttp.MinAdminTokenLen:
		return fmt.Errorf("OTPGUARD_ADMIN_TOKEN is shorter than %d characters", otphttp.MinAdminTokenLen)
	}
	return nil
}

// loadPolicies reads the policy file at path, or returns the example's
// built-in policies when path is "".
func loadPolicies(path string) (*policy.Static, string, error) {
	if path == "" {
		s, err := loyalty.DefaultPolicies()
		return s, "built-in example/loyalty/policies.json", err
	}
	s, err := policy.LoadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("policies: %w", err)
	}
	return s, path, nil
}

// readPeppers returns the keys in the file, or else in env: hex, several
// separated by commas, the first signing new codes. Neither means none, and
// loyalty.New picks a random key.
func readPeppers(file, env string) ([][]byte, error) {
	text := env
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("pepper file: %w", err)
		}
		text = string(b)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, part := range strings.Split(text, ",") {
		k, err := hex.DecodeString(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("pepper %d is not hex", i+1)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
