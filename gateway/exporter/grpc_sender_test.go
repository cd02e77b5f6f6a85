package exporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func TestClassifyGRPC(t *testing.T) {
	withDelay := func(c codes.Code, d time.Duration) error {
		st, err := status.New(c, "x").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, tc := range []struct {
		err       error
		ownCancel bool
		retryable bool
		after     time.Duration
	}{
		{status.Error(codes.Unavailable, "x"), false, true, 0},
		{status.Error(codes.DeadlineExceeded, "x"), false, true, 0},
		{status.Error(codes.Aborted, "x"), false, true, 0},
		{status.Error(codes.OutOfRange, "x"), false, true, 0},
		{status.Error(codes.DataLoss, "x"), false, true, 0},
		{status.Error(codes.Canceled, "x"), false, true, 0},
		{status.Error(codes.Canceled, "x"), true, false, 0},
		// RESOURCE_EXHAUSTED is retryable only with a RetryInfo (OTLP spec).
		{status.Error(codes.ResourceExhausted, "x"), false, false, 0},
		{withDelay(codes.ResourceExhausted, 3*time.Second), false, true, 3 * time.Second},
		{withDelay(codes.ResourceExhausted, 0), false, true, 0},
		{withDelay(codes.Unavailable, 250*time.Millisecond), false, true, 250 * time.Millisecond},
		{status.Error(codes.InvalidArgument, "x"), false, false, 0},
		{withDelay(codes.InvalidArgument, time.Second), false, false, 0},
		{status.Error(codes.Unauthenticated, "x"), false, false, 0},
		{status.Error(codes.PermissionDenied, "x"), false, false, 0},
		{status.Error(codes.Unimplemented, "x"), false, false, 0},
		{status.Error(codes.Internal, "x"), false, false, 0},
		{status.Error(codes.Unknown, "x"), false, false, 0},
		{status.Error(codes.NotFound, "x"), false, false, 0},
		{status.Error(codes.FailedPrecondition, "x"), false, false, 0},
		{errors.New("not a status"), false, false, 0},
	} {
		name := fmt.Sprintf("%s/own=%v", status.Code(tc.err), tc.ownCancel)
		t.Run(name, func(t *testing.T) {
			got, bad := classifyGRPC(fmt.Errorf("export: %w", tc.err), tc.ownCancel)
			if bad {
				t.Fatalf("well-formed status called malformed: %v", got)
			}
			retryable, after := IsRetryable(got)
			if retryable != tc.retryable || after != tc.after {
				t.Fatalf("retryable=%v after=%v, want %v %v", retryable, after, tc.retryable, tc.after)
			}
			if !strings.Contains(got.Error(), "export: ") {
				t.Fatalf("classification lost the wrapped message: %v", got)
			}
		})
	}
}

func decodeTraces(t *testing.T, b []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// TestGRPCBatchesConcatenated queues three requests and checks that the
// upstream receives one export holding every span, in order.
func TestGRPCBatchesConcatenated(t *testing.T) {
	up := startGRPCUpstream(t)
	e, tm, _ := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
	reqs := [][]byte{tracesReq(t, "a", 2), tracesReq(t, "b", 3), tracesReq(t, "c", 1)}
	q := e.Queue()
	if !q.Reserve(int64(len(reqs[0]) + len(reqs[1]) + len(reqs[2]))) {
		t.Fatal("reserve")
	}
	q.Push(entry(otlpwire.Traces, reqs[0], 2), entry(otlpwire.Traces, reqs[1], 3), entry(otlpwire.Traces, reqs[2], 1))
	e.Start()
	drain(t, e)

	calls := up.got()
	if len(calls) != 1 {
		t.Fatalf("upstream got %d exports, want 1", len(calls))
	}
	got := decodeTraces(t, calls[0].req)
	want := []string{"a/0", "a/1", "b/0", "b/1", "b/2", "c/0"}
	if names := spanNames(got); !slices.Equal(names, want) {
		t.Fatalf("spans = %v, want %v", names, want)
	}
	if n := len(got.GetResourceSpans()); n != 3 {
		t.Fatalf("resources = %d, want 3", n)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 6 {
		t.Fatalf("sent = %v, want 6", v)
	}
	if v := testutil.ToFloat64(tm.QueueSize.WithLabelValues("up")); v != 0 {
		t.Fatalf("queue_size_bytes = %v after drain, want 0", v)
	}
	if v := testutil.ToFloat64(tm.QueueCapacity.WithLabelValues("up")); v != 64<<20 {
		t.Fatalf("queue_capacity_bytes = %v", v)
	}
	if v := testutil.ToFloat64(tm.ExporterConcurrency.WithLabelValues("up")); v != 1 {
		t.Fatalf("exporter_concurrency = %v, want 1", v)
	}
	if c := testutil.CollectAndCount(tm.ExporterDuration); c != 1 {
		t.Fatalf("exporter_request_duration_seconds series = %d, want 1", c)
	}
}

// TestGRPCEverySignal checks each signal reaches its own service intact.
func TestGRPCEverySignal(t *testing.T) {
	up := startGRPCUpstream(t)
	e, tm, _ := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "t", 2), 2)
	push(t, e, otlpwire.Metrics, metricsReq(t, 4), 4)
	push(t, e, otlpwire.Logs, logsReq(t, 3), 3)
	e.Start()
	drain(t, e)

	bySig := map[otlpwire.Signal][]byte{}
	for _, c := range up.got() {
		bySig[c.sig] = c.req
	}
	var m colmetricspb.ExportMetricsServiceRequest
	var l collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(bySig[otlpwire.Metrics], &m); err != nil || len(m.GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0].GetSum().GetDataPoints()) != 4 {
		t.Fatalf("metrics did not arrive intact: %v %v", err, &m)
	}
	if err := proto.Unmarshal(bySig[otlpwire.Logs], &l); err != nil || len(l.GetResourceLogs()[0].GetScopeLogs()[0].GetLogRecords()) != 3 {
		t.Fatalf("logs did not arrive intact: %v %v", err, &l)
	}
	if names := spanNames(decodeTraces(t, bySig[otlpwire.Traces])); len(names) != 2 {
		t.Fatalf("traces did not arrive intact: %v", names)
	}
	for sig, want := range map[string]float64{"traces": 2, "metrics": 4, "logs": 3} {
		if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", sig)); v != want {
			t.Fatalf("sent{%s} = %v, want %v", sig, v, want)
		}
	}
}

