package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// wasmCache is the compilation cache the tests' gateways share: compiling
// a Go guest takes seconds (tens under the race detector), once.
var wasmCache = filepath.Join(os.TempDir(), "otlpgw-gateway-test-cache")

var (
	wasmMu    sync.Mutex
	wasmBuilt = map[string]string{}
	wasmDir   string // removed by TestMain
)

// buildWasm builds the Go package at dir (relative to the repository root)
// as a filter module, once per test binary, and returns the .wasm path.
func buildWasm(t *testing.T, dir string) string {
	t.Helper()
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if p, ok := wasmBuilt[dir]; ok {
		return p
	}
	if wasmDir == "" {
		d, err := os.MkdirTemp("", "otlpgw-gateway-test-wasm-")
		if err != nil {
			t.Fatal(err)
		}
		wasmDir = d
	}
	out := filepath.Join(wasmDir, filepath.Base(dir)+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join("..", dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", dir, err, b)
	}
	wasmBuilt[dir] = out
	return out
}

func healthSpans(seed uint64) *coltrace.ExportTraceServiceRequest {
	req := otlptest.Traces(1, 10, 2, seed)
	for i, sp := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		if i%5 == 0 {
			sp.Name = "healthcheck"
		}
	}
	return req // 10 spans, 2 of them health checks
}

// TestFilterDropsAreReportedAsPartialSuccess runs the SDK's example filter
// (built from source by the Go toolchain) in the gateway: it tags spans and
// drops health checks. Clients learn of the drops through OTLP partial
// success, over gRPC and over HTTP/JSON, and the books balance.
func TestFilterDropsAreReportedAsPartialSuccess(t *testing.T) {
	tagger := buildWasm(t, "sdk/examples/tagger")
	sink := otlpsink.Start(t)
	gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 10ms}
filters:
  - {name: tagger, module: %q, timeout: 10s, config: {team: payments}}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, tagger, sink.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	resp, err := traceClient(t, gw).Export(ctx, healthSpans(1))
	if err != nil {
		t.Fatal(err)
	}
	ps := resp.GetPartialSuccess()
	if ps.GetRejectedSpans() != 2 || !strings.Contains(ps.GetErrorMessage(), "filter[tagger]") {
		t.Fatalf("gRPC partial success = %v, want 2 rejected spans naming filter[tagger]", ps)
	}

	// OTLP/JSON (hex IDs), as an SDK's HTTP/JSON exporter sends it.
	body, err := otlpwire.ProtoToJSON(otlpwire.Traces, otlptest.Marshal(healthSpans(2)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+gw.HTTPAddr().String()+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var hresp coltrace.ExportTraceServiceResponse
	if err := protojson.Unmarshal(raw, &hresp); err != nil || res.StatusCode != 200 {
		t.Fatalf("HTTP answer %d %q: %v", res.StatusCode, raw, err)
	}
	if hresp.GetPartialSuccess().GetRejectedSpans() != 2 {
		t.Fatalf("HTTP partial success = %s, want 2 rejected spans", raw)
	}

	if !sink.WaitItems(ctx, 16, 0, 0) {
		t.Fatal("the kept spans never arrived")
	}
	if err := shutdown(gw, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, req := range sink.Traces {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if sp.Name == "healthcheck" {
						t.Errorf("a health check span reached the upstream")
					}
					if team, _ := attrString(sp.Attributes, "team"); team != "payments" {
						t.Errorf("span %s arrived without team=payments: %v", sp.Name, sp.Attributes)
					}
				}
			}
		}
	}
	if s, _, _ := sink.Items(); s != 16 {
		t.Errorf("sink holds %d spans, want 16", s)
	}
	m := gathered(t, gw)
	fl := label("filter", "tagger")
	if d := sum(m, "otlpgw_filter_items_total", fl, label("outcome", "dropped")); d != 4 {
		t.Errorf("filter_items_total{outcome=dropped} = %v, want 4", d)
	}
	if d, all := sum(m, "otlpgw_filter_dropped_items_total", fl, label("reason", "healthcheck")), sum(m, "otlpgw_filter_dropped_items_total"); d != 4 || all != 4 {
		t.Errorf("filter_dropped_items_total{reason=healthcheck} = %v of %v, want 4 of 4", d, all)
	}
	accepted := sum(m, "otlpgw_receiver_accepted_items_total")
	sent := sum(m, "otlpgw_exporter_sent_items_total")
	dropped := sum(m, "otlpgw_filter_items_total", label("outcome", "dropped"))
	if accepted != sent+dropped || accepted != 20 {
		t.Errorf("books: accepted %v != exported %v + dropped by filters %v", accepted, sent, dropped)
	}
}

