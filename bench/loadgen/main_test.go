package main

import (
	"context"
	"net"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
	"github.com/otlpgw/otlpgw/bench/internal/spancount"
)

func defaultPool() poolSpec {
	return poolSpec{Requests: 16, SpansPerReq: 100, AttrsPerSpan: 10, Resources: 4, SpansPerTrace: 10, Seed: 1}
}

func TestBuildPoolMatchesSpecWithUniqueIDs(t *testing.T) {
	spec := defaultPool()
	pool, err := buildPool(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(pool) != spec.Requests {
		t.Fatalf("pool has %d requests, want %d", len(pool), spec.Requests)
	}
	spanIDs := map[string]bool{}
	traceIDs := map[string]bool{}
	resources := map[string]bool{}
	total := 0
	for i, q := range pool {
		b := q.b
		total += len(b)
		if q.items != spec.SpansPerReq || q.kept != q.items {
			t.Fatalf("request %d: %d items, %d kept; want %d, all kept without the mix", i, q.items, q.kept, spec.SpansPerReq)
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		n := 0
		for _, rs := range req.ResourceSpans {
			resources[rs.Resource.String()] = true
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					n++
					if len(s.Attributes) != spec.AttrsPerSpan {
						t.Fatalf("request %d: span has %d attributes, want %d", i, len(s.Attributes), spec.AttrsPerSpan)
					}
					if len(s.TraceId) != 16 || len(s.SpanId) != 8 {
						t.Fatalf("request %d: trace/span ID lengths %d/%d", i, len(s.TraceId), len(s.SpanId))
					}
					if spanIDs[string(s.SpanId)] {
						t.Fatalf("request %d: span ID %x repeats", i, s.SpanId)
					}
					spanIDs[string(s.SpanId)] = true
					traceIDs[string(s.TraceId)] = true
				}
			}
		}
		if n != spec.SpansPerReq {
			t.Fatalf("request %d has %d spans, want %d", i, n, spec.SpansPerReq)
		}
	}
	if want := spec.Requests * spec.SpansPerReq / spec.SpansPerTrace; len(traceIDs) != want {
		t.Fatalf("%d distinct trace IDs, want %d", len(traceIDs), want)
	}
	if len(resources) != spec.Resources {
		t.Fatalf("%d distinct resources, want %d", len(resources), spec.Resources)
	}
	if per := total / (spec.Requests * spec.SpansPerReq); per < 500 || per > 600 {
		t.Fatalf("%d bytes per span, want about 550", per)
	}
}

func TestBuildPoolRejectsBadSpec(t *testing.T) {
	for name, mod := range map[string]func(*poolSpec){
		"no requests":    func(s *poolSpec) { s.Requests = 0 },
		"no spans":       func(s *poolSpec) { s.SpansPerReq = 0 },
		"too many attrs": func(s *poolSpec) { s.AttrsPerSpan = len(spanAttrs) + 1 },
		"no resources":   func(s *poolSpec) { s.Resources = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			spec := defaultPool()
			mod(&spec)
			if _, err := buildPool(spec); err == nil {
				t.Fatal("buildPool accepted the spec")
			}
		})
	}
}

func TestPacerHoldsRateAfterBurst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newPacer(1000, 100, 2) // 10 requests/s, burst of 2 requests
	p.lastFill = t0
	if d := p.reserve(t0); d != 0 {
		t.Fatalf("first request waits %v, want 0 (starts with one request's tokens)", d)
	}
	// The bucket is empty: each further request at the same instant queues
	// behind the last, 100 ms apart.
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		if d := p.reserve(t0); d != want {
			t.Fatalf("request %d waits %v, want %v", i+2, d, want)
		}
	}
	// After a long idle stretch only the burst is banked.
	later := t0.Add(time.Hour)
	for i := range 2 {
		if d := p.reserve(later); d != 0 {
			t.Fatalf("burst request %d waits %v, want 0", i, d)
		}
	}
	if d := p.reserve(later); d != 100*time.Millisecond {
		t.Fatalf("request past the burst waits %v, want 100ms", d)
	}
}

func TestPacerAlignsWakeUpsToTheQuantumGrid(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newPacer(1000, 100, 1)
	p.lastFill = t0
	p.reserve(t0) // takes the starting tokens
	// At t0+1ms the bucket holds 1 span; the next 99 arrive by t0+100ms,
	// which is on the grid already.
	now := t0.Add(time.Millisecond)
	if d := p.reserve(now); d != 99*time.Millisecond {
		t.Fatalf("wait %v, want 99ms (wake at t0+100ms)", d)
	}
	// A rate whose due time falls off the grid is rounded up to the next
	// grid point.
	q := newPacer(900, 100, 1) // one request every 111.1 ms
	q.lastFill = t0
	q.reserve(t0)
	d := q.reserve(t0)
	if due := 111111111 * time.Nanosecond; d < due || d >= due+paceQuantum || t0.Add(d).Sub(t0.Add(d).Truncate(paceQuantum)) != 0 {
		t.Fatalf("wait %v: want the first grid point at or after 111.1ms", d)
	}
}

