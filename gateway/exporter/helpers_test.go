package exporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the test server decodes gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/otlpgw/otlpgw/gateway/config"
	_ "github.com/otlpgw/otlpgw/gateway/internal/grpczstd" // the test server decodes zstd
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// --- test data -------------------------------------------------------------

// tracesReq encodes one ExportTraceServiceRequest holding one resource
// (service.name = svc) with n spans named svc/0 .. svc/n-1.
func tracesReq(t testing.TB, svc string, n int) []byte {
	t.Helper()
	spans := make([]*tracepb.Span, n)
	for i := range spans {
		spans[i] = &tracepb.Span{
			TraceId: bytes.Repeat([]byte{byte(i + 1)}, 16),
			SpanId:  bytes.Repeat([]byte{byte(i + 1)}, 8),
			Name:    fmt.Sprintf("%s/%d", svc, i),
		}
	}
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: svc}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metricsReq(t testing.TB, n int) []byte {
	t.Helper()
	dps := make([]*metricspb.NumberDataPoint, n)
	for i := range dps {
		dps[i] = &metricspb.NumberDataPoint{Value: &metricspb.NumberDataPoint_AsInt{AsInt: int64(i)}}
	}
	b, err := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "requests",
			Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: dps}},
		}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsReq(t testing.TB, n int) []byte {
	t.Helper()
	recs := make([]*logspb.LogRecord, n)
	for i := range recs {
		recs[i] = &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("line %d", i)}}}
	}
	b, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spanNames(req *coltracepb.ExportTraceServiceRequest) []string {
	var names []string
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				names = append(names, s.GetName())
			}
		}
	}
	return names
}

// --- exporter scaffolding --------------------------------------------------

// testCfg is an exporter config with test-sized retry intervals.
func testCfg(typ, endpoint string) config.Exporter {
	return config.Exporter{
		Name:        "up",
		Type:        typ,
		Endpoint:    endpoint,
		Compression: "none",
		Timeout:     5 * time.Second,
		TLS:         config.TLS{Insecure: true},
		Retry: config.Retry{
			Enabled:         true,
			InitialInterval: 2 * time.Millisecond,
			MaxInterval:     10 * time.Millisecond,
			Multiplier:      2,
			MaxElapsedTime:  10 * time.Second,
		},
		Concurrency: config.Concurrency{Mode: "fixed", Max: 1},
	}
}

var noLinger = config.Batch{MaxItems: 10000, MaxBytes: 16 << 20}

// newTestExporter builds an exporter with its own registry and a log
// recorder, and shuts it down (bounded) when the test ends.
func newTestExporter(t *testing.T, cfg config.Exporter, batch config.Batch) (*Exporter, *telemetry.Metrics, *logRecorder) {
	t.Helper()
	tm := telemetry.NewMetrics()
	logs := &logRecorder{}
	e, err := New(cfg, batch, 64<<20, Settings{Logger: slog.New(logs), Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e, tm, logs
}

// retryClock replaces an exporter's back-off clock: each wait is recorded
// and advances the clock at once instead of sleeping, so what a test checks
// about back-off and max_elapsed_time is the retrier's schedule, not how
// fast a loaded machine runs. Workers share it, hence the lock.
type retryClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// useRetryClock installs a retryClock on e; call it before e.Start.
func useRetryClock(e *Exporter) *retryClock {
	c := &retryClock{now: time.Unix(1_000_000, 0)}
	e.retry.now = func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.now
	}
	e.retry.sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.waits = append(c.waits, d)
		c.now = c.now.Add(d)
		return nil
	}
	return c
}

