// Package otlpsink is a real OTLP/gRPC upstream for tests: it serves the
// three generated collector services on loopback, records what arrives
// (decoded with the generated types) and can be told to stall or fail.
//
// Duplicates. With TrackSpans the sink also keeps every span's trace and
// span ID it delivered, so a test that sends spans with distinct IDs can
// count exactly how many arrived more than once (Spans). LateReplies makes
// the sink take a request and then hold its answer until the client gives
// up: the one way to make a client retry something already delivered
// without depending on how long anything takes.
package otlpsink

import (
	"context"
	"net"
	"sync"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sink records every export it accepts.
type Sink struct {
	coltrace.UnimplementedTraceServiceServer
	srv  *grpc.Server
	ln   net.Listener
	mu   sync.Mutex
	cond *sync.Cond

	Traces  []*coltrace.ExportTraceServiceRequest
	Metrics []*colmetrics.ExportMetricsServiceRequest
	Logs    []*collogs.ExportLogsServiceRequest
	items   [3]int

	failWith codes.Code // non-OK: refuse every export with this code
	gate     chan struct{}
	refused  int

	// stallAfter >= 0: that many more exports are taken, then Stall.
	stallAfter int
	// late is how many more trace exports are recorded but answered only
	// once the caller's context ends.
	late int
	// ids counts deliveries per span (trace ID then span ID); nil unless
	// TrackSpans was called.
	ids map[[24]byte]int32
}

// SpanCounts is what a sink tracking span IDs received: every delivery of
// a span, how many distinct spans those were, and the difference.
type SpanCounts struct {
	Delivered, Unique, Duplicates int
}

type metricsSvc struct {
	colmetrics.UnimplementedMetricsServiceServer
	s *Sink
}
type logsSvc struct {
	collogs.UnimplementedLogsServiceServer
	s *Sink
}

// Start serves on a fresh loopback port until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{srv: grpc.NewServer(), ln: ln, stallAfter: -1}
	s.cond = sync.NewCond(&s.mu)
	coltrace.RegisterTraceServiceServer(s.srv, s)
	colmetrics.RegisterMetricsServiceServer(s.srv, metricsSvc{s: s})
	collogs.RegisterLogsServiceServer(s.srv, logsSvc{s: s})
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { s.Resume(); s.srv.Stop() })
	return s
}

// Addr is host:port of the sink.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// FailWith makes every export fail with code until FailWith(codes.OK).
func (s *Sink) FailWith(c codes.Code) {
	s.mu.Lock()
	s.failWith = c
	s.mu.Unlock()
}

// Stall makes exports wait until Resume.
func (s *Sink) Stall() {
	s.mu.Lock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
	s.mu.Unlock()
}

// StallAfter ends any stall, lets n more exports through, then stalls
// as Stall does.
func (s *Sink) StallAfter(n int) {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate) // a stall already in place ends now
		s.gate = nil
	}
	s.stallAfter = n
	if n == 0 {
		s.gate = make(chan struct{})
	}
	s.mu.Unlock()
}

// LateReplies makes the next n trace exports be recorded as delivered and
// then answered only when the caller's context ends (its deadline, most
// often), so the caller sees a failure for something the sink has.
func (s *Sink) LateReplies(n int) {
	s.mu.Lock()
	s.late = n
	s.mu.Unlock()
}

// TrackSpans makes the sink remember every span it delivers by trace and
// span ID (see Spans). Call it before anything is sent.
func (s *Sink) TrackSpans() {
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[[24]byte]int32{}
	}
	s.mu.Unlock()
}

// Spans counts the spans delivered since TrackSpans, by ID.
func (s *Sink) Spans() SpanCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := SpanCounts{Unique: len(s.ids)}
	for _, n := range s.ids {
		c.Delivered += int(n)
	}
	c.Duplicates = c.Delivered - c.Unique
	return c
}

// SpanDelivered is how many times the span with these IDs was delivered
// since TrackSpans.
func (s *Sink) SpanDelivered(traceID, spanID []byte) int {
	var k [24]byte
	copy(k[:16], traceID)
	copy(k[16:], spanID)
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.ids[k])
}

// Resume releases stalled exports.
func (s *Sink) Resume() {
	s.mu.Lock()
	s.stallAfter = -1
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// Refused is how many exports the sink failed on purpose.
func (s *Sink) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *Sink) admit(ctx context.Context) error {
	s.mu.Lock()
	gate, fail := s.gate, s.failWith
	if fail != codes.OK {
		s.refused++
	}
	if gate == nil && fail == codes.OK && s.stallAfter >= 0 {
		if s.stallAfter == 0 {
			s.gate = make(chan struct{})
			gate = s.gate
		} else {
			s.stallAfter--
		}
	}
	s.mu.Unlock()
	if fail != codes.OK {
		return status.Error(fail, "sink told to fail")
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Export implements the trace service.
func (s *Sink) Export(ctx context.Context, r *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	n := 0
	for _, rs := range r.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	late := false
	s.record(0, n, func() {
		s.Traces = append(s.Traces, r)
		if s.ids != nil {
			var k [24]byte
			for _, rs := range r.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, sp := range ss.Spans {
						copy(k[:16], sp.TraceId)
						copy(k[16:], sp.SpanId)
						s.ids[k]++
					}
				}
			}
		}
		if s.late > 0 {
			s.late--
			late = true
		}
	})
	if late {
		<-ctx.Done()
		return nil, status.Error(codes.DeadlineExceeded, "sink answered late on purpose")
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (m metricsSvc) Export(ctx context.Context, r *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	if err := m.s.admit(ctx); err != nil {
		return nil, err
	}
	n := 0
	for _, rm := range r.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, mt := range sm.Metrics {
				switch {
				case mt.GetGauge() != nil:
					n += len(mt.GetGauge().DataPoints)
				case mt.GetSum() != nil:
					n += len(mt.GetSum().DataPoints)
				case mt.GetHistogram() != nil:
					n += len(mt.GetHistogram().DataPoints)
				case mt.GetExponentialHistogram() != nil:
					n += len(mt.GetExponentialHistogram().DataPoints)
				case mt.GetSummary() != nil:
					n += len(mt.GetSummary().DataPoints)
				}
			}
		}
	}
	m.s.record(1, n, func() { m.s.Metrics = append(m.s.Metrics, r) })
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

func (l logsSvc) Export(ctx context.Context, r *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	if err := l.s.admit(ctx); err != nil {
		return nil, err
	}
	n := 0
	for _, rl := range r.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			n += len(sl.LogRecords)
		}
	}
	l.s.record(2, n, func() { l.s.Logs = append(l.s.Logs, r) })
	return &collogs.ExportLogsServiceResponse{}, nil
}

func (s *Sink) record(sig, n int, add func()) {
	s.mu.Lock()
	add()
	s.items[sig] += n
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Items returns spans, data points and log records received so far.
func (s *Sink) Items() (spans, points, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[0], s.items[1], s.items[2]
}

// WaitItems blocks until the sink holds at least the given counts or ctx
// ends; it reports whether the counts were reached.
func (s *Sink) WaitItems(ctx context.Context, spans, points, records int) bool {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.items[0] < spans || s.items[1] < points || s.items[2] < records {
		if ctx.Err() != nil {
			return false
		}
		s.cond.Wait()
	}
	return true
}

// Forget drops the recorded requests (the counts stay), so a test can
// measure memory without the sink's own records in it.
func (s *Sink) Forget() {
	s.mu.Lock()
	s.Traces, s.Metrics, s.Logs = nil, nil, nil
	s.mu.Unlock()
}