// TestBulkOnlyExampleFilter runs the SDK's second example, which only
// sends batch-wide edits, from source through the gateway: health checks
// are dropped and reported, e-mail addresses arrive hashed and card
// numbers masked, and the drops are counted by reason.
func TestBulkOnlyExampleFilter(t *testing.T) {
	guard := buildWasm(t, "sdk/examples/edgeguard")
	sink := otlpsink.Start(t)
	gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 10ms}
filters:
  - {name: guard, module: %q, timeout: 10s, signals: [traces], config: {hash_salt: pepper}}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, guard, sink.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := otlptest.Traces(1, 4, 1, 7)
	spans := req.ResourceSpans[0].ScopeSpans[0].Spans
	spans[0].Name = "GET /healthz"
	spans[1].Attributes = []*commonpb.KeyValue{
		{Key: "user.email", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "bob@example.com"}}},
		{Key: "note", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "paid with 4111 1111 1111 1111"}}},
	}
	resp, err := traceClient(t, gw).Export(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() != 1 || ps.GetErrorMessage() != "filter[guard]: health check" {
		t.Fatalf("partial success %v, want 1 span rejected for filter[guard]: health check", ps)
	}
	if !sink.WaitItems(ctx, 3, 0, 0) {
		t.Fatal("the kept spans never arrived")
	}
	if err := shutdown(gw, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("pepperbob@example.com"))
	found := false
	for _, r := range sink.Traces {
		for _, sp := range r.ResourceSpans[0].ScopeSpans[0].Spans {
			if email, ok := attrString(sp.Attributes, "user.email"); ok {
				note, _ := attrString(sp.Attributes, "note")
				found = email == hex.EncodeToString(digest[:]) && note == "paid with ****"
			}
		}
	}
	if !found {
		t.Errorf("the span with an e-mail and a card number did not arrive hashed and masked: %v", sink.Traces)
	}
	m := gathered(t, gw)
	if d := sum(m, "otlpgw_filter_dropped_items_total", label("filter", "guard"), label("reason", "health check")); d != 1 {
		t.Errorf("filter_dropped_items_total{filter=guard,reason=health check} = %v, want 1", d)
	}
}

// TestHostileFilterUnderLoad loads a module that never returns under each
// on_error policy and keeps traffic on the gateway: every call is stopped
// at its deadline, counted as a timeout, and the policy decides the batch.
// Nothing accepted is lost.
func TestHostileFilterUnderLoad(t *testing.T) {
	loop := buildWasm(t, "wasmhost/testdata/modules/loop")
	for _, policy := range []string{"pass", "drop", "reject"} {
		t.Run(policy, func(t *testing.T) {
			sink := otlpsink.Start(t)
			gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 10ms}
filters:
  - {name: stuck, module: %q, timeout: 100ms, on_error: %s, signals: [traces]}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, loop, policy, sink.Addr()))
			client := traceClient(t, gw)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var wg sync.WaitGroup
			var mu sync.Mutex
			var okSpans, rejectedSpans, refused int
			var slowest time.Duration
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5 {
						start := time.Now()
						resp, err := client.Export(ctx, otlptest.Traces(1, 10, 1, uint64(w*100+i)))
						took := time.Since(start)
						mu.Lock()
						slowest = max(slowest, took)
						switch {
						case err == nil:
							okSpans += 10 - int(resp.GetPartialSuccess().GetRejectedSpans())
							rejectedSpans += int(resp.GetPartialSuccess().GetRejectedSpans())
						case status.Code(err) == codes.InvalidArgument:
							refused += 10
						default:
							t.Errorf("unexpected answer: %v", err)
						}
						mu.Unlock()
					}
				}()
			}
			// Other signals do not go through the stuck filter and flow freely.
			// Metrics do not go through the traces-only stuck filter.
			if _, err := exportMetrics(ctx, t, gw); err != nil {
				t.Errorf("metrics export while the traces filter is stuck: %v", err)
			}
			wg.Wait()
			switch policy {
			case "pass":
				if okSpans < 200 || rejectedSpans != 0 {
					t.Errorf("pass: %d spans accepted, %d rejected; want all accepted", okSpans, rejectedSpans)
				}
			case "drop":
				if rejectedSpans != 200 {
					t.Errorf("drop: %d spans reported rejected, want 200", rejectedSpans)
				}
			case "reject":
				if refused != 200 {
					t.Errorf("reject: %d spans refused with INVALID_ARGUMENT, want 200", refused)
				}
			}
			// Four instances at most (one per core by default) serve 20 calls
			// of 100 ms each; a stuck call that was not stopped would hang
			// until ctx ends. The bound is that hang net only: on a loaded
			// machine the queue of 100 ms calls can take seconds to clear,
			// and filter_failures_total below shows each was timed out.
			if slowest > 30*time.Second {
				t.Errorf("slowest export took %v: stuck guests are not stopped at their deadline", slowest)
			}
			if err := shutdown(gw, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			m := gathered(t, gw)
			if n := m[`otlpgw_filter_failures_total{filter="stuck",kind="timeout"}`]; n < 20 {
				t.Errorf("filter_failures_total{kind=timeout} = %v, want >= 20", n)
			}
			if s, _, _ := sink.Items(); s != okSpans {
				t.Errorf("sink holds %d spans, clients were told %d were accepted", s, okSpans)
			}
		})
	}
}

