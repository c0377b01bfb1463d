// Command example serves a small loyalty API guarded by otpguard, the API of
// the Zupy documentation: partners call it with their API key, and for each
// action the partner's OTP policy decides whether the request must also
// carry a customer's X-OTP-Session.
//
//	go run ./example              # listens on :8080
//	go run ./example -h           # lists every flag with its default
//
// Standard error shows the partners with their trust level and test API key
// (and, with -log, the audit log). Standard output carries only the
// development sender's deliveries, one JSON line each:
//
//	{"channel":"whatsapp","to":"+5511987654321","code":"493021","expires_at":"2025-03-01T12:05:00Z"}
//
// so a person, or a script reading stdout, can find the code to verify.
// Everything is kept in memory and lost when the server stops.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/otpcode"
)

const defaultPolicies = "example/policies.json"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run parses the flags, builds the server and serves until SIGINT or
// SIGTERM, then shuts down gracefully.
func run(args []string, stdout, stderr io.Writer) error {
	d := otpcode.DefaultLimits()
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", ":8080", "listen address")
		policyFile  = fs.String("policies", defaultPolicies, "policy file (falls back to the built-in copy when the default is missing)")
		problemBase = fs.String("problem-base", "https://api.zupy.com/errors/", "base URI of problem types")
		pepperFile  = fs.String("pepper-file", "", "file holding the code-signing key(s) in hex, comma-separated, first signs (or set OTPGUARD_PEPPER); default a random key")
		auditLog    = fs.Bool("log", false, "write the audit log (JSON) to stderr")
		codeTTL     = fs.Duration("code-ttl", d.CodeTTL, "code lifetime")
		sessionTTL  = fs.Duration("session-ttl", d.SessionTTL, "OTP session lifetime")
		maxAttempts = fs.Int("max-attempts", d.MaxAttempts, "wrong guesses per code before it is burned")
		cooldown    = fs.Duration("resend-cooldown", d.ResendCooldown, "minimum time between two codes for one identifier")
		sendLimit   = fs.Int("send-limit", d.SendLimit, "codes per identifier per send window")
		sendWindow  = fs.Duration("send-window", d.SendWindow, "send window")
		lockAfter   = fs.Int("lock-after", d.LockAfter, "wrong guesses per identifier per lock window before it is locked")
		lockWindow  = fs.Duration("lock-window", d.LockWindow, "lock window")
		lockFor     = fs.Duration("lock-for", d.LockFor, "how long a locked identifier stays locked")
		perSecond   = fs.Float64("rate", float64(d.IntegrationRate), "request-otp and verify-otp calls per second per integration")
		burst       = fs.Int("burst", d.IntegrationBurst, "burst of calls per integration")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	pol, source, err := loadPolicies(*policyFile, defaultPolicies)
	if err != nil {
		return err
	}
	peppers, err := readPeppers(*pepperFile, os.Getenv("OTPGUARD_PEPPER"))
	if err != nil {
		return err
	}
	cfg := config{
		policies:    pol,
		problemBase: *problemBase,
		peppers:     peppers,
		limits: otpcode.Limits{
			CodeLength:       d.CodeLength,
			CodeTTL:          *codeTTL,
			SessionTTL:       *sessionTTL,
			MaxAttempts:      *maxAttempts,
			LockAfter:        *lockAfter,
			LockWindow:       *lockWindow,
			LockFor:          *lockFor,
			ResendCooldown:   *cooldown,
			SendLimit:        *sendLimit,
			SendWindow:       *sendWindow,
			IntegrationRate:  rate.Limit(*perSecond),
			IntegrationBurst: *burst,
		},
	}
	if *auditLog {
		cfg.audit = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	handler, cleanup, err := newServer(cfg, stdout)
	if err != nil {
		return err
	}
	defer cleanup()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	printBanner(stderr, *addr, source, pol)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// readPeppers returns the keys in the file, or else in env: hex, several
// separated by commas, the first signing new codes. Neither means none, and
// newServer picks a random key.
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
