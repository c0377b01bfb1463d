package bench_test

import (
	"fmt"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The paired harness: the targets of otpguard's benchmarks are ratios, and
// on a shared VM whose speed drifts from minute to minute a ratio of two
// numbers taken minutes apart says more about the VM than about the code.
// So each comparison runs its two cases in one process, in short batches
// that alternate (subject, reference, reference, subject, ...) over many
// rounds; each round gives one ratio of the two batches' costs per
// operation, and the result is the median of the rounds' ratios with their
// range. Drift slower than a round (tens of milliseconds) cancels out.
//
// A batch's cost is its wall-clock time. The CPU time of the whole process
// over the batch (getrusage: every thread, the garbage collector's workers
// included) is reported beside it as a cross-check: other processes of a
// shared machine do not inflate it, but the kernel counts the other
// threads' time only at its ticks, so over one batch it is coarse.
//
//	go test -run x -bench Paired          # every comparison, about 2 minutes
//	go test -run x -bench 'Paired/guard'  # some of them
//
// Each sub-benchmark reports, besides the framework's meaningless ns/op of
// a cached result:
//
//	x            the median ratio, subject ÷ reference (time per operation)
//	x-min, x-max the range of the rounds' ratios
//	x-cpu        the median ratio of the process's CPU time per operation
//	ns/subject   the subject's median time per operation
//	ns/reference the reference's
//	allocs/subject, B/subject  the subject's allocations per operation
//
// and the run ends with a Markdown table of every comparison and its
// target, printed to standard output (see BENCHMARKS.md).

// Harness settings.
const (
	pairRounds = 31                    // odd: the median is a round's ratio
	pairBatch  = 40 * time.Millisecond // the time one batch aims at
	pairWarm   = 60 * time.Millisecond // warm-up of each case before timing
)

// A timedCase is something the harness times: run performs n operations
// and returns what they cost (a case may leave its own set-up out of it).
// ready, when set, is called before an allocation measurement of n
// operations, so that run then does no set-up of its own.
type timedCase struct {
	run   func(n int) cost
	ready func(n int)
}

// cost is what some operations took: wall-clock time, and the CPU time of
// the process.
type cost struct{ wall, cpu time.Duration }

func (c *cost) add(o cost) { c.wall += o.wall; c.cpu += o.cpu }

// meter measures a cost from its start.
type meter struct {
	wall time.Time
	cpu  time.Duration
}

func startMeter() meter { return meter{wall: time.Now(), cpu: processCPU()} }

func (m meter) stop() cost {
	cpu := processCPU()
	return cost{wall: time.Since(m.wall), cpu: cpu - m.cpu}
}

// processCPU returns the CPU time the process has used, user and system,
// all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// caseBuilders build the harness's cases by name.
var caseBuilders = map[string]func(tb testing.TB) timedCase{}

// cases caches built cases: a case is built once per process, however many
// comparisons use it.
var (
	casesMu sync.Mutex
	built   = map[string]timedCase{}
)

// getCase returns the case name, building it on first use.
func getCase(tb testing.TB, name string) timedCase {
	tb.Helper()
	casesMu.Lock()
	defer casesMu.Unlock()
	if c, ok := built[name]; ok {
		return c
	}
	b, ok := caseBuilders[name]
	if !ok {
		tb.Fatalf("no case %q", name)
	}
	c := b(tb)
	built[name] = c
	return c
}

// httpTimed serves reqs through h, cycling, into one recorder, and checks
// that every answer has status want.
func httpTimed(h http.Handler, reqs []*http.Request, want int) timedCase {
	w := newRecorder()
	next := 0
	return timedCase{run: func(n int) cost {
		bad := 0
		m := startMeter()
		for range n {
			w.reset()
			h.ServeHTTP(w, reqs[next])
			if w.status != want {
				bad++
			}
			if next++; next == len(reqs) {
				next = 0
			}
		}
		took := m.stop()
		if bad > 0 {
			panic(fmt.Sprintf("%d of %d answers were not %d", bad, n, want))
		}
		return took
	}}
}

// fromHTTPCase adapts a BenchmarkCompare case, whose answers are 200.
func fromHTTPCase(build func(testing.TB) (http.Handler, []*http.Request)) func(testing.TB) timedCase {
	return func(tb testing.TB) timedCase {
		h, reqs := build(tb)
		return httpTimed(h, reqs, http.StatusOK)
	}
}

// pairResult is what one comparison measured.
type pairResult struct {
	ratio, min, max   float64 // subject ÷ reference, wall-clock time per operation
	cpuRatio          float64 // the median of the process-CPU ratios
	subjectNs, refNs  float64 // medians, wall-clock time per operation
	subjAllocs, subjB float64 // per operation
	refAllocs, refB   float64
	subjectN, refN    int       // operations per batch
	ratios            []float64 // each round's, sorted
}

// calibrate returns how many operations of c take about pairBatch, after
// warming c up.
func calibrate(c timedCase) int {
	n := 1
	var took time.Duration
	deadline := time.Now().Add(pairWarm)
	for time.Now().Before(deadline) || took < pairBatch/4 {
		took = c.run(n).wall
		if took < pairBatch/4 {
			n *= 2
		}
	}
	per := float64(took) / float64(n)
	return max(1, int(float64(pairBatch)/per))
}

// allocsOf measures c's allocations per operation over n operations.
func allocsOf(c timedCase, n int) (allocs, bytes float64) {
	if c.ready != nil {
		c.ready(n)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c.run(n)
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// median returns the median of xs (sorted in place).
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// comparePair runs the comparison of subject with reference.
func comparePair(subject, reference timedCase) pairResult {
	ns, nr := calibrate(subject), calibrate(reference)
	var r pairResult
	r.subjectN, r.refN = ns, nr
	ratios := make([]float64, 0, pairRounds)
	var sNs, rNs, cpu []float64
	for round := range pairRounds {
		var ts, tr cost
		if round%2 == 0 {
			ts = subject.run(ns)
			tr = reference.run(nr)
		} else {
			tr = reference.run(nr)
			ts = subject.run(ns)
		}
		s := float64(ts.wall) / float64(ns)
		f := float64(tr.wall) / float64(nr)
		sNs = append(sNs, s)
		rNs = append(rNs, f)
		ratios = append(ratios, s/f)
		cpu = append(cpu, (float64(ts.cpu)/float64(ns))/(float64(tr.cpu)/float64(nr)))
	}
	r.cpuRatio = median(cpu)
	r.ratio = median(ratios)
	r.ratios = ratios
	r.min, r.max = ratios[0], ratios[len(ratios)-1]
	r.subjectNs, r.refNs = median(sNs), median(rNs)
	n := min(ns, 2000)
	r.subjAllocs, r.subjB = allocsOf(subject, n)
	n = min(nr, 2000)
	r.refAllocs, r.refB = allocsOf(reference, n)
	return r
}

// A pair is one comparison: subject ÷ reference, with its target, when it
// has one (the ratio at most target; 0 for none).
type pair struct {
	name               string
	subject, reference string
	target             float64
	what               string // the target in words
}

// pairs are the comparisons of BenchmarkPaired, in the order they run: the
// ones on a store of a million sessions last, since its heap changes the
// cost of every allocation after it.
var pairs = []pair{
	{"guard-valid_vs_floor", "guard/valid-memory", "floor", 1.15, "valid session, memory store: at most 1.15× the floor"},
	{"guard-valid_vs_floor-memory-store", "guard/valid-memory", "floor/memory-store", 0, "(the guard's own code: the floor looking sessions up in the same memory store)"},
	{"floor-memory-store_vs_floor", "floor/memory-store", "floor", 0, "(the memory store's lookup next to a bare map's)"},
	{"guard-valid_vs_httprate", "guard/valid-memory", "httprate/LimitByIP", 0.5, "at least 2× cheaper than httprate"},
	{"guard-valid_vs_throttled", "guard/valid-memory", "throttled/GCRA-memstore", 0.5, "at least 2× cheaper than throttled"},
	{"guard-valid_vs_golang-jwt", "guard/valid-memory", "golang-jwt/HS256", 1.0 / 15, "at least 15× cheaper than golang-jwt HS256"},
	{"guard-valid_vs_jwtauth", "guard/valid-memory", "jwtauth/HS256", 0, "(go-chi/jwtauth, no target)"},
	{"guard-valid_vs_gorilla-csrf", "guard/valid-memory", "gorilla-csrf/POST", 0, "(no target)"},
	{"guard-valid_vs_scs", "guard/valid-memory", "scs/LoadAndSave-memstore", 0, "(no target)"},
	{"floor_vs_httprate", "floor", "httprate/LimitByIP", 0, "(the floor itself next to httprate)"},
	{"floor_vs_golang-jwt", "floor", "golang-jwt/HS256", 0, "(the floor itself next to golang-jwt)"},
	{"bound_vs_floor", "bound", "floor", 0, "(the bound: token MAC and context only, next to the floor)"},
	{"bound_vs_httprate", "bound", "httprate/LimitByIP", 0, "(the bound next to httprate: above 0.5, no guard meets the 2× target)"},
	{"bound_vs_throttled", "bound", "throttled/GCRA-memstore", 0, "(the bound next to throttled: above 0.5, no guard meets the 2× target)"},
	{"bound_vs_golang-jwt", "bound", "golang-jwt/HS256", 0, "(the bound next to golang-jwt: above 0.067, no guard meets the 15× target)"},
	{"guard-no-header_vs_guard-valid", "guard/no-header", "guard/valid-memory", 0.2, "denial without a header: at most 0.2× the valid path"},
	{"guard-forged_vs_guard-valid", "guard/forged-token", "guard/valid-memory", 0.5, "forged token: at most 0.5× the valid path"},
	{"guard-no-otp_vs_guard-valid", "guard/no-otp", "guard/valid-memory", 0.06, "action needing no OTP: at most 0.06× the valid path"},
	{"verify_vs_gorilla-csrf", "otpcode/Verify-memory", "gorilla-csrf/POST", 0, "(Verify's cost next to a CSRF token check)"},
	{"lookup-1M_vs_lookup-1k", "memory/lookup-1M", "memory/lookup-1k", 1.3, "memory store lookup at 1M live sessions: at most 1.3× at 1k"},
	{"guard-valid-1M_vs_guard-valid-1k", "guard/valid-1M", "guard/valid-1k", 0, "(the whole guarded request at 1M and 1k sessions)"},
}

// results caches each comparison's result: the framework calls a
// sub-benchmark several times, and a comparison runs once per process.
var (
	resultsMu sync.Mutex
	results   = map[string]pairResult{}
)

// BenchmarkPaired runs each comparison of pairs once and reports it (see
// the harness's comment above), then logs the table of them all.
func BenchmarkPaired(b *testing.B) {
	// Every case but the ones at scale is built first, so that each
	// comparison runs on the same heap, and from a fresh GC cycle.
	for _, p := range pairs {
		for _, name := range []string{p.subject, p.reference} {
			if !atScale(name) {
				getCase(b, name)
			}
		}
	}
	var ran []pair
	for _, p := range pairs {
		ok := b.Run(p.name, func(b *testing.B) {
			resultsMu.Lock()
			r, done := results[p.name]
			resultsMu.Unlock()
			if !done {
				s, ref := getCase(b, p.subject), getCase(b, p.reference)
				runtime.GC()
				r = comparePair(s, ref)
				resultsMu.Lock()
				results[p.name] = r
				resultsMu.Unlock()
			}
			for range b.N {
			}
			b.ReportMetric(r.ratio, "x")
			b.ReportMetric(r.min, "x-min")
			b.ReportMetric(r.max, "x-max")
			b.ReportMetric(r.cpuRatio, "x-cpu")
			b.ReportMetric(r.subjectNs, "ns/subject")
			b.ReportMetric(r.refNs, "ns/reference")
			b.ReportMetric(r.subjAllocs, "allocs/subject")
			b.ReportMetric(r.subjB, "B/subject")
			b.ReportMetric(r.refAllocs, "allocs/reference")
			b.ReportMetric(0, "ns/op")
		})
		if ok {
			ran = append(ran, p)
		}
	}
	b.Run("memory-per-session-1M", func(b *testing.B) {
		bigStore(b, liveEntries)
		for range b.N {
		}
		b.ReportMetric(sessionHeapPaired.perSession, "bytes/session")
		b.ReportMetric(0, "ns/op")
	})
	// The table goes to standard output, where go test prints the
	// benchmarks' lines: a parent benchmark's log is not shown.
	if len(ran) > 0 {
		fmt.Print("\n" + pairTable(ran) + "\n")
	}
	if sessionHeapPaired.perSession > 0 {
		fmt.Printf("memory store: %.1f bytes per live session at %d live sessions\n\n", sessionHeapPaired.perSession, sessionHeapPaired.sessions)
	}
}

// atScale reports whether case name runs on a store of many sessions,
// which is built when a comparison first needs it.
func atScale(name string) bool {
	return strings.HasSuffix(name, "-1M") || strings.HasSuffix(name, "-1k")
}

// pairTable renders the results of ps as a Markdown table.
func pairTable(ps []pair) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| comparison | subject ÷ reference | range | process CPU | subject | reference | allocs (B) subject | allocs (B) reference | target | met |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, p := range ps {
		resultsMu.Lock()
		r, ok := results[p.name]
		resultsMu.Unlock()
		if !ok {
			continue
		}
		met := ""
		if p.target > 0 {
			met = "yes"
			if r.ratio > p.target {
				met = "**no**"
			}
		}
		fmt.Fprintf(&b, "| %s ÷ %s | %s | %s – %s | %s | %s | %s | %.0f (%.0f) | %.0f (%.0f) | %s | %s |\n",
			p.subject, p.reference, fmtRatio(r.ratio), fmtRatio(r.min), fmtRatio(r.max), fmtRatio(r.cpuRatio),
			fmtNs(r.subjectNs), fmtNs(r.refNs), r.subjAllocs, r.subjB, r.refAllocs, r.refB, p.what, met)
	}
	return b.String()
}

func fmtRatio(x float64) string {
	if x < 0.1 {
		return fmt.Sprintf("%.3f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns >= 100:
		return fmt.Sprintf("%.0f ns", ns)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// TestPairedHarness checks the harness's arithmetic on two cases of known
// relative cost: one that does twice the work of the other.
func TestPairedHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("times batches")
	}
	spin := func(k int) timedCase {
		return timedCase{run: func(n int) cost {
			m := startMeter()
			x := 1.0
			for range n * k {
				x = math.Sqrt(x + 1)
			}
			sinkFloat = x
			return m.stop()
		}}
	}
	r := comparePair(spin(2000), spin(1000))
	t.Logf("ratio %.3f (%.3f – %.3f), %.0f ns against %.0f ns", r.ratio, r.min, r.max, r.subjectNs, r.refNs)
	if r.ratio < 1.6 || r.ratio > 2.5 {
		t.Errorf("got ratio %.3f for twice the work, want about 2", r.ratio)
	}
	if r.min > r.ratio || r.max < r.ratio {
		t.Errorf("got median %.3f outside its range %.3f – %.3f", r.ratio, r.min, r.max)
	}
	if r.subjAllocs != 0 {
		t.Errorf("got %.2f allocs/op for a loop that allocates nothing, want 0", r.subjAllocs)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3, 1, 2: got %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4, 1, 3, 2: got %v, want 2.5", got)
	}
}

var sinkFloat float64