// TestGRPCRetryableCodes fails once with each retryable code, then lets
// the request through.
func TestGRPCRetryableCodes(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.DataLoss, codes.Canceled, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			rp := reply{code: code}
			if code == codes.ResourceExhausted {
				rp.after = time.Millisecond // retryable only with a RetryInfo
			}
			up := startGRPCUpstream(t, rp, rp)
			e, tm, _ := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "r", 5), 5)
			e.Start()
			drain(t, e)
			calls := up.got()
			if len(calls) != 3 {
				t.Fatalf("upstream got %d attempts, want 3", len(calls))
			}
			if names := spanNames(decodeTraces(t, calls[2].req)); len(names) != 5 {
				t.Fatalf("retried request lost spans: %v", names)
			}
			if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 5 {
				t.Fatalf("sent = %v, want 5", v)
			}
			if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != 2 {
				t.Fatalf("retries = %v, want 2", v)
			}
		})
	}
}

// TestGRPCRetryInfoHonoured checks the exporter waits the upstream's
// RetryInfo delay, although its own back-off is 2ms. The wait is read off
// the retrier's clock, not off the upstream's receipt times, so a busy
// machine cannot make it pass or fail.
func TestGRPCRetryInfoHonoured(t *testing.T) {
	const asked = 300 * time.Millisecond
	up := startGRPCUpstream(t, reply{code: codes.Unavailable, after: asked})
	e, tm, _ := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
	clk := useRetryClock(e)
	push(t, e, otlpwire.Traces, tracesReq(t, "r", 1), 1)
	e.Start()
	drain(t, e)
	calls := up.got()
	if len(calls) != 2 {
		t.Fatalf("attempts = %d, want 2", len(calls))
	}
	if waits := clk.waited(); !slices.Equal(waits, []time.Duration{asked}) {
		t.Fatalf("waits between attempts = %v, upstream asked for %v", waits, asked)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 1 {
		t.Fatalf("sent = %v, want 1", v)
	}
}

// TestGRPCPermanentCodes checks non-retryable codes are tried once and
// counted as permanent failures; RESOURCE_EXHAUSTED is one when it comes
// without a RetryInfo.
func TestGRPCPermanentCodes(t *testing.T) {
	for _, code := range []codes.Code{codes.ResourceExhausted, codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented, codes.Internal, codes.FailedPrecondition} {
		t.Run(code.String(), func(t *testing.T) {
			up := startGRPCUpstream(t, reply{code: code}, reply{code: code})
			e, tm, logs := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "p", 4), 4)
			e.Start()
			drain(t, e)
			if n := len(up.got()); n != 1 {
				t.Fatalf("attempts = %d, want 1", n)
			}
			if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "permanent")); v != 4 {
				t.Fatalf("failed{permanent} = %v, want 4", v)
			}
			if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 0 {
				t.Fatalf("sent = %v, want 0", v)
			}
			if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != 0 {
				t.Fatalf("retries = %v, want 0", v)
			}
			if l := logs.find("export failed, items dropped"); len(l) != 1 || l[0]["reason"].String() != "permanent" {
				t.Fatalf("failure log = %v", l)
			}
		})
	}
}

