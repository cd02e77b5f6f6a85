package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
)

func traceClient(t *testing.T, gw *gateway.Gateway) coltrace.TraceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(gw.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return coltrace.NewTraceServiceClient(conn)
}

// rawCodec sends bytes as they are, so tests can put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestBackpressureClientsRetryAndEverythingArrives stalls the upstream
// behind a small queue: the gateway refuses with UNAVAILABLE + RetryInfo
// while holding no more than its queue, the OpenTelemetry SDK retries, and
// once the upstream recovers every span arrives.
func TestBackpressureClientsRetryAndEverythingArrives(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.Stall()
	gw := startGateway(t, fmt.Sprintf(`
batch: {max_items: 200, max_bytes: 64KiB, timeout: 10ms}
queue: {max_bytes: 256KiB}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, compression: none, tls: {insecure: true}, concurrency: {max: 1}}
`, sink.Addr()))
	client := traceClient(t, gw)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Fill the queue until the gateway refuses, and check how it refuses.
	var acked int
	var refusal error
	for i := 0; refusal == nil; i++ {
		if i > 1000 {
			t.Fatal("the gateway never refused although its upstream is stalled")
		}
		_, err := client.Export(ctx, otlptest.Traces(1, 50, 5, uint64(i)))
		if err != nil {
			refusal = err
			break
		}
		acked += 50
	}
	if status.Code(refusal) != codes.Unavailable || retryDelay(refusal) <= 0 {
		t.Fatalf("refusal = %v (delay %v), want UNAVAILABLE with RetryInfo", refusal, retryDelay(refusal))
	}

	// Memory stays bounded while it refuses: offer ~20 MB more, none is kept.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	big := otlptest.Traces(1, 500, 10, 99_000) // ~195 KB: fits the queue, so refusals are backpressure
	for range 100 {
		if _, err := client.Export(ctx, big); status.Code(err) != codes.Unavailable {
			t.Fatalf("while full: err = %v, want UNAVAILABLE", err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("heap grew by %d MiB while refusing: refused data is being kept", grown>>20)
	}
	if used := scrape(t, gw)[`otlpgw_queue_size_bytes{exporter="upstream"}`]; used > 256<<10 {
		t.Errorf("queue holds %v bytes, over its 256KiB capacity", used)
	}

	// The official SDK exporter honours the refusal and retries.
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(gw.GRPCAddr().String()), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 50 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 50 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	res := resource.NewSchemaless(attribute.String("service.name", "sdk"))
	sdkDone := make(chan error, 1)
	go func() { sdkDone <- exp.ExportSpans(ctx, spanStubs(res, 20, "sdk", 0xcc)) }()

	// Resume only after the SDK has been refused at least once.
	refusedBefore := sum(scrape(t, gw), "otlpgw_receiver_refused_items_total", label("reason", "backpressure"))
	for sum(scrape(t, gw), "otlpgw_receiver_refused_items_total", label("reason", "backpressure")) == refusedBefore {
		select {
		case err := <-sdkDone:
			t.Fatalf("the SDK export finished (%v) although the queue is full", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	sink.Resume()
	if err := <-sdkDone; err != nil {
		t.Fatalf("SDK export after the upstream recovered: %v", err)
	}
	if !sink.WaitItems(ctx, acked+20, 0, 0) {
		s, _, _ := sink.Items()
		t.Fatalf("sink got %d spans, want %d", s, acked+20)
	}
	if err := shutdown(gw, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := sink.Items(); s != acked+20 {
		t.Fatalf("sink got %d spans after drain, want exactly %d (no duplicates)", s, acked+20)
	}
}

// TestUpstreamOutageLosesNothingAcknowledged keeps load on the gateway
// while its upstream answers UNAVAILABLE for 10 s, then recovers.
func TestUpstreamOutageLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	sink := otlpsink.Start(t)
	gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 20ms}
queue: {max_bytes: 256MiB}
exporters:
  - name: upstream
    type: otlp
    endpoint: %q
    tls: {insecure: true}
    retry: {initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 5m}
`, sink.Addr()))
	client := traceClient(t, gw)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	sink.FailWith(codes.Unavailable)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Paced load (2 × 200 requests/s of 50 spans, ~20k spans/s): what the
	// queue must hold through the outage stays far below its 256 MiB
	// however fast the gateway is; flat out, a fast build fills it.
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := client.Export(ctx, otlptest.Traces(2, 25, 5, uint64(w*1_000_000+i))); err != nil {
					t.Errorf("export refused during the outage with a large queue: %v", err)
					return
				}
				acked.Add(50)
			}
		}()
	}
	outage := time.NewTimer(10 * time.Second)
	<-outage.C
	if sink.Refused() == 0 {
		t.Fatal("the upstream never saw an export during the outage")
	}
	sink.FailWith(codes.OK)
	close(stop)
	wg.Wait()

	want := int(acked.Load())
	if !sink.WaitItems(ctx, want, 0, 0) {
		s, _, _ := sink.Items()
		t.Fatalf("after the outage the sink got %d of %d acknowledged spans", s, want)
	}
	if err := shutdown(gw, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	m := gathered(t, gw)
	if r := m[`otlpgw_exporter_retries_total{exporter="upstream"}`]; r == 0 {
		t.Error("retries are not visible in otlpgw_exporter_retries_total")
	}
	// Delivery is at least once: an attempt that timed out on a slow
	// machine may have reached the upstream and is sent again. So the
	// check is that every acknowledged span arrived (by span ID), and that
	// nothing arrived that was never sent.
	unique := map[string]bool{}
	total := 0
	for _, req := range sink.Traces {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					unique[string(sp.SpanId)] = true
					total++
				}
			}
		}
	}
	if len(unique) != want {
		t.Errorf("sink holds %d distinct spans (%d in all), acknowledged %d", len(unique), total, want)
	}
	if total != want {
		t.Logf("%d spans arrived more than once (retried after a timeout)", total-want)
	}
	if sent := sum(m, "otlpgw_exporter_sent_items_total", label("exporter", "upstream")); int(sent) < want {
		t.Errorf("exporter_sent_items_total = %v, want at least %d", sent, want)
	}
}

// TestBadInputIsRefusedAndCountedAndServingContinues sends each kind of bad
// input, checks its status, and checks that a good request still passes.
func TestBadInputIsRefusedAndCountedAndServingContinues(t *testing.T) {
	sink := otlpsink.Start(t)
	gw := startGateway(t, fmt.Sprintf(`
receivers:
  otlp:
    grpc: {max_recv_msg_size: 64KiB}
    http: {max_request_body_size: 64KiB}
batch: {timeout: 10ms}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, sink.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(gw.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawExport := func(b []byte) error {
		var resp []byte
		return conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &b, &resp, grpc.ForceCodec(rawCodec{}))
	}

	// gRPC: malformed protobuf, a span with a 7-byte trace ID, an oversized message.
	if err := rawExport([]byte{0x0a, 0xff, 0x01, 0x02}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed protobuf over gRPC: %v, want INVALID_ARGUMENT", err)
	}
	bad := otlptest.Traces(1, 1, 0, 1)
	bad.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId = []byte{1, 2, 3, 4, 5, 6, 7}
	if err := rawExport(otlptest.Marshal(bad)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "trace_id") {
		t.Errorf("bad trace ID over gRPC: %v, want INVALID_ARGUMENT naming trace_id", err)
	}
	err = rawExport(otlptest.Marshal(otlptest.Traces(1, 500, 10, 2)))
	if status.Code(err) != codes.ResourceExhausted || retryDelay(err) != 0 {
		t.Errorf("oversized gRPC message: %v, want RESOURCE_EXHAUSTED without RetryInfo", err)
	}

	// HTTP: one request per row of the contract's table.
	base := "http://" + gw.HTTPAddr().String()
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 16<<20)) // 16 MiB of zeros: 256x the 64KiB limit
	_ = zw.Close()
	cases := []struct {
		name, method, path, ctype, encoding string
		body                                []byte
		want                                int
	}{
		{"malformed protobuf", "POST", "/v1/traces", "application/x-protobuf", "", []byte{0x0a, 0xff, 0x01}, 400},
		{"malformed JSON", "POST", "/v1/logs", "application/json", "", []byte(`{"resourceLogs":[`), 400},
		{"wrong content type", "POST", "/v1/traces", "text/plain", "", []byte("hello"), 415},
		{"wrong method", "GET", "/v1/traces", "", "", nil, 405},
		{"wrong path", "POST", "/v1/profiles", "application/x-protobuf", "", nil, 404},
		{"oversized body", "POST", "/v1/traces", "application/x-protobuf", "", otlptest.Marshal(otlptest.Traces(1, 500, 10, 3)), 413},
		{"gzip bomb", "POST", "/v1/traces", "application/x-protobuf", "gzip", bomb.Bytes(), 413},
	}
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(ctx, c.method, base+c.path, bytes.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.encoding != "" {
			req.Header.Set("Content-Encoding", c.encoding)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, res.StatusCode, c.want)
		}
	}

	// Still serving: a good request over each transport arrives.
	if err := rawExport(otlptest.Marshal(otlptest.Traces(1, 3, 1, 4))); err != nil {
		t.Fatalf("good gRPC request after bad ones: %v", err)
	}
	res, err := http.Post(base+"/v1/traces", "application/x-protobuf", bytes.NewReader(otlptest.Marshal(otlptest.Traces(1, 2, 1, 5))))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("good HTTP request after bad ones: %v %v", res, err)
	}
	res.Body.Close()
	if !sink.WaitItems(ctx, 5, 0, 0) {
		t.Fatal("good requests after bad ones did not arrive")
	}

	m := scrape(t, gw)
	for _, reason := range []string{"invalid", "too_large"} {
		for _, transport := range []string{"grpc", "http"} {
			if sum(m, "otlpgw_receiver_refused_items_total", label("reason", reason), label("transport", transport)) == 0 {
				t.Errorf("refusals for reason %s over %s are not counted", reason, transport)
			}
		}
	}
	if sum(m, "otlpgw_receiver_requests_total", label("code", "415")) == 0 {
		t.Error("the 415 answer is not counted in otlpgw_receiver_requests_total")
	}
}

