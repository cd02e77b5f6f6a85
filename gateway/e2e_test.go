package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

func spanStubs(res *resource.Resource, n int, prefix string, seed byte) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	start := time.Unix(1_700_000_000, 0)
	for i := range n {
		var tid trace.TraceID
		var sid trace.SpanID
		tid[0], tid[15] = seed, byte(i+1)
		sid[0], sid[7] = seed, byte(i+1)
		out = append(out, tracetest.SpanStub{
			Name:                 fmt.Sprintf("%s-%d", prefix, i),
			SpanContext:          trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			SpanKind:             trace.SpanKindServer,
			StartTime:            start,
			EndTime:              start.Add(time.Duration(i+1) * time.Millisecond),
			Attributes:           []attribute.KeyValue{attribute.String("http.route", "/cart"), attribute.Int("attempt", i)},
			Resource:             res,
			InstrumentationScope: instrumentation.Scope{Name: "e2e"},
		}.Snapshot())
	}
	return out
}

func attrString(kvs []*commonpb.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.GetStringValue(), true
		}
	}
	return "", false
}

// TestEndToEndWithOpenTelemetrySDK sends every signal through the real
// gateway with the official OpenTelemetry Go exporters and raw OTLP/JSON,
// to a real OTLP/gRPC upstream and a file, and checks that every item
// arrived intact and that the books balance.
func TestEndToEndWithOpenTelemetrySDK(t *testing.T) {
	sink := otlpsink.Start(t)
	archive := filepath.Join(t.TempDir(), "archive.jsonl")
	gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 20ms}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, compression: gzip, tls: {insecure: true}}
  - {name: archive, type: file, path: %q}
