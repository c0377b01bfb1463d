package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkReport fails t unless rep has the three scenarios, each of whose
// kinds of request completed at least once, with no error.
func checkReport(t *testing.T, rep *report) {
	t.Helper()
	require.Len(t, rep.Scenarios, 3, "got %d scenarios, want 3", len(rep.Scenarios))
	wantSteps := [][]string{
		{"list rewards"},
		{"validate coupon"},
		{"request-otp", "verify-otp", "award points", "redeem", flowStep},
	}
	for i, sc := range rep.Scenarios {
		var names []string
		for _, st := range sc.Steps {
			names = append(names, st.Name)
			assert.Positive(t, st.Requests-st.Errors, "%s / %s: got %d completed requests, want some", sc.Name, st.Name, st.Requests-st.Errors)
			assert.Zero(t, st.Errors, "%s / %s: got %d errors (%v), want none", sc.Name, st.Name, st.Errors, st.Failures)
			assert.Len(t, st.Latencies, st.Requests-st.Errors, "%s / %s: got %d latencies, want one per completed request", sc.Name, st.Name, len(st.Latencies))
			assert.LessOrEqual(t, st.percentile(50), st.percentile(99), "%s / %s: got p50 %v above p99 %v", sc.Name, st.Name, st.percentile(50), st.percentile(99))
		}
		assert.Equal(t, wantSteps[i], names, "scenario %d: got steps %v, want %v", i, names, wantSteps[i])
	}
	// Every flow is four requests.
	flow := rep.Scenarios[2].Steps
	for _, st := range flow[:4] {
		assert.Equal(t, flow[4].Requests, st.Requests, "flow step %s: got %d requests, want one per flow (%d)", st.Name, st.Requests, flow[4].Requests)
	}
	assert.Zero(t, rep.Errors(), "got %d failed requests, want none", rep.Errors())
	assert.Zero(t, rep.DroppedLines, "got %d delivery lines nobody waited for, want none", rep.DroppedLines)

	var out bytes.Buffer
	require.NoError(t, rep.print(&out, "go-test"))
	for _, sc := range rep.Scenarios {
		assert.Contains(t, out.String(), sc.Name+"\n", "the table names every scenario")
	}
	assert.NotContains(t, out.String(), "error:", "the table lists no failures")
}

func TestLoadMemory(t *testing.T) {
	rep, err := runLoad(context.Background(), config{duration: time.Second, concurrency: 4, storeName: "memory"})
	require.NoError(t, err)
	checkReport(t, rep)
}

func TestLoadRedis(t *testing.T) {
	addr := defaultRedisAddr()
	st, cleanup, err := openRedis(context.Background(), addr)
	if err != nil {
		msg := fmt.Sprintf("Redis at %s is unreachable (set OTPGUARD_REDIS_ADDR to use another): %v", addr, err)
		if os.Getenv("OTPGUARD_REDIS_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(cleanup)
	rep, err := runLoad(context.Background(), config{duration: time.Second, concurrency: 4, store: st, storeName: "redis"})
	require.NoError(t, err)
	checkReport(t, rep)
}

func TestRunArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
		is   error
	}{
		{"unknown store", []string{"-store", "disk"}, `-store "disk": want memory or redis`, nil},
		{"no clients", []string{"-concurrency", "0"}, "at least one client", nil},
		{"no time", []string{"-duration", "0s"}, "positive duration", nil},
		{"extra argument", []string{"now"}, "unexpected arguments", nil},
		{"unknown flag", []string{"-rate", "5"}, "flag provided but not defined", nil},
		{"help", []string{"-h"}, "", flag.ErrHelp},
		{"redis unreachable", []string{"-store", "redis", "-redis-addr", "127.0.0.1:1"}, "redis at 127.0.0.1:1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			require.Error(t, err, "got no error, want one")
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is, "got %v, want %v", err, tt.is)
			} else {
				assert.Contains(t, err.Error(), tt.want, "got %q, want it to contain %q", err, tt.want)
			}
			assert.Empty(t, stdout.String(), "got output %q, want none", stdout.String())
		})
	}
}

func TestCodeBox(t *testing.T) {
	const maria = "+5511987654321"
	line := `{"channel":"whatsapp","to":"+5511987654321","code":"493021","expires_at":"2025-03-01T12:05:00Z"}` + "\n"
	other := `{"channel":"whatsapp","to":"+5521998765432","code":"111111","expires_at":"2025-03-01T12:05:00Z"}` + "\n"
	tests := []struct {
		name        string
		writes      []string
		wantCode    string // "" for none
		wantDropped int
	}{
		{"one line", []string{line}, "493021", 0},
		{"split line", []string{line[:10], line[10:40], line[40:]}, "493021", 0},
		{"after another recipient's line", []string{other + line}, "493021", 1},
		{"unterminated", []string{strings.TrimSuffix(line, "\n")}, "", 0},
		{"not JSON", []string{"sent!\n"}, "", 1},
		{"no code", []string{`{"to":"+5511987654321"}` + "\n"}, "", 1},
		{"overlong partial line", []string{strings.Repeat("x", maxPendingLine+1), line}, "493021", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := newCodeBox()
			code, done := box.expect(maria)
			defer done()
			for _, w := range tt.writes {
				n, err := box.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n, "got %d bytes written, want %d", n, len(w))
			}
			var got string
			select {
			case got = <-code:
			default:
			}
			assert.Equal(t, tt.wantCode, got, "got code %q, want %q", got, tt.wantCode)
			assert.Equal(t, tt.wantDropped, box.droppedLines(), "got %d dropped lines, want %d", box.droppedLines(), tt.wantDropped)
		})
	}
}

func TestCodeBoxDoneForgetsWaiter(t *testing.T) {
	box := newCodeBox()
	_, done := box.expect("+5511987654321")
	done()
	_, err := box.Write([]byte(`{"to":"+5511987654321","code":"493021"}` + "\n"))
	require.NoError(t, err)
	assert.Equal(t, 1, box.droppedLines(), "got %d dropped lines, want 1: nobody waits after done", box.droppedLines())
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		lat  []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of hundred", ms(seq(100)...), 99, 99 * time.Millisecond},
		{"p100", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &step{Latencies: tt.lat}
			got := s.percentile(tt.p)
			assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

// seq returns 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&httpError{status: 403, body: "{}"}, "status 403"},
		{fmt.Errorf("wrapped: %w", &httpError{status: 503}), "status 503"},
		{fmt.Errorf("loadtest: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("loadtest: +5531900000001: %w", errNoCode), "no code delivered"},
		{errors.New("connection refused"), "transport: connection refused"},
	}
	for _, tt := range tests {
		got := kind(tt.err)
		assert.Equal(t, tt.want, got, "kind(%v): got %q, want %q", tt.err, got, tt.want)
	}
}