// waited returns every back-off wait so far, in order.
func (c *retryClock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// hangBound is how long a test lets something that must end by itself
// take before calling it hung. It is a safety net, not a claim about
// speed: a loaded 2-core CI machine running -race can be very slow.
const hangBound = 30 * time.Second

// waitCounter waits until c reaches at least n.
func waitCounter(t *testing.T, c prometheus.Counter, n float64) {
	t.Helper()
	testwait.Until(t, func() string { return fmt.Sprintf("a counter at %v to reach %v", testutil.ToFloat64(c), n) },
		func() bool { return testutil.ToFloat64(c) >= n })
}

// push reserves and queues one request, as the pipeline does.
func push(t *testing.T, e *Exporter, sig otlpwire.Signal, req []byte, items int) {
	t.Helper()
	if !e.Queue().Reserve(int64(len(req))) {
		t.Fatal("queue full")
	}
	if !e.Queue().Push(queue.Entry{Sig: sig, Req: req, Items: items}) {
		t.Fatal("queue closed")
	}
}

// drain shuts the exporter down with a generous deadline: it returns once
// every queued batch was delivered or given up, which is what tests wait on.
func drain(t *testing.T, e *Exporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	attrs   []slog.Attr
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.records = append(h.records, r)
	return nil
}
func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	// Records land in the parent so the test sees every logger's lines.
	return &logChild{parent: h, attrs: as}
}
func (h *logRecorder) WithGroup(string) slog.Handler { return h }

type logChild struct {
	parent *logRecorder
	attrs  []slog.Attr
}

func (c *logChild) Enabled(context.Context, slog.Level) bool { return true }
func (c *logChild) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(c.attrs...)
	return c.parent.Handle(ctx, r)
}
func (c *logChild) WithAttrs(as []slog.Attr) slog.Handler {
	return &logChild{parent: c.parent, attrs: append(append([]slog.Attr(nil), c.attrs...), as...)}
}
func (c *logChild) WithGroup(string) slog.Handler { return c }

// find returns the attributes of every record with the message msg.
func (h *logRecorder) find(msg string) []map[string]slog.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		m := map[string]slog.Value{"level": slog.StringValue(r.Level.String())}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value
			return true
		})
		out = append(out, m)
	}
	return out
}

// --- the OTLP/gRPC upstream ------------------------------------------------

// reply scripts one answer of a test upstream; the zero reply is success.
type reply struct {
	code     codes.Code    // gRPC failure code (OK: success)
	http     int           // HTTP status (0: 200)
	after    time.Duration // RetryInfo (gRPC) or Retry-After seconds (HTTP)
	rejected int64         // partial_success.rejected_*
	msg      string        // partial_success.error_message, or the error text
	// details, when set, are the gRPC status details as sent, in place
	// of the RetryInfo that after makes: a test can send malformed ones.
	details []*anypb.Any
	// retryAfter, when set, is the HTTP Retry-After header as sent, in
	// place of after's whole seconds.
	retryAfter string
}

// call is one request an upstream received.
type call struct {
	sig         otlpwire.Signal
	at          time.Time
	req         []byte // the encoded request as decoded by the server
	md          metadata.MD
	header      http.Header
	compression string
}

// recorder is the scripted part shared by the gRPC and HTTP upstreams.
type recorder struct {
	mu     sync.Mutex
	script []reply // consumed one per call; success when empty
	calls  []call
}

func (r *recorder) next(c call) reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	if len(r.script) == 0 {
		return reply{}
	}
	rp := r.script[0]
	r.script = r.script[1:]
	return rp
}

func (r *recorder) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

type grpcUpstream struct {
	recorder
	addr string
	cmu  sync.Mutex
	seen []string // grpc-encoding of every request, in arrival order
}

type traceSvc struct {
	coltracepb.UnimplementedTraceServiceServer
	u *grpcUpstream
}
type metricsSvc struct {
	colmetricspb.UnimplementedMetricsServiceServer
	u *grpcUpstream
}
type logsSvc struct {
	collogspb.UnimplementedLogsServiceServer
	u *grpcUpstream
}

func (s traceSvc) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	rp, err := s.u.handle(ctx, otlpwire.Traces, req)
	if err != nil || rp.rejected == 0 && rp.msg == "" {
		return &coltracepb.ExportTraceServiceResponse{}, err
	}
	return &coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{RejectedSpans: rp.rejected, ErrorMessage: rp.msg}}, nil
}

func (s metricsSvc) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	_, err := s.u.handle(ctx, otlpwire.Metrics, req)
	return &colmetricspb.ExportMetricsServiceResponse{}, err
}

func (s logsSvc) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	_, err := s.u.handle(ctx, otlpwire.Logs, req)
	return &collogspb.ExportLogsServiceResponse{}, err
}