// TestGRPCMaxElapsedGivesUp checks an upstream that never recovers is
// given up after max_elapsed_time and counted as retries_exhausted. The
// retrier runs on a fake clock that each back-off wait advances: comparing
// the upstream's receipt times with max_elapsed_time instead failed when a
// loaded machine delayed the last attempt in flight.
func TestGRPCMaxElapsedGivesUp(t *testing.T) {
	script := make([]reply, 1000)
	for i := range script {
		script[i] = reply{code: codes.Unavailable}
	}
	up := startGRPCUpstream(t, script...)
	cfg := testCfg("otlp", up.addr)
	cfg.Retry.MaxElapsedTime = 100 * time.Millisecond
	e, tm, _ := newTestExporter(t, cfg, noLinger)
	clk := useRetryClock(e)
	push(t, e, otlpwire.Traces, tracesReq(t, "x", 7), 7)
	e.Start()
	drain(t, e)
	// Back-off 2ms doubling to 10ms: 2+4+8+10·8 = 94ms of waits; one more
	// 10ms wait would end past 100ms, so the twelfth attempt is the last.
	ms := time.Millisecond
	want := []time.Duration{2 * ms, 4 * ms, 8 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms}
	if waits := clk.waited(); !slices.Equal(waits, want) {
		t.Fatalf("waits = %v, want %v", waits, want)
	}
	if n := len(up.got()); n != len(want)+1 {
		t.Fatalf("upstream got %d attempts, want %d", n, len(want)+1)
	}
	if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "retries_exhausted")); v != 7 {
		t.Fatalf("failed{retries_exhausted} = %v, want 7", v)
	}
	if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != float64(len(want)) {
		t.Fatalf("retries = %v, want %d", v, len(want))
	}
}

// TestGRPCPartialSuccess checks an upstream partial_success is counted as
// rejected (not sent) and logged with the upstream's message.
func TestGRPCPartialSuccess(t *testing.T) {
	up := startGRPCUpstream(t, reply{rejected: 2, msg: "two spans too old"}, reply{rejected: 1, msg: "again"})
	e, tm, logs := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "p", 5), 5)
	push(t, e, otlpwire.Traces, tracesReq(t, "q", 5), 5)
	// Two batches: each entry is its own export.
	e.batch.MaxItems = 5
	e.Start()
	drain(t, e)
	if v := testutil.ToFloat64(tm.ExporterRejected.WithLabelValues("up", "traces")); v != 3 {
		t.Fatalf("rejected = %v, want 3", v)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 7 {
		t.Fatalf("sent = %v, want 7", v)
	}
	// The second partial success falls inside the log interval.
	l := logs.find("upstream reported partial success")
	if len(l) != 1 || l[0]["message"].String() != "two spans too old" || l[0]["rejected"].Int64() != 2 || l[0]["exporter"].String() != "up" {
		t.Fatalf("partial success log = %v", l)
	}
}

