package exporter

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// limiterClock is a clock tests move by hand.
type limiterClock struct{ t time.Time }

func (c *limiterClock) now() time.Time      { return c.t }
func (c *limiterClock) add(d time.Duration) { c.t = c.t.Add(d) }
func testLimiter(max int) (*limiter, *limiterClock) {
	c := &limiterClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(max, nil)
	l.now = c.now
	return l, c
}

// settle acquires and releases n attempts with outcome and rtt.
func settle(t *testing.T, l *limiter, n, outcome int, rtt time.Duration) {
	t.Helper()
	for range n {
		if err := l.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.release(outcome, rtt)
	}
}

func TestLimiterSlowStartThenHalvesOnOverload(t *testing.T) {
	l, clock := testLimiter(64)
	if got := l.current(); got != initialLimit {
		t.Fatalf("starts at %d, want %d", got, initialLimit)
	}
	settle(t, l, 10, attemptOK, 10*time.Millisecond)
	if got := l.current(); got != initialLimit+10 {
		t.Errorf("after 10 successes in slow start: %d, want %d", got, initialLimit+10)
	}
	settle(t, l, 1, attemptOverload, 0)
	if got := l.current(); got != 7 {
		t.Errorf("after an overload: %d, want half of 14", got)
	}
	// A round trip is 10 ms: decreases are at most one per 20 ms.
	// The other requests in flight when the upstream tipped over fail too:
	// within the cooldown they do not halve it again.
	settle(t, l, 5, attemptOverload, 0)
	if got := l.current(); got != 7 {
		t.Errorf("after 5 more overloads within the cooldown: %d, want still 7", got)
	}
	clock.add(20 * time.Millisecond)
	settle(t, l, 1, attemptOverload, 0)
	if got := l.current(); got != 3 {
		t.Errorf("after the cooldown, another overload: %d, want 3", got)
	}
	for range 5 {
		clock.add(20 * time.Millisecond)
		settle(t, l, 1, attemptOverload, 0)
	}
	if got := l.current(); got != 1 {
		t.Errorf("never below 1: %d", got)
	}
	// Permanent failures say nothing about load.
	settle(t, l, 20, attemptOther, 0)
	if got := l.current(); got != 1 {
		t.Errorf("after permanent failures: %d, want 1", got)
	}
}

func TestLimiterGrowsOnlyWhileLatencyHolds(t *testing.T) {
	l, clock := testLimiter(64)
	settle(t, l, 1, attemptOverload, 0) // leave slow start at 2
	settle(t, l, 3, attemptOK, 10*time.Millisecond)
	if got := l.current(); got != 3 {
		t.Fatalf("after three fast successes at 2 (+1/2, +1/2.5, +1/2.9): %d, want 3", got)
	}
	// The upstream queues: latency over twice the best holds the limit.
	settle(t, l, 50, attemptOK, 25*time.Millisecond)
	if got := l.current(); got != 3 {
		t.Errorf("while latency is 2.5x the best: %d, want 3 held", got)
	}
	// The best latency is forgotten after its window: the slower one
	// becomes the new baseline and growth resumes.
	clock.add(rttWindow + time.Second)
	settle(t, l, 12, attemptOK, 25*time.Millisecond)
	if got := l.current(); got < 5 {
		t.Errorf("after the window, at a steady latency: %d, want growth (>= 5)", got)
	}
	// Never past max.
	settle(t, l, 10_000, attemptOK, 25*time.Millisecond)
	if got := l.current(); got != 64 {
		t.Errorf("after many successes: %d, want max 64", got)
	}
}

func TestLimiterBlocksAtTheLimit(t *testing.T) {
	l, _ := testLimiter(1)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second acquire at limit 1: %v, want it to wait until ctx ends", err)
	}
	got := make(chan error, 1)
	go func() { got <- l.acquire(context.Background()) }()
	l.release(attemptOK, time.Millisecond)
	if err := <-got; err != nil {
		t.Fatalf("acquire after a release: %v", err)
	}
}

// capacityUpstream is an OTLP/gRPC server that takes `capacity` requests
// at a time, each for `service`, and refuses the rest UNAVAILABLE, as an
// overloaded Collector does.
type capacityUpstream struct {
	coltracepb.UnimplementedTraceServiceServer
	capacity        int64
	service         time.Duration
	inflight, peak  atomic.Int64
	served, refused atomic.Int64
}

func (u *capacityUpstream) Export(_ context.Context, _ *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	n := u.inflight.Add(1)
	defer u.inflight.Add(-1)
	if n > u.capacity {
		u.refused.Add(1)
		return nil, status.Error(codes.Unavailable, "over capacity")
	}
	for p := u.peak.Load(); n > p && !u.peak.CompareAndSwap(p, n); p = u.peak.Load() {
	}
	time.Sleep(u.service) // the upstream's work on the request
	u.served.Add(1)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func startCapacityUpstream(t *testing.T, capacity int64, service time.Duration) (*capacityUpstream, string) {
	t.Helper()
	u := &capacityUpstream{capacity: capacity, service: service}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, u)
	return u, serveGRPC(t, srv)
}

// TestAdaptiveConcurrencyFindsTheUpstreamsCapacity sends the same load to
// an upstream that serves 4 requests at a time, from 32 workers, fixed
// and adaptive: both deliver everything, and adaptive does so with far
// fewer refused requests, settling near the upstream's capacity.
func TestAdaptiveConcurrencyFindsTheUpstreamsCapacity(t *testing.T) {
	const batches = 300
	req := tracesReq(t, "svc", 5)
	run := func(mode string) (refused int64, limit float64) {
		up, addr := startCapacityUpstream(t, 4, 2*time.Millisecond)
		cfg := testCfg("otlp", addr)
		cfg.Concurrency = config.Concurrency{Mode: mode, Max: 32}
		e, tm, _ := newTestExporter(t, cfg, config.Batch{MaxItems: 5, MaxBytes: 1 << 20})
		for range batches {
			push(t, e, otlpwire.Traces, req, 5)
		}
		e.Start()
		drain(t, e)
		if got := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); got != batches*5 || up.served.Load() != batches {
			t.Fatalf("%s: sent %v items, upstream served %d requests; want %d and %d", mode, got, up.served.Load(), batches*5, batches)
		}
		return up.refused.Load(), testutil.ToFloat64(tm.ExporterConcurrency.WithLabelValues("up"))
	}
	fixedRefused, fixedLimit := run("fixed")
	adaptiveRefused, adaptiveLimit := run("adaptive")
	t.Logf("refused requests: fixed %d (concurrency %v), adaptive %d (concurrency %v)", fixedRefused, fixedLimit, adaptiveRefused, adaptiveLimit)
	if fixedLimit != 32 || adaptiveLimit < 1 || adaptiveLimit > 16 {
		t.Errorf("exporter_concurrency: fixed %v, adaptive %v; want 32 and between 1 and 16", fixedLimit, adaptiveLimit)
	}
	if adaptiveRefused*3 > fixedRefused {
		t.Errorf("adaptive was refused %d times, fixed %d: want adaptive well under a third", adaptiveRefused, fixedRefused)
	}
}