// server is a real OTLP/gRPC trace and logs endpoint on loopback that
// counts items (spans or log records) in spans, failing the first `refuse`
// requests with code (UNAVAILABLE if unset).
type server struct {
	spans, requests, refused atomic.Int64
	logs                     atomic.Int64 // requests that came to the logs service
	refuse                   int64
	code                     codes.Code
	// late: the first `late` requests after the refusals are counted as
	// received, then answered only once the client's deadline has passed.
	late, lateSeen atomic.Int64
}

type countWalker struct{ n int }

func (c *countWalker) Walk(b []byte) (err error) { c.n, err = spancount.Traces(b); return err }

type logsWalker struct{ n int }

func (c *logsWalker) Walk(b []byte) (err error) { c.n, err = spancount.Logs(b); return err }

func startServer(t *testing.T, s *server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawcodec.Codec{}))
	handler := func(count func(func(any) error) (int, error)) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: "Export", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			n, err := count(dec)
			if err != nil {
				return nil, err
			}
			if s.refused.Add(1) <= s.refuse {
				code := s.code
				if code == codes.OK {
					code = codes.Unavailable
				}
				return nil, status.Error(code, "refused")
			}
			s.requests.Add(1)
			s.spans.Add(int64(n))
			if s.lateSeen.Add(1) <= s.late.Load() {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return []byte{}, nil
		}}
	}
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{handler(func(dec func(any) error) (int, error) {
			var c countWalker
			err := dec(&c)
			return c.n, err
		})},
	}, nil)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.logs.v1.LogsService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{handler(func(dec func(any) error) (int, error) {
			var c logsWalker
			err := dec(&c)
			s.logs.Add(1)
			return c.n, err
		})},
	}, nil)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

func TestRunFlatOutDeliversEverySpanItCounts(t *testing.T) {
	s := &server{}
	addr := startServer(t, s)
	cfg := config{Endpoint: addr, Duration: 300 * time.Millisecond, Workers: 4, Conns: 2, Timeout: 5 * time.Second, Pool: defaultPool()}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 0 || sum.RequestsRefused != 0 {
		t.Fatalf("errors %d, refused %d (first error %q), want none", sum.Errors, sum.RequestsRefused, sum.FirstError)
	}
	if sum.SpansOK == 0 || sum.SpansOK != s.spans.Load() {
		t.Fatalf("loadgen counts %d spans ok, server received %d", sum.SpansOK, s.spans.Load())
	}
	if sum.Mode != "flat_out" || sum.BytesPerSpan < 500 || sum.BytesPerSpan > 600 {
		t.Fatalf("summary mode %q bytes/span %v", sum.Mode, sum.BytesPerSpan)
	}
}

func TestRunFixedRateOffersTheRate(t *testing.T) {
	s := &server{}
	addr := startServer(t, s)
	// 20 requests/s for 1 s: the pacer allows the initial request plus one
	// every 50 ms, so 20 or 21 requests, never the thousands flat out sends.
	cfg := config{Endpoint: addr, Duration: time.Second, Workers: 4, Conns: 1, Rate: 2000, Timeout: 5 * time.Second, Pool: defaultPool()}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RequestsOK < 18 || sum.RequestsOK > 22 {
		t.Fatalf("sent %d requests at 20 requests/s for 1s, want about 20", sum.RequestsOK)
	}
	if sum.Mode != "fixed_rate" || sum.SpansOK != s.spans.Load() {
		t.Fatalf("mode %q, spans ok %d, server received %d", sum.Mode, sum.SpansOK, s.spans.Load())
	}
}

func TestRunCountsUnavailableAsRefusedAndKeepsSending(t *testing.T) {
	s := &server{refuse: 5}
	addr := startServer(t, s)
	cfg := config{Endpoint: addr, Duration: 500 * time.Millisecond, Workers: 1, Conns: 1, Timeout: 5 * time.Second, Pool: defaultPool()}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RequestsRefused != 5 || sum.SpansRefused != 500 || sum.Errors != 0 {
		t.Fatalf("refused %d requests (%d spans), %d errors; want 5, 500, 0", sum.RequestsRefused, sum.SpansRefused, sum.Errors)
	}
	if sum.RequestsOK == 0 || sum.SpansOK != s.spans.Load() {
		t.Fatalf("after refusals: %d requests ok, %d spans ok, server received %d", sum.RequestsOK, sum.SpansOK, s.spans.Load())
	}
}