// TestGRPCCompression checks gzip and zstd requests reach a stock gRPC
// server with that grpc-encoding and decode to the original spans.
func TestGRPCCompression(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			up := startGRPCUpstream(t)
			cfg := testCfg("otlp", up.addr)
			cfg.Compression = comp
			e, _, _ := newTestExporter(t, cfg, noLinger)
			// Large enough that grpc-go reference-counts the buffer.
			push(t, e, otlpwire.Traces, tracesReq(t, "z", 200), 200)
			push(t, e, otlpwire.Traces, tracesReq(t, "y", 1), 1)
			e.Start()
			drain(t, e)
			calls := up.got()
			if len(calls) != 1 || len(spanNames(decodeTraces(t, calls[0].req))) != 201 {
				t.Fatalf("got %d exports; want one with 201 spans", len(calls))
			}
			want := comp
			if comp == "none" {
				want = ""
			}
			if seen := up.compressions(); len(seen) != 1 || seen[0] != want {
				t.Fatalf("grpc-encoding = %q, want %q", seen, want)
			}
		})
	}
}

func TestGRPCHeaders(t *testing.T) {
	up := startGRPCUpstream(t)
	cfg := testCfg("otlp", up.addr)
	cfg.Headers = map[string]string{"Authorization": "Bearer s3cret", "x-tenant": "acme"}
	e, _, _ := newTestExporter(t, cfg, noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "h", 1), 1)
	e.Start()
	drain(t, e)
	calls := up.got()
	if len(calls) != 1 {
		t.Fatalf("calls = %d", len(calls))
	}
	md := calls[0].md
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer s3cret" {
		t.Fatalf("authorization = %v", got)
	}
	if got := md.Get("x-tenant"); len(got) != 1 || got[0] != "acme" {
		t.Fatalf("x-tenant = %v", got)
	}
}

// TestGRPCShutdownDrains queues many batches and shuts down at once: all
// of them must reach the live upstream before Shutdown returns.
func TestGRPCShutdownDrains(t *testing.T) {
	up := startGRPCUpstream(t)
	cfg := testCfg("otlp", up.addr)
	cfg.Concurrency.Max = 3
	e, tm, _ := newTestExporter(t, cfg, config.Batch{MaxItems: 10})
	const batches = 40
	for i := range batches {
		push(t, e, otlpwire.Traces, tracesReq(t, fmt.Sprint("s", i), 10), 10)
	}
	e.Start()
	drain(t, e)
	total := 0
	for _, c := range up.got() {
		total += len(spanNames(decodeTraces(t, c.req)))
	}
	if total != batches*10 {
		t.Fatalf("upstream got %d spans, want %d", total, batches*10)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != batches*10 {
		t.Fatalf("sent = %v", v)
	}
	if v := testutil.ToFloat64(tm.ExporterConcurrency.WithLabelValues("up")); v != 3 {
		t.Fatalf("exporter_concurrency = %v, want 3", v)
	}
	if push := e.Queue().Push(entry(otlpwire.Traces, []byte{}, 0)); push {
		t.Fatal("queue accepted a push after Shutdown")
	}
}

// TestGRPCShutdownDeadUpstream checks Shutdown returns by its deadline
// when the upstream is down, and reports and counts what was lost.
func TestGRPCShutdownDeadUpstream(t *testing.T) {
	cfg := testCfg("otlp", deadAddr(t))
	cfg.Retry.MaxElapsedTime = 0 // retry for ever: only the deadline stops it
	cfg.Concurrency.Max = 2
	tm := telemetry.NewMetrics()
	e, err := New(cfg, config.Batch{MaxItems: 3}, 1<<20, Settings{Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		push(t, e, otlpwire.Traces, tracesReq(t, fmt.Sprint("d", i), 3), 3)
	}
	e.Start()
	// Shut down once the workers are retrying, so "no retries" below
	// cannot come from a machine too busy to make an attempt in 300ms.
	waitCounter(t, tm.ExporterRetries.WithLabelValues("up"), 1)
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err = e.Shutdown(ctx)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "15 items undelivered") {
		t.Fatalf("Shutdown = %v, want an error counting 15 items", err)
	}
	// Only a hang fails this: with max_elapsed_time 0 retries never end by
	// themselves, so returning at all shows the deadline stopped them.
	if took > deadline+hangBound {
		t.Fatalf("Shutdown took %v with a %v deadline", took, deadline)
	}
	if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "shutdown")); v != 15 {
		t.Fatalf("failed{shutdown} = %v, want 15", v)
	}
	if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v == 0 {
		t.Fatal("no retries against a dead upstream")
	}
	if u := e.Queue().UsedBytes(); u != 0 {
		t.Fatalf("queue still holds %d bytes", u)
	}
	if err2 := e.Shutdown(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Shutdown = %v, want the first result %v", err2, err)
	}
}
