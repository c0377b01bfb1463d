package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
)

// Bounds of every request loop: a client stops at the deadline or after
// maxRequestsPerClient iterations, whichever comes first, and no request
// waits longer than requestTimeout (nor a code longer than codeTimeout).
const (
	maxRequestsPerClient = 10_000_000
	requestTimeout       = 10 * time.Second
	codeTimeout          = 10 * time.Second
)

// The partner every scenario calls as, Balcão Local: strict, so redemption
// and coupon validation require OTP.
const (
	partnerID  = "balcao"
	partnerKey = "zupy_pk_test_balcao_6a1d8c3f9e"
)

// mariaCoupon is Maria's coupon in the example data; validating it is
// idempotent.
const mariaCoupon = "MARIA10"

// flowReward is the reward the flow redeems, and flowPoints what it costs.
const (
	flowReward = "rwd_free_coffee"
	flowPoints = 100
)

// config is one load test.
type config struct {
	// duration is how long each scenario runs.
	duration time.Duration
	// concurrency is the number of clients of each scenario.
	concurrency int
	// store keeps the server's codes and sessions; it stays the caller's.
	// nil means the server's own memory store.
	store store.Store
	// storeName names the store in the report.
	storeName string
}

// step is the latencies and failures of one kind of request (or of the
// whole flow).
type step struct {
	Name      string
	Requests  int
	Errors    int
	Latencies []time.Duration
	// Failures counts the errors by kind ("status 403", "transport ...").
	Failures map[string]int
}

func (s *step) ok(d time.Duration) {
	s.Requests++
	s.Latencies = append(s.Latencies, d)
}

func (s *step) fail(kind string) {
	s.Requests++
	s.Errors++
	if s.Failures == nil {
		s.Failures = map[string]int{}
	}
	s.Failures[kind]++
}