func (u *grpcUpstream) handle(ctx context.Context, sig otlpwire.Signal, req proto.Message) (reply, error) {
	at := time.Now()
	b, err := proto.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	rp := u.next(call{sig: sig, at: at, req: b, md: md})
	if rp.code == codes.OK {
		return rp, nil
	}
	if len(rp.details) > 0 {
		return rp, status.FromProto(&spb.Status{Code: int32(rp.code), Message: "scripted failure", Details: rp.details}).Err()
	}
	st := status.New(rp.code, "scripted failure")
	if rp.after > 0 {
		st, err = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(rp.after)})
		if err != nil {
			return reply{}, err
		}
	}
	return rp, st.Err()
}

// TagRPC and friends make grpcUpstream a stats.Handler that notes each
// request's grpc-encoding.
func (u *grpcUpstream) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (u *grpcUpstream) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok && !h.Client {
		u.cmu.Lock()
		u.seen = append(u.seen, h.Compression)
		u.cmu.Unlock()
	}
}
func (u *grpcUpstream) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (u *grpcUpstream) HandleConn(context.Context, stats.ConnStats) {}

func (u *grpcUpstream) compressions() []string {
	u.cmu.Lock()
	defer u.cmu.Unlock()
	return append([]string(nil), u.seen...)
}

// startGRPCUpstream runs a real OTLP/gRPC server on 127.0.0.1:0.
func startGRPCUpstream(t *testing.T, script ...reply) *grpcUpstream {
	t.Helper()
	u := &grpcUpstream{}
	u.script = script
	srv := grpc.NewServer(grpc.StatsHandler(u))
	coltracepb.RegisterTraceServiceServer(srv, traceSvc{u: u})
	colmetricspb.RegisterMetricsServiceServer(srv, metricsSvc{u: u})
	collogspb.RegisterLogsServiceServer(srv, logsSvc{u: u})
	u.addr = serveGRPC(t, srv)
	return u
}

// serveGRPC serves srv on 127.0.0.1:0 until the test ends and returns its
// address.
func serveGRPC(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// --- the OTLP/HTTP upstream ------------------------------------------------

type httpUpstream struct {
	recorder
	url string
}

// startHTTPUpstream runs a real OTLP/HTTP server on 127.0.0.1:0 that
// decodes gzip and zstd bodies and answers per its script.
func startHTTPUpstream(t *testing.T, script ...reply) *httpUpstream {
	t.Helper()
	u := &httpUpstream{}
	u.script = script
	mux := http.NewServeMux()
	for _, sig := range otlpwire.Signals {
		mux.HandleFunc("POST "+httpPaths[sig], func(w http.ResponseWriter, r *http.Request) {
			u.serve(w, r, sig)
		})
	}
	srv := httptest.NewServer(mux)
	u.url = srv.URL
	t.Cleanup(srv.Close)
	return u
}

func (u *httpUpstream) serve(w http.ResponseWriter, r *http.Request, sig otlpwire.Signal) {
	at := time.Now()
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := decodeBody(r.Header.Get("Content-Encoding"), raw)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rp := u.next(call{sig: sig, at: at, req: body, header: r.Header.Clone(), compression: r.Header.Get("Content-Encoding")})
	w.Header().Set("Content-Type", "application/x-protobuf")
	if rp.http != 0 && rp.http != http.StatusOK {
		if rp.retryAfter != "" {
			w.Header().Set("Retry-After", rp.retryAfter)
		} else if rp.after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(rp.after/time.Second)))
		}
		st, _ := proto.Marshal(&spb.Status{Code: int32(codes.Unknown), Message: rp.msg})
		w.WriteHeader(rp.http)
		w.Write(st)
		return
	}
	w.Write(otlpwire.EncodeExportResponse(sig, rp.rejected, rp.msg, nil))
}

func decodeBody(encoding string, b []byte) ([]byte, error) {
	switch encoding {
	case "":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(b, nil)
	}
	return nil, fmt.Errorf("unknown Content-Encoding %q", encoding)
}

func entry(sig otlpwire.Signal, req []byte, items int) queue.Entry {
	return queue.Entry{Sig: sig, Req: req, Items: items}
}

// startHTTPServer serves h on 127.0.0.1:0 until the test ends.
func startHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