func TestRunCountsOtherFailuresAsErrors(t *testing.T) {
	s := &server{refuse: 3, code: codes.InvalidArgument}
	addr := startServer(t, s)
	cfg := config{Endpoint: addr, Duration: 300 * time.Millisecond, Workers: 1, Conns: 1, Timeout: 5 * time.Second, Pool: defaultPool()}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 3 || sum.RequestsRefused != 0 || sum.FirstError == "" {
		t.Fatalf("errors %d, refused %d, first error %q; want 3 errors, none refused", sum.Errors, sum.RequestsRefused, sum.FirstError)
	}
	if sum.SpansOK != s.spans.Load() {
		t.Fatalf("spans ok %d, server received %d", sum.SpansOK, s.spans.Load())
	}
}

func TestBuildPoolLogsMatchesSpecWithSeverityMix(t *testing.T) {
	spec := defaultPool()
	spec.Signal = "logs"
	pool, err := buildPool(spec)
	if err != nil {
		t.Fatal(err)
	}
	severities := map[string]int{}
	spanIDs := map[string]bool{}
	total, bodies, records := 0, 0, 0
	for i, q := range pool {
		total += len(q.b)
		var req collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(q.b, &req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		n := 0
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					n++
					if len(lr.Attributes) != spec.AttrsPerSpan {
						t.Fatalf("request %d: record has %d attributes, want %d", i, len(lr.Attributes), spec.AttrsPerSpan)
					}
					if len(lr.TraceId) != 16 || len(lr.SpanId) != 8 || lr.TimeUnixNano == 0 || lr.ObservedTimeUnixNano < lr.TimeUnixNano {
						t.Fatalf("request %d: record %v lacks trace context or timestamps", i, lr)
					}
					if spanIDs[string(lr.SpanId)] {
						t.Fatalf("request %d: span ID %x repeats", i, lr.SpanId)
					}
					spanIDs[string(lr.SpanId)] = true
					severities[lr.SeverityText]++
					bodies += len(lr.Body.GetStringValue())
				}
			}
		}
		if n != spec.SpansPerReq || q.items != n || q.kept != n {
			t.Fatalf("request %d has %d records (pool says %d, %d kept), want %d, all kept", i, n, q.items, q.kept, spec.SpansPerReq)
		}
		records += n
	}
	if len(severities) != 4 || severities["INFO"] < records/2 || severities["ERROR"] == 0 {
		t.Fatalf("severity mix %v, want DEBUG, INFO (most), WARN and ERROR", severities)
	}
	if per := bodies / records; per < 80 || per > 120 {
		t.Fatalf("bodies average %d bytes, want about 100", per)
	}
	if per := total / records; per < 500 || per > 600 {
		t.Fatalf("%d bytes per record, want about 550", per)
	}
}

func TestBuildPoolRejectsUnknownSignal(t *testing.T) {
	spec := defaultPool()
	spec.Signal = "metrics"
	if _, err := buildPool(spec); err == nil {
		t.Fatal("buildPool accepted signal metrics")
	}
}

// healthRule is the S2/S3 drop rule, as the targets are configured with it.
var healthRule = regexp.MustCompile(`^(GET|HEAD) /(healthz|readyz|livez)$`)

// mixCounts is what a pool built with the mix holds.
type mixCounts struct {
	items, matched, nearMiss, long, shortQuery, password, envless, resources int
}

func (c *mixCounts) attrs(kvs []*commonpb.KeyValue) {
	for _, kv := range kvs {
		switch kv.Key {
		case "password":
			c.password++
		case "url.query":
			if len(kv.Value.GetStringValue()) > 256 {
				c.long++
			} else {
				c.shortQuery++
			}
		}
	}
}

func (c *mixCounts) resource(r *resourcepb.Resource) {
	c.resources++
	for _, kv := range r.Attributes {
		if kv.Key == "deployment.environment" {
			return
		}
	}
	c.envless++
}

func (c *mixCounts) name(s string) {
	c.items++
	switch {
	case healthRule.MatchString(s):
		c.matched++
	case regexp.MustCompile(`/(healthz|readyz|livez)`).MatchString(s):
		c.nearMiss++
	}
}

