package wasmhost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// modules maps a test module's name (its folder under testdata/modules) to
// its built .wasm path. TestMain builds every one once per test binary.
var modules = map[string]string{}

// cacheDir is the compilation cache shared by the test runtimes. It lives
// on between runs (it is keyed by module hash and wazero version), because
// under the race detector wazero compiles a Go module in 10-20 s instead
// of 0.5 s; delete it freely.
var cacheDir = filepath.Join(os.TempDir(), "otlpgw-wasmhost-test-cache")

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "wasmhost-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := buildModules(dir); err != nil {
		return 0, err
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			return 0, fmt.Errorf("goleak: %w", err)
		}
	}
	return code, nil
}

// buildModules builds testdata/modules/* with the Go toolchain running the
// tests, two at a time (the build machines have two cores).
func buildModules(dir string) error {
	entries, err := os.ReadDir("testdata/modules")
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
		sem  = make(chan struct{}, 2)
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		out := filepath.Join(dir, name+".wasm")
		modules[name] = out
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/modules/"+name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("build %s: %v\n%s", name, err, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// newRuntime returns a Runtime on the shared cache, closed when the test
// ends, with its logs captured.
func newRuntime(t testing.TB) (*Runtime, *logRecorder) {
	t.Helper()
	logs := &logRecorder{}
	rt, err := NewRuntime(context.Background(), RuntimeConfig{
		CacheDir: cacheDir,
		Logger:   slog.New(logs),
		Builtins: map[string][]byte{"good": mustRead(t, modules["good"])},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("runtime close: %v", err)
		}
	})
	return rt, logs
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// load loads a test module by name with cfg's other fields; the filter is
// closed when the test ends. Its timeout defaults to 2 s, not 50 ms, so
// that tests not about timing pass on a loaded machine and under the race
// detector.
// hangBound is how long a test lets a call that must end by itself take
// before calling it hung. It is a safety net, not a claim about speed: a
// loaded 2-core CI machine running -race can be very slow.
const hangBound = 30 * time.Second

func load(t testing.TB, rt *Runtime, module string, cfg LoadConfig, host HostEnv) *Filter {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = module
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Module = modules[module]
	f, err := rt.Load(context.Background(), cfg, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRec
}

type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &boundHandler{l: l, attrs: as}
}
func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// find returns the first record whose message contains s.
func (l *logRecorder) find(s string) (logRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if strings.Contains(r.msg, s) {
			return r, true
		}
	}
	return logRec{}, false
}

type boundHandler struct {
	l     *logRecorder
	attrs []slog.Attr
}

func (b *boundHandler) Enabled(context.Context, slog.Level) bool { return true }
func (b *boundHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(b.attrs...)
	return b.l.Handle(ctx, r)
}
func (b *boundHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &boundHandler{l: b.l, attrs: append(append([]slog.Attr(nil), b.attrs...), as...)}
}
func (b *boundHandler) WithGroup(string) slog.Handler { return b }

// testHost is a HostEnv that records what filters tell it.
type testHost struct {
	mu       sync.Mutex
	pressure float64
	reports  []string // "status msg"
	metrics  map[string]*testMetric
}

type testMetric struct {
	mu    sync.Mutex
	kind  MetricKind
	added float64
	last  float64
}

func (m *testMetric) Add(v float64) {
	m.mu.Lock()
	m.added += v
	m.mu.Unlock()
}

func (m *testMetric) Record(v float64) {
	m.mu.Lock()
	m.last = v
	m.mu.Unlock()
}

func newTestHost() *testHost { return &testHost{metrics: map[string]*testMetric{}} }

func (h *testHost) Pressure() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pressure
}
func (h *testHost) Health() int { return GatewayHealthy }
func (h *testHost) DefineMetric(filter string, kind MetricKind, name, help string) (MetricHandle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := filter + "/" + name
	if m, ok := h.metrics[key]; ok {
		return m, nil
	}
	m := &testMetric{kind: kind}
	h.metrics[key] = m
	return m, nil
}
func (h *testHost) Report(filter string, status int, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, fmt.Sprintf("%s %d %s", filter, status, msg))
}

// metric returns a metric's kind and its sum of Adds.
func (h *testHost) metric(key string) (MetricKind, float64, bool) {
	h.mu.Lock()
	m, ok := h.metrics[key]
	h.mu.Unlock()
	if !ok {
		return 0, 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kind, m.added, true
}
func (h *testHost) reported() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reports...)
}

func str(v string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
}

func kv(k, v string) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: str(v)} }

// traces builds one resource and scope holding len(names) spans, each with
// attributes user=bob, and password=hunter2 when withPassword.
func traces(withPassword bool, names ...string) *coltrace.ExportTraceServiceRequest {
	ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "lib"}}
	for i, n := range names {
		attrs := []*commonpb.KeyValue{kv("user", "bob")}
		if withPassword {
			attrs = append(attrs, kv("password", "hunter2"))
		}
		attrs = append(attrs, kv("http.method", "GET"))
		ss.Spans = append(ss.Spans, &tracepb.Span{
			TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)},
			SpanId:  []byte{1, 2, 3, 4, 5, 6, 7, byte(i)},
			Name:    n, Attributes: attrs,
		})
	}
	return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "svc")}},
		ScopeSpans: []*tracepb.ScopeSpans{ss},
	}}}
}

func logsReq(withPassword bool, n int) *collogs.ExportLogsServiceRequest {
	sl := &logspb.ScopeLogs{}
	for range n {
		attrs := []*commonpb.KeyValue{kv("user", "bob")}
		if withPassword {
			attrs = append(attrs, kv("password", "hunter2"))
		}
		sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{Body: str("hello"), Attributes: attrs})
	}
	return &collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{sl}}}}
}

func metricsReq(withPassword bool) *colmetrics.ExportMetricsServiceRequest {
	attrs := []*commonpb.KeyValue{kv("user", "bob")}
	if withPassword {
		attrs = append(attrs, kv("password", "hunter2"))
	}
	return &colmetrics.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "requests",
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{
				Attributes: attrs, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 1},
			}}}},
		}}}},
	}}}
}

// batch encodes m and indexes it as sig.
func batch(t testing.TB, sig otlpwire.Signal, m proto.Message) ([]byte, *otlpwire.Index) {
	t.Helper()
	req, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ix := &otlpwire.Index{}
	if err := ix.Parse(sig, req); err != nil {
		t.Fatal(err)
	}
	return req, ix
}

// attrKeys returns every span attribute key of an encoded traces request.
func spanAttrKeys(t testing.TB, req []byte) []string {
	t.Helper()
	var m coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(req, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, rs := range m.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				for _, a := range s.Attributes {
					keys = append(keys, a.Key)
				}
			}
		}
	}
	return keys
}

// waitFree waits until f's pool holds n free instances (the ones Load
// starts in the background are made).
func waitFree(t testing.TB, f *Filter, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for f.pool.Free() < n {
		if time.Now().After(deadline) {
			t.Fatalf("pool has %d free instances after a minute, want %d", f.pool.Free(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