func exportMetrics(ctx context.Context, t *testing.T, gw *gateway.Gateway) (*colmetrics.ExportMetricsServiceResponse, error) {
	conn, err := grpc.NewClient(gw.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return colmetrics.NewMetricsServiceClient(conn).Export(ctx, otlptest.Metrics(1, 3, 1))
}

// TestHostileModulesUnderLoad runs each misbehaving module in the real
// gateway while clients keep sending: the failure is counted by kind, the
// on_error policy (pass) forwards the data, no client sees an error, and
// the gateway keeps serving. Modules that must not load at all are refused
// by a reload, which leaves the running configuration serving.
func TestHostileModulesUnderLoad(t *testing.T) {
	for _, c := range []struct{ module, kind, memory string }{
		{"oom", "oom", "16MiB"},
		{"panic", "trap", "64MiB"},
		{"badptr", "bad_output", "64MiB"},
		{"garbage", "bad_output", "64MiB"},
		{"oversize", "bad_output", "64MiB"},
	} {
		t.Run(c.module, func(t *testing.T) {
			mod := buildWasm(t, "wasmhost/testdata/modules/"+c.module)
			sink := otlpsink.Start(t)
			gw := startGateway(t, fmt.Sprintf(`
batch: {timeout: 10ms}
filters:
  - {name: hostile, module: %q, timeout: 30s, memory_limit: %s, on_error: pass, signals: [traces]}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, mod, c.memory, sink.Addr()))
			client := traceClient(t, gw)
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 4 {
						if _, err := client.Export(context.Background(), otlptest.Traces(1, 10, 1, uint64(w*10+i))); err != nil {
							t.Errorf("client error with a %s module and on_error: pass: %v", c.module, err)
						}
					}
				}()
			}
			wg.Wait()
			if err := shutdown(gw, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			m := gathered(t, gw)
			// The filter timeout (30s) is a hang net only: with a short one,
			// a guest allocating towards its limit on a loaded machine is
			// timed out before it reaches it, and counts as a timeout.
			// Every batch fails. After five failures in a row the module is
			// backed off (crash-loop policy), so later batches may fail as
			// timeouts waiting for an instance instead.
			if n := m[`otlpgw_filter_failures_total{filter="hostile",kind="`+c.kind+`"}`]; n < 5 {
				t.Errorf("filter_failures_total{kind=%s} = %v, want at least 5", c.kind, n)
			}
			if n := sum(m, "otlpgw_filter_failures_total", label("filter", "hostile")); n != 12 {
				t.Errorf("filter_failures_total = %v over all kinds, want 12 (one per batch)", n)
			}
			if s, _, _ := sink.Items(); s != 120 {
				t.Errorf("sink holds %d spans, want all 120 passed on", s)
			}
		})
	}
}