func TestMixHoldsWhatTheFiltersActOnAndCountsWhatTheDropRuleKeeps(t *testing.T) {
	for _, signal := range []string{"traces", "logs"} {
		t.Run(signal, func(t *testing.T) {
			spec := defaultPool()
			spec.Signal, spec.Mix = signal, true
			pool, err := buildPool(spec)
			if err != nil {
				t.Fatal(err)
			}
			var c mixCounts
			kept := 0
			for i, q := range pool {
				before := c.matched
				if signal == "traces" {
					var req coltracepb.ExportTraceServiceRequest
					if err := proto.Unmarshal(q.b, &req); err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					for _, rs := range req.ResourceSpans {
						c.resource(rs.Resource)
						for _, ss := range rs.ScopeSpans {
							for _, s := range ss.Spans {
								c.name(s.Name)
								c.attrs(s.Attributes)
							}
						}
					}
				} else {
					var req collogspb.ExportLogsServiceRequest
					if err := proto.Unmarshal(q.b, &req); err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					for _, rl := range req.ResourceLogs {
						c.resource(rl.Resource)
						for _, sl := range rl.ScopeLogs {
							for _, lr := range sl.LogRecords {
								c.name(lr.Body.GetStringValue())
								c.attrs(lr.Attributes)
							}
						}
					}
				}
				if q.items-q.kept != c.matched-before {
					t.Fatalf("request %d: pool says %d of %d dropped, the rule matches %d", i, q.items-q.kept, q.items, c.matched-before)
				}
				kept += q.kept
			}
			if c.items-kept != c.matched {
				t.Fatalf("%d items, %d kept, %d matched", c.items, kept, c.matched)
			}
			pct := func(n int) float64 { return 100 * float64(n) / float64(c.items) }
			if p := pct(c.matched); p < 3.5 || p > 6.5 {
				t.Fatalf("%.1f%% health checks, want about 5%%", p)
			}
			if c.nearMiss == 0 || pct(c.nearMiss) > 2 {
				t.Fatalf("%d near misses of %d items, want about 1%%", c.nearMiss, c.items)
			}
			if p := pct(c.long); p < 2 || p > 6 || c.shortQuery == 0 {
				t.Fatalf("%.1f%% items with values over 256 bytes (%d under), want about 4%% and a few under", p, c.shortQuery)
			}
			if p := pct(c.password); p < 1.5 || p > 4.5 {
				t.Fatalf("%.1f%% items with a password, want about 3%%", p)
			}
			if c.envless != c.resources/noEnvEvery {
				t.Fatalf("%d of %d resources lack deployment.environment, want one in %d", c.envless, c.resources, noEnvEvery)
			}
		})
	}
}

func TestRunLogsUsesTheLogsServiceAndReportsKeptItems(t *testing.T) {
	s := &server{}
	addr := startServer(t, s)
	pool := defaultPool()
	pool.Signal, pool.Mix = "logs", true
	cfg := config{Endpoint: addr, Duration: 300 * time.Millisecond, Workers: 2, Conns: 1, Timeout: 5 * time.Second, Pool: pool}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 0 || sum.SpansOK == 0 || sum.SpansOK != s.spans.Load() || s.logs.Load() != sum.RequestsOK {
		t.Fatalf("summary %+v; server counted %d records in %d logs requests", sum, s.spans.Load(), s.logs.Load())
	}
	if sum.Signal != "logs" || !sum.Mix || sum.ItemsKept >= sum.SpansOK || sum.ItemsKept < sum.SpansOK*9/10 {
		t.Fatalf("signal %q mix %v, %d kept of %d sent: want logs, mix, about 95%% kept", sum.Signal, sum.Mix, sum.ItemsKept, sum.SpansOK)
	}
}

// A request the target took but answered after the client's deadline is
// an error to loadgen, not an acknowledgement: the sink may hold items no
// OK counted. Loadgen reports them apart, so a check can tell them from
// duplicates: received = spans ok + spans of uncertain requests.
func TestRunCountsDeadlineAfterAcceptanceAsUncertain(t *testing.T) {
	s := &server{}
	s.late.Store(2)
	addr := startServer(t, s)
	// The server holds its answer until this deadline passes, however
	// slow the machine: it only sets how long the test takes.
	cfg := config{Endpoint: addr, Duration: 500 * time.Millisecond, Workers: 1, Conns: 1, Timeout: 200 * time.Millisecond, Pool: defaultPool()}
	sum, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RequestsUncertain != 2 || sum.Errors != 2 || sum.RequestsRefused != 0 {
		t.Fatalf("uncertain %d, errors %d, refused %d; want 2, 2, 0", sum.RequestsUncertain, sum.Errors, sum.RequestsRefused)
	}
	perReq := int64(cfg.Pool.SpansPerReq)
	if got := s.spans.Load(); got != sum.SpansOK+sum.RequestsUncertain*perReq {
		t.Fatalf("server received %d spans, loadgen counts %d ok + %d uncertain requests of %d", got, sum.SpansOK, sum.RequestsUncertain, perReq)
	}
	if sum.KeptUncertain != sum.RequestsUncertain*perReq {
		t.Fatalf("items_kept_uncertain = %d, want %d (no mix: every item is kept)", sum.KeptUncertain, sum.RequestsUncertain*perReq)
	}
}
