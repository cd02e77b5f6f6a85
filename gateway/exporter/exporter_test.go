package exporter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Exporter
		want string
	}{
		{"type", config.Exporter{Name: "x", Type: "kafka"}, `exporter[x]: unknown type "kafka"`},
		{"grpc compression", config.Exporter{Name: "x", Type: "otlp", Endpoint: "127.0.0.1:1", Compression: "lz4", TLS: config.TLS{Insecure: true}}, `compression: unknown "lz4"`},
		{"http compression", config.Exporter{Name: "x", Type: "otlphttp", Endpoint: "http://127.0.0.1:1", Compression: "br"}, `compression: unknown "br"`},
		{"file path", config.Exporter{Name: "x", Type: "file"}, "path: must be set"},
		{"ca file", config.Exporter{Name: "x", Type: "otlp", Endpoint: "127.0.0.1:1", TLS: config.TLS{CAFile: "/nonexistent/ca.pem"}}, "tls.ca_file"},
		{"half a key pair", config.Exporter{Name: "x", Type: "otlphttp", Endpoint: "https://h", TLS: config.TLS{CertFile: "c.pem"}}, "cert_file and key_file must be set together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, noLinger, 1<<20, Settings{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestWaitForReady checks wait_for_ready fails New against a dead
// endpoint within the exporter timeout, and passes against a live one.
func TestWaitForReady(t *testing.T) {
	cfg := testCfg("otlp", deadAddr(t))
	cfg.WaitForReady = true
	cfg.Timeout = 200 * time.Millisecond
	if _, err := New(cfg, noLinger, 1<<20, Settings{}); err == nil || !strings.Contains(err.Error(), "wait_for_ready") {
		t.Fatalf("New against a dead endpoint = %v, want a wait_for_ready error", err)
	}
	up := startGRPCUpstream(t)
	cfg.Endpoint = up.addr
	cfg.Timeout = 5 * time.Second
	e, err := New(cfg, noLinger, 1<<20, Settings{})
	if err != nil {
		t.Fatalf("New against a live endpoint: %v", err)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycle: Shutdown without Start, twice, Start after Shutdown, and
// Start → Shutdown → Start; goleak (TestMain) checks nothing is left.
func TestLifecycle(t *testing.T) {
	up := startGRPCUpstream(t)
	for _, typ := range []string{"otlp", "otlphttp", "debug", "file"} {
		t.Run(typ, func(t *testing.T) {
			cfg := testCfg(typ, up.addr)
			cfg.Path = filepath.Join(t.TempDir(), "out.jsonl")
			if typ == "otlphttp" {
				cfg.Endpoint = "http://" + up.addr
			}
			e, err := New(cfg, noLinger, 1<<20, Settings{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown without Start: %v", err)
			}
			if err := e.Shutdown(context.Background()); err != nil {
				t.Fatalf("second Shutdown: %v", err)
			}
			e.Start() // after Shutdown: nothing starts

			e2, err := New(cfg, noLinger, 1<<20, Settings{})
			if err != nil {
				t.Fatal(err)
			}
			e2.Start()
			e2.Start()
			if err := e2.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown after Start: %v", err)
			}
			e2.Start()
		})
	}
}

// TestShutdownWithoutStartCountsQueued: items queued to an exporter that
// never started are lost, and said so.
func TestShutdownWithoutStartCountsQueued(t *testing.T) {
	tm := telemetry.NewMetrics()
	e, err := New(testCfg("debug", ""), noLinger, 1<<20, Settings{Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	push(t, e, otlpwire.Logs, logsReq(t, 3), 3)
	push(t, e, otlpwire.Metrics, metricsReq(t, 2), 2)
	err = e.Shutdown(context.Background())
	if err == nil || !strings.Contains(err.Error(), "5 items undelivered") {
		t.Fatalf("Shutdown = %v, want 5 items undelivered", err)
	}
	if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "logs", "shutdown")); v != 3 {
		t.Fatalf("failed{logs,shutdown} = %v, want 3", v)
	}
	if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "metrics", "shutdown")); v != 2 {
		t.Fatalf("failed{metrics,shutdown} = %v, want 2", v)
	}
}

func TestQueueGauges(t *testing.T) {
	cfg := testCfg("debug", "")
	cfg.Concurrency = config.Concurrency{Mode: "adaptive", Max: 8}
	e, tm, _ := newTestExporter(t, cfg, noLinger)
	req := logsReq(t, 4)
	push(t, e, otlpwire.Logs, req, 4)
	e.UpdateGauges()
	if v := testutil.ToFloat64(tm.QueueSize.WithLabelValues("up")); v != float64(len(req)) {
		t.Fatalf("queue_size_bytes = %v, want %d", v, len(req))
	}
	if v := testutil.ToFloat64(tm.QueueItems.WithLabelValues("up")); v != 4 {
		t.Fatalf("queue_size_items = %v, want 4", v)
	}
	e.Start()
	drain(t, e)
	if v := testutil.ToFloat64(tm.QueueItems.WithLabelValues("up")); v != 0 {
		t.Fatalf("queue_size_items after drain = %v", v)
	}
	// Adaptive starts at 4 and, in slow start, adds one per success.
	if v := testutil.ToFloat64(tm.ExporterConcurrency.WithLabelValues("up")); v != 5 {
		t.Fatalf("exporter_concurrency in adaptive mode after one delivered batch = %v, want 5", v)
	}
}

// TestFileSender writes every signal through the exporter, with
// concurrent workers, and reads the lines back as OTLP.
func TestFileSender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	cfg := testCfg("file", "")
	cfg.Path = path
	cfg.Concurrency.Max = 4
	e, tm, _ := newTestExporter(t, cfg, config.Batch{MaxItems: 3})
	const n = 20
	for i := range n {
		push(t, e, otlpwire.Traces, tracesReq(t, fmt.Sprint("f", i), 3), 3)
	}
	push(t, e, otlpwire.Metrics, metricsReq(t, 2), 2)
	push(t, e, otlpwire.Logs, logsReq(t, 5), 5)
	e.Start()
	drain(t, e)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Fatalf("file mode %v, want at most 0640", perm)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	spans, points, records, lines := 0, 0, 0, 0
	for sc.Scan() {
		lines++
		line := sc.Bytes()
		// Each line is one OTLP JSON request; try each signal's shape.
		switch {
		case strings.Contains(string(line), `"resourceSpans"`):
			pb, err := otlpwire.JSONToProto(otlpwire.Traces, line)
			if err != nil {
				t.Fatalf("line %d: %v", lines, err)
			}
			spans += len(spanNames(decodeTraces(t, pb)))
		case strings.Contains(string(line), `"resourceMetrics"`):
			pb, err := otlpwire.JSONToProto(otlpwire.Metrics, line)
			if err != nil {
				t.Fatalf("line %d: %v", lines, err)
			}
			var m colmetricspb.ExportMetricsServiceRequest
			if err := proto.Unmarshal(pb, &m); err != nil {
				t.Fatal(err)
			}
			points += len(m.GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0].GetSum().GetDataPoints())
		case strings.Contains(string(line), `"resourceLogs"`):
			pb, err := otlpwire.JSONToProto(otlpwire.Logs, line)
			if err != nil {
				t.Fatalf("line %d: %v", lines, err)
			}
			var l collogspb.ExportLogsServiceRequest
			if err := proto.Unmarshal(pb, &l); err != nil {
				t.Fatal(err)
			}
			records += len(l.GetResourceLogs()[0].GetScopeLogs()[0].GetLogRecords())
		default:
			t.Fatalf("line %d is not an OTLP request: %.80s", lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if spans != n*3 || points != 2 || records != 5 || lines != n+2 {
		t.Fatalf("read back %d lines: %d spans, %d points, %d records; want %d lines: %d, 2, 5", lines, spans, points, records, n+2, n*3)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != n*3 {
		t.Fatalf("sent = %v", v)
	}
}

func TestFileSenderErrorsArePermanent(t *testing.T) {
	s, err := newFileSender(config.Exporter{Path: filepath.Join(t.TempDir(), "f.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = s.Send(context.Background(), otlpwire.Traces, tracesReq(t, "c", 1), 1)
	if err == nil {
		t.Fatal("Send after Close succeeded")
	}
	if r, _ := IsRetryable(err); r {
		t.Fatalf("file error %v is retryable", err)
	}
	if _, err := newFileSender(config.Exporter{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "f.jsonl")}); err == nil {
		t.Fatal("opening a file in a missing directory succeeded")
	}
}

// recordChan is a slog.Handler that hands every record to a channel, so
// a test can wait for a log line instead of sleeping.
type recordChan chan slog.Record

func (c recordChan) Enabled(context.Context, slog.Level) bool { return true }
func (c recordChan) Handle(_ context.Context, r slog.Record) error {
	c <- r.Clone()
	return nil
}
func (c recordChan) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c recordChan) WithGroup(string) slog.Handler      { return c }

func attrs(r slog.Record) map[string]slog.Value {
	m := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value
		return true
	})
	return m
}

// TestDebugSenderSummaryTicks waits for the periodic summary (10ms here)
// and checks it counts what was sent, per signal, and only signals seen.
func TestDebugSenderSummaryTicks(t *testing.T) {
	logs := make(recordChan, 16)
	s := newDebugSender(config.Exporter{}, slog.New(logs), 10*time.Millisecond)
	defer s.Close()
	for range 3 {
		if _, err := s.Send(context.Background(), otlpwire.Logs, logsReq(t, 7), 7); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-logs:
		a := attrs(r)
		if r.Message != "debug exporter summary" || a["signal"].String() != "logs" || a["log records"].Int64() != 21 || a["requests"].Int64() != 3 {
			t.Fatalf("summary = %s %v", r.Message, a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no summary logged")
	}
}

// TestDebugSenderFlushOnClose checks Close logs what the last period
// gathered, so a short run still shows its data.
func TestDebugSenderFlushOnClose(t *testing.T) {
	logs := make(recordChan, 16)
	s := newDebugSender(config.Exporter{}, slog.New(logs), time.Hour)
	s.Send(context.Background(), otlpwire.Traces, tracesReq(t, "a", 2), 2)
	s.Send(context.Background(), otlpwire.Metrics, metricsReq(t, 5), 5)
	s.Close()
	close(logs)
	got := map[string]int64{}
	for r := range logs {
		a := attrs(r)
		got[a["signal"].String()] = a["requests"].Int64()
		switch a["signal"].String() {
		case "traces":
			if a["spans"].Int64() != 2 {
				t.Fatalf("traces summary %v", a)
			}
		case "metrics":
			if a["data points"].Int64() != 5 {
				t.Fatalf("metrics summary %v", a)
			}
		}
	}
	if len(got) != 2 || got["traces"] != 1 || got["metrics"] != 1 {
		t.Fatalf("summaries = %v, want one per signal seen", got)
	}
}

// TestDebugSenderDetailed checks verbosity detailed logs each batch as
// OTLP JSON that converts back to the same request.
func TestDebugSenderDetailed(t *testing.T) {
	logs := make(recordChan, 16)
	s := newDebugSender(config.Exporter{Verbosity: "detailed"}, slog.New(logs), time.Hour)
	defer s.Close()
	if _, err := s.Send(context.Background(), otlpwire.Traces, tracesReq(t, "d", 3), 3); err != nil {
		t.Fatal(err)
	}
	r := <-logs
	a := attrs(r)
	raw, ok := a["otlp_json"].Any().(json.RawMessage)
	if r.Message != "batch" || !ok {
		t.Fatalf("detailed log = %s %v", r.Message, a)
	}
	pb, err := otlpwire.JSONToProto(otlpwire.Traces, raw)
	if err != nil {
		t.Fatal(err)
	}
	if names := spanNames(decodeTraces(t, pb)); len(names) != 3 || names[0] != "d/0" {
		t.Fatalf("spans in the logged JSON = %v", names)
	}
	if _, err := s.Send(context.Background(), otlpwire.Traces, []byte{0xff, 0xff}, 1); err == nil {
		t.Fatal("detailed debug accepted a malformed request")
	}
}

// BenchmarkExportConcatenated measures the runtime's own cost per batch:
// queue hand-off, concatenation of 8 entries, accounting, with the debug
// sender (basic) as a sink that costs two atomic adds.
func BenchmarkExportConcatenated(b *testing.B) {
	tm := telemetry.NewMetrics()
	e, err := New(config.Exporter{Name: "bench", Type: "debug", Concurrency: config.Concurrency{Max: 1}}, config.Batch{MaxItems: 80}, 64<<20, Settings{Metrics: tm})
	if err != nil {
		b.Fatal(err)
	}
	req := tracesReq(b, "bench", 10)
	entries := make([]queue.Entry, 8)
	for i := range entries {
		entries[i] = entry(otlpwire.Traces, req, 10)
	}
	e.Start()
	b.SetBytes(int64(len(req) * len(entries)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for !e.Queue().Reserve(int64(len(req) * len(entries))) {
			runtime.Gosched() // the queue is full: let the worker catch up
		}
		e.Queue().Push(entries...)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}