// merge adds o's counts to s.
func (s *step) merge(o *step) {
	s.Requests += o.Requests
	s.Errors += o.Errors
	s.Latencies = append(s.Latencies, o.Latencies...)
	for k, v := range o.Failures {
		if s.Failures == nil {
			s.Failures = map[string]int{}
		}
		s.Failures[k] += v
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of the successful
// requests' latencies by the nearest-rank method; s.Latencies must be
// sorted.
func (s *step) percentile(p float64) time.Duration {
	n := len(s.Latencies)
	if n == 0 {
		return 0
	}
	i := int(float64(n)*p/100+0.999999) - 1
	return s.Latencies[min(max(i, 0), n-1)]
}

// scenario is one row group of the report.
type scenario struct {
	Name    string
	Elapsed time.Duration
	// Steps are the scenario's kinds of request; a flow has one step per
	// request and a last one, "flow", for the whole flow.
	Steps []*step
}

// report is the result of a load test.
type report struct {
	Addr        string
	Store       string
	Concurrency int
	Duration    time.Duration
	Scenarios   []*scenario
	// DroppedLines counts delivery lines nobody waited for.
	DroppedLines int
}

// Errors returns the number of failed requests over all scenarios. Every
// failed flow has failed one of its requests (a code that never came fails
// verify-otp), so flows are not counted again.
func (r *report) Errors() int {
	n := 0
	for _, sc := range r.Scenarios {
		for _, st := range sc.Steps {
			if st.Name != flowStep {
				n += st.Errors
			}
		}
	}
	return n
}

// flowStep names the step that times a whole flow.
const flowStep = "flow"

// client is one virtual user's view of the server.
type client struct {
	http  *http.Client
	base  string
	codes *codeBox
}

// httpError is a response outside 2xx.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// errNoCode is the failure of a flow whose code never reached the
// development sender's output within codeTimeout.
var errNoCode = errors.New("no code delivered")

// kind names err for the failure counts.
func kind(err error) string {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("status %d", he.status)
	case errors.Is(err, errNoCode):
		return errNoCode.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "transport: " + err.Error()
	}
}

// do sends one request and decodes a 2xx JSON answer into out (which may be
// nil). Any other status is an *httpError.
func (c *client) do(ctx context.Context, method, path, session string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("loadtest: encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("loadtest: new request: %w", err)
	}
	req.Header.Set("X-API-Key", partnerKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if session != "" {
		req.Header.Set("X-OTP-Session", session)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("loadtest: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &httpError{status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(out)
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return fmt.Errorf("loadtest: %s %s: read answer: %w", method, path, err)
	}
	return nil
}

// verified is the part of verify-otp's answer the load test uses.
type verified struct {
	Data struct {
		CustomerID string `json:"customer_id"`
		OTPSession string `json:"otp_session"`
	} `json:"data"`
}

// login runs request-otp and verify-otp for phone and returns the customer
// and the session. It records each request in requestStep and verifyStep
// when they are not nil.
func (c *client) login(ctx context.Context, phone string, requestStep, verifyStep *step) (customer, session string, err error) {
	code, done := c.codes.expect(phone)
	defer done()
	t0 := time.Now()
	err = c.do(ctx, http.MethodPost, "/api/v2/auth/request-otp/", "", map[string]string{"identifier": phone}, nil)
	record(requestStep, t0, err)
	if err != nil {
		return "", "", err
	}
	var otp string
	timer := time.NewTimer(codeTimeout)
	defer timer.Stop()
	select {
	case otp = <-code:
	case <-timer.C:
		err = fmt.Errorf("loadtest: %s: %w", phone, errNoCode)
	case <-ctx.Done():
		err = fmt.Errorf("loadtest: wait for a code: %w", ctx.Err())
	}
	if err != nil {
		// verify-otp cannot be sent: it counts as failed.
		record(verifyStep, time.Now(), err)
		return "", "", err
	}
	var v verified
	t0 = time.Now()
	err = c.do(ctx, http.MethodPost, "/api/v2/auth/verify-otp/", "", map[string]string{"identifier": phone, "otp_code": otp}, &v)
	record(verifyStep, t0, err)
	if err != nil {
		return "", "", err
	}
	if v.Data.CustomerID == "" || v.Data.OTPSession == "" {
		err = errors.New("loadtest: verify-otp answered no customer_id or otp_session")
		return "", "", err
	}
	return v.Data.CustomerID, v.Data.OTPSession, nil
}

// record counts one request that started at t0 in s (when s is not nil).
func record(s *step, t0 time.Time, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.fail(kind(err))
		return
	}
	s.ok(time.Since(t0))
}

// runLoad serves the loyalty API on a loopback port and runs the three
// scenarios against it, each for cfg.duration with cfg.concurrency clients:
// (a) an endpoint that needs no OTP, (b) a guarded endpoint with a valid
// session, (c) the whole flow of a new customer.
func runLoad(ctx context.Context, cfg config) (*report, error) {
	if cfg.duration <= 0 || cfg.concurrency < 1 {
		return nil, fmt.Errorf("loadtest: need a positive duration and at least one client, got %v and %d", cfg.duration, cfg.concurrency)
	}
	codes := newCodeBox()
	limits := otpcode.DefaultLimits()
	// The flow's customers are all new, one phone number each, so the
	// per-customer limits never meet; one partner drives the whole load, so
	// its bucket (10 codes a second) and its daily quota (1000 codes) are
	// lifted.
	limits.ResendCooldown = 0
	limits.SendLimit = 1 << 30
	limits.IntegrationSendLimit = 1 << 30
	limits.IntegrationRate = rate.Inf
	limits.IntegrationBurst = 1 << 20
	srv, err := loyalty.New(loyalty.Config{Limits: limits, Store: cfg.store}, codes)
	if err != nil {
		return nil, fmt.Errorf("loadtest: build server: %w", err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest: listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-served
	}()

	transport := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConns:        cfg.concurrency * 2,
		MaxIdleConnsPerHost: cfg.concurrency * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	c := &client{http: &http.Client{Transport: transport}, base: "http://" + ln.Addr().String(), codes: codes}

	rep := &report{Addr: ln.Addr().String(), Store: cfg.storeName, Concurrency: cfg.concurrency, Duration: cfg.duration}

	// (b) needs Maria's session, issued to the partner.
	_, mariaSession, err := c.login(ctx, loyalty.MariaPhone, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("loadtest: Maria's session: %w", err)
	}

	var phones atomic.Int64
	scenarios := []struct {
		name  string
		steps []string
		run   func(ctx context.Context, steps []*step)
	}{
		{
			name:  "(a) GET /api/v2/rewards/ (no OTP needed)",
			steps: []string{"list rewards"},
			run: func(ctx context.Context, s []*step) {
				t0 := time.Now()
				err := c.do(ctx, http.MethodGet, "/api/v2/rewards/", "", nil, nil)
				record(s[0], t0, err)
			},
		},
		{
			name:  "(b) POST /api/v2/coupons/" + mariaCoupon + "/validate/ (valid session)",
			steps: []string{"validate coupon"},
			run: func(ctx context.Context, s []*step) {
				t0 := time.Now()
				err := c.do(ctx, http.MethodPost, "/api/v2/coupons/"+mariaCoupon+"/validate/", mariaSession, nil, nil)
				record(s[0], t0, err)
			},
		},
		{
			name:  "(c) new customer: request-otp, verify-otp, award points, redeem (guarded)",
			steps: []string{"request-otp", "verify-otp", "award points", "redeem", flowStep},
			run: func(ctx context.Context, s []*step) {
				// A new number for every flow: the per-identifier limits
				// never meet. +55 31 9xxxx-xxxx is a mobile number in Belo
				// Horizonte; none of the example's customers lives there.
				phone := fmt.Sprintf("+55319%08d", phones.Add(1)%100_000_000)
				t0 := time.Now()
				customer, session, err := c.login(ctx, phone, s[0], s[1])
				if err != nil {
					s[4].fail(kind(err))
					return
				}
				t := time.Now()
				err = c.do(ctx, http.MethodPost, "/api/v2/customers/"+customer+"/points/", "",
					map[string]any{"points": flowPoints, "description": "load test"}, nil)
				record(s[2], t, err)
				if err == nil {
					t = time.Now()
					err = c.do(ctx, http.MethodPost, "/api/v2/customers/"+customer+"/rewards/"+flowReward+"/redeem/", session,
						map[string]any{"use_z_tokens": false}, nil)
					record(s[3], t, err)
				}
				record(s[4], t0, err)
			},
		},
	}
	for _, sc := range scenarios {
		rep.Scenarios = append(rep.Scenarios, runScenario(ctx, cfg, sc.name, sc.steps, sc.run))
	}
	rep.DroppedLines = codes.droppedLines()
	return rep, nil
}

// runScenario runs iteration from cfg.concurrency clients until
// cfg.duration has passed (or ctx ends) and merges what they counted.
func runScenario(ctx context.Context, cfg config, name string, stepNames []string, iteration func(context.Context, []*step)) *scenario {
	perClient := make([][]*step, cfg.concurrency)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for i := range cfg.concurrency {
		steps := make([]*step, len(stepNames))
		for j, n := range stepNames {
			steps[j] = &step{Name: n}
		}
		perClient[i] = steps
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < maxRequestsPerClient && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				iteration(ctx, steps)
			}
		}()
	}
	wg.Wait()
	sc := &scenario{Name: name, Elapsed: time.Since(start)}
	for j, n := range stepNames {
		total := &step{Name: n}
		for _, steps := range perClient {
			total.merge(steps[j])
		}
		slices.Sort(total.Latencies)
		sc.Steps = append(sc.Steps, total)
	}
	return sc
}

// print writes the report as a table.
func (r *report) print(w io.Writer, goVersion string) error {
	fmt.Fprintf(w, "otpguard load test: example loyalty API on %s, store %s, partner %s (strict)\n", r.Addr, r.Store, partnerID)
	fmt.Fprintf(w, "%d clients, %v per scenario, GOMAXPROCS %d, %s; clients and server share the machine\n\n",
		r.Concurrency, r.Duration, runtime.GOMAXPROCS(0), goVersion)
	rows := [][]string{{"scenario / request", "requests", "errors", "req/s", "p50", "p99"}}
	for _, sc := range r.Scenarios {
		rows = append(rows, []string{sc.Name})
		for _, st := range sc.Steps {
			label, count := "  "+st.Name, fmt.Sprint(st.Requests)
			if st.Name == flowStep {
				label, count = "  whole flow (flows, flows/s)", fmt.Sprint(st.Requests)
			}
			perSec := float64(st.Requests-st.Errors) / sc.Elapsed.Seconds()
			rows = append(rows, []string{label, count, fmt.Sprint(st.Errors), fmt.Sprintf("%.0f", perSec),
				roundLatency(st.percentile(50)).String(), roundLatency(st.percentile(99)).String()})
		}
	}
	if err := printTable(w, rows); err != nil {
		return fmt.Errorf("loadtest: print: %w", err)
	}
	for _, sc := range r.Scenarios {
		for _, st := range sc.Steps {
			kinds := make([]string, 0, len(st.Failures))
			for k := range st.Failures {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				fmt.Fprintf(w, "error: %s / %s: %s × %d\n", sc.Name, st.Name, k, st.Failures[k])
			}
		}
	}
	if r.DroppedLines > 0 {
		fmt.Fprintf(w, "note: %d delivery lines carried no code anyone waited for\n", r.DroppedLines)
	}
	return nil
}

// printTable writes rows with the first column aligned left and the others
// right; a row of one cell is a heading over the whole width.
func printTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, row := range rows {
		if len(row) == 1 {
			continue
		}
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			pad := 0
			if len(row) > 1 {
				pad = widths[i] - utf8.RuneCountInString(cell)
			}
			switch {
			case i == 0:
				b.WriteString(cell)
				b.WriteString(strings.Repeat(" ", pad))
			default:
				b.WriteString("  ")
				b.WriteString(strings.Repeat(" ", pad))
				b.WriteString(cell)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// roundLatency rounds d for the table: three significant digits.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(100 * time.Nanosecond)
	}
}