// TestShutdownDrainsQueuedItems accepts data while the upstream is stalled,
// then shuts down: Shutdown delivers everything before it returns.
func TestShutdownDrainsQueuedItems(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.Stall()
	gw := startGateway(t, fmt.Sprintf(`
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, sink.Addr()))
	client := traceClient(t, gw)
	for i := range 10 {
		if _, err := client.Export(context.Background(), otlptest.Traces(1, 10, 2, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- shutdown(gw, 10*time.Second) }()
	// New requests are refused once shutdown has begun; wait for that, then
	// let the upstream take the drained data.
	for {
		_, err := client.Export(context.Background(), otlptest.Traces(1, 1, 0, 100))
		if err != nil {
			break // intake closed; what was accepted before must still be delivered
		}
	}
	sink.Resume()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	m := gathered(t, gw)
	accepted := sum(m, "otlpgw_receiver_accepted_items_total")
	if s, _, _ := sink.Items(); float64(s) != accepted || s < 100 {
		t.Fatalf("after drain the sink holds %d spans, the gateway accepted %v", s, accepted)
	}
}

// TestShutdownDeadlineCountsUndelivered: with the upstream down, Shutdown
// gives up at its deadline and reports and counts what it could not deliver.
func TestShutdownDeadlineCountsUndelivered(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailWith(codes.Unavailable)
	gw := startGateway(t, fmt.Sprintf(`
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}, retry: {initial_interval: 20ms, max_interval: 50ms}}
`, sink.Addr()))
	client := traceClient(t, gw)
	for i := range 4 {
		if _, err := client.Export(context.Background(), otlptest.Traces(1, 5, 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := shutdown(gw, 300*time.Millisecond)
	// A hang net, not a speed claim: the upstream never recovers and
	// max_elapsed_time is minutes, so only the deadline can end Shutdown
	// this soon; how far past 300ms depends on the machine's load.
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Shutdown took %v with a 300ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "20 items") {
		t.Fatalf("Shutdown error = %v, want one counting 20 undelivered items", err)
	}
	if lost := sum(gathered(t, gw), "otlpgw_exporter_failed_items_total", label("reason", "shutdown")); lost != 20 {
		t.Fatalf("exporter_failed_items_total{reason=shutdown} = %v, want 20", lost)
	}
	if risk := gathered(t, gw)["otlpgw_shutdown_items_at_risk{"+label("exporter", "upstream")+"}"]; risk != 20 {
		t.Fatalf("otlpgw_shutdown_items_at_risk after a lossy drain = %v, want the 20 lost", risk)
	}
}

// TestLifecycle: Shutdown without Start, twice, and Start after a port clash.
func TestLifecycle(t *testing.T) {
	gw := startGateway(t, "exporters: [{name: d, type: debug}]\n")
	if err := shutdown(gw, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := shutdown(gw, time.Second); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}

	// A second gateway on the first one's admin port fails to start, cleanly.
	first := startGateway(t, "exporters: [{name: d, type: debug}]\n")
	clash := startGatewayErr(t, fmt.Sprintf("admin: {endpoint: %q}\nexporters: [{name: d, type: debug}]\n", first.AdminAddr().String()))
	if clash == nil || !strings.Contains(clash.Error(), "admin") {
		t.Fatalf("start on a taken admin port: %v, want an error naming admin", clash)
	}
	if errors.Is(clash, context.Canceled) {
		t.Fatal("unexpected cancellation")
	}
}