`, sink.Addr(), archive))
	grpcAddr, httpAddr := gw.GRPCAddr().String(), gw.HTTPAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Traces over gRPC and HTTP.
	resGRPC := resource.NewSchemaless(attribute.String("service.name", "e2e-grpc"))
	resHTTP := resource.NewSchemaless(attribute.String("service.name", "e2e-http"))
	tg, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.ExportSpans(ctx, spanStubs(resGRPC, 3, "grpc", 0xa1)); err != nil {
		t.Fatalf("otlptracegrpc: %v", err)
	}
	_ = tg.Shutdown(ctx)
	th, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	if err := th.ExportSpans(ctx, spanStubs(resHTTP, 2, "http", 0xb2)); err != nil {
		t.Fatalf("otlptracehttp: %v", err)
	}
	_ = th.Shutdown(ctx)

	// Metrics over gRPC: one gauge with four points.
	mg, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(grpcAddr), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	var points []metricdata.DataPoint[int64]
	for i := range 4 {
		points = append(points, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.Int("shard", i)), Time: time.Unix(1_700_000_000, 0), Value: int64(10 * i)})
	}
	if err := mg.Export(ctx, &metricdata.ResourceMetrics{
		Resource: resGRPC,
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope:   instrumentation.Scope{Name: "e2e"},
			Metrics: []metricdata.Metrics{{Name: "queue.depth", Data: metricdata.Gauge[int64]{DataPoints: points}}},
		}},
	}); err != nil {
		t.Fatalf("otlpmetricgrpc: %v", err)
	}
	_ = mg.Shutdown(ctx)

	// Logs over HTTP, exported synchronously by a simple processor.
	lh, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(httpAddr), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(resHTTP), sdklog.WithProcessor(sdklog.NewSimpleProcessor(lh)))
	logger := lp.Logger("e2e")
	for i := range 5 {
		var r otellog.Record
		r.SetTimestamp(time.Unix(1_700_000_000, int64(i)))
		r.SetSeverity(otellog.SeverityWarn)
		r.SetBody(attribute.StringValue(fmt.Sprintf("disk almost full %d", i)))
		r.AddAttributes(attribute.String("disk", "/dev/sda"))
		logger.Emit(ctx, r)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("log provider shutdown: %v", err)
	}

	// Raw OTLP/JSON, as curl would send it: snake_case keys, a 64-bit
	// integer as a number, hex IDs.
	post := func(path, body string) {
		t.Helper()
		res, err := http.Post("http://"+httpAddr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: status %d", path, res.StatusCode)
		}
	}
	post("/v1/traces", `{"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"curl"}}]},
		"scope_spans":[{"spans":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174","name":"json-span",
		"kind":2,"start_time_unix_nano":1700000000000000000,"end_time_unix_nano":"1700000000250000000",
		"attributes":[{"key":"big","value":{"intValue":"9007199254740993"}}]}]}]}]}`)
	post("/v1/logs", `{"resourceLogs":[{"resource":{},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"stringValue":"json-log"}}]}]}]}`)

	if !sink.WaitItems(ctx, 6, 4, 6) {
		s, p, l := sink.Items()
		t.Fatalf("sink got %d spans, %d points, %d log records; want 6, 4, 6", s, p, l)
	}

	// Intact: IDs, names, attributes and resources as sent.
	found := map[string]bool{}
	for _, req := range sink.Traces {
		for _, rs := range req.ResourceSpans {
			svc, _ := attrString(rs.Resource.GetAttributes(), "service.name")
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					found[sp.Name] = true
					switch {
					case sp.Name == "json-span":
						if hex.EncodeToString(sp.TraceId) != "5b8efff798038103d269b633813fc60c" || hex.EncodeToString(sp.SpanId) != "eee19b7ec3c1b174" || svc != "curl" {
							t.Errorf("json-span arrived changed: trace %x span %x service %q", sp.TraceId, sp.SpanId, svc)
						}
						if v := sp.Attributes[0].Value.GetIntValue(); v != 9007199254740993 {
							t.Errorf("64-bit attribute arrived as %d", v)
						}
					case strings.HasPrefix(sp.Name, "grpc-"), strings.HasPrefix(sp.Name, "http-"):
						seed, want := byte(0xa1), "e2e-grpc"
						if strings.HasPrefix(sp.Name, "http-") {
							seed, want = 0xb2, "e2e-http"
						}
						if sp.TraceId[0] != seed || sp.SpanId[0] != seed || svc != want {
							t.Errorf("%s arrived changed: trace %x span %x service %q", sp.Name, sp.TraceId, sp.SpanId, svc)
						}
						if route, _ := attrString(sp.Attributes, "http.route"); route != "/cart" {
							t.Errorf("%s lost its http.route attribute: %v", sp.Name, sp.Attributes)
						}
					}
				}
			}
		}
	}
	for _, name := range []string{"grpc-0", "grpc-1", "grpc-2", "http-0", "http-1", "json-span"} {
		if !found[name] {
			t.Errorf("span %s never arrived", name)
		}
	}
	bodies := 0
	for _, req := range sink.Logs {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					if b := lr.Body.GetStringValue(); strings.HasPrefix(b, "disk almost full") || b == "json-log" {
						bodies++
					}
				}
			}
		}
	}
	if bodies != 6 {
		t.Errorf("found %d of 6 log bodies intact", bodies)
	}

	// /metrics answers over HTTP while running.
	if live := scrape(t, gw); sum(live, "otlpgw_receiver_accepted_items_total") != 16 {
		t.Errorf("live /metrics: accepted = %v, want 16", sum(live, "otlpgw_receiver_accepted_items_total"))
	}

	// The books balance once the gateway has drained.
	if err := shutdown(gw, 10*time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	m := gathered(t, gw)
	for _, c := range []struct {
		sig  string
		want float64
	}{{"traces", 6}, {"metrics", 4}, {"logs", 6}} {
		sl := label("signal", c.sig)
		accepted := sum(m, "otlpgw_receiver_accepted_items_total", sl)
		for _, exp := range []string{"upstream", "archive"} {
			el := label("exporter", exp)
			sent := sum(m, "otlpgw_exporter_sent_items_total", sl, el)
			failed := sum(m, "otlpgw_exporter_failed_items_total", sl, el)
			if accepted != c.want || sent != c.want || failed != 0 {
				t.Errorf("%s via %s: accepted %v, sent %v, failed %v; want %v, %v, 0", c.sig, exp, accepted, sent, failed, c.want, c.want)
			}
		}
	}

	// The file exporter wrote OTLP JSON lines that decode to the same items.
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var archived int
	for sc.Scan() {
		line := sc.Bytes()
		decoded := false
		for _, sig := range otlpwire.Signals {
			if !bytes.Contains(line, []byte(map[otlpwire.Signal]string{otlpwire.Traces: `"resourceSpans"`, otlpwire.Metrics: `"resourceMetrics"`, otlpwire.Logs: `"resourceLogs"`}[sig])) {
				continue
			}
			pb, err := otlpwire.JSONToProto(sig, line)
			if err != nil {
				t.Fatalf("archive line does not decode: %v", err)
			}
			n, err := otlpwire.CountItems(sig, pb)
			if err != nil {
				t.Fatal(err)
			}
			archived += n
			decoded = true
		}
		if !decoded {
			t.Fatalf("archive line of no known signal: %.80s", line)
		}
	}
	if archived != 16 {
		t.Errorf("archive holds %d items, want 16", archived)
	}
}
