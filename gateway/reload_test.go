package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/freeport"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
)

// reloadable is a gateway started from a config file the test rewrites.
type reloadable struct {
	gw   *gateway.Gateway
	file string
	base string
}

// startReloadable starts a gateway on loopback from one file holding
// base+body; rewrite swaps the body. reload is the file's reload section:
// tests that reload explicitly turn the file watcher off, or it would race
// them (a second reload while one runs is refused).
func startReloadable(t *testing.T, body, reload string) *reloadable {
	t.Helper()
	base := fmt.Sprintf(`
receivers:
  otlp:
    grpc: {endpoint: %q}
    http: {endpoint: %q}
admin: {endpoint: 127.0.0.1:0}
shutdown_timeout: 10s
batch: {timeout: 10ms}
reload: %s
`, freeAddr(t), freeAddr(t), reload)
	r := &reloadable{file: filepath.Join(t.TempDir(), "otlpgw.yaml"), base: base}
	r.rewrite(t, body)
	cfg, err := config.Load([]string{r.file}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheDir: wasmCache, ConfigFiles: []string{r.file}, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 15*time.Second) })
	r.gw = gw
	return r
}

func noEnv(string) (string, bool) { return "", false }

func freeAddr(t *testing.T) string { return freeport.Addr(t) }

// rewrite replaces the file the way editors do: write aside, rename over.
func (r *reloadable) rewrite(t *testing.T, body string) {
	t.Helper()
	tmp := r.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(r.base+body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.file); err != nil {
		t.Fatal(err)
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestReloadUnderLoadLosesNothing reloads 50 times while OpenTelemetry SDK
// clients (gRPC and HTTP) keep sending: filters and exporters are added,
// removed, reordered and changed. Every acknowledged span reaches the
// upstream whose exporter never changed, dropped ones are reported as
// partial success, no client sees an error, and files and goroutines
// return to their baseline.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	tagger := buildWasm(t, "sdk/examples/tagger")
	up := otlpsink.Start(t)
	second := otlpsink.Start(t)
	fdsBefore := openFiles(t)
	heapBefore := heapAfterGC()
	upExp := fmt.Sprintf("  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}}\n", up.Addr())
	secondExp := fmt.Sprintf("  - {name: second, type: otlp, endpoint: %q, tls: {insecure: true}, compression: zstd}\n", second.Addr())
	configs := []string{
		"exporters:\n" + upExp,
		"filters:\n  - {name: tag, module: " + tagger + ", timeout: 10s, config: {team: a}}\nexporters:\n" + upExp,
		"filters:\n  - {name: tag, module: " + tagger + ", timeout: 10s, config: {team: b}}\nexporters:\n" + upExp + secondExp,
		"filters:\n  - {name: tag2, module: " + tagger + ", timeout: 10s, config: {team: c}}\n  - {name: tag, module: " + tagger + ", timeout: 10s, config: {team: d}}\nexporters:\n" + secondExp + upExp,
		"exporters:\n" + upExp + secondExp,
	}
	r := startReloadable(t, configs[0], "{watch: false}")
	gw := r.gw

	var acked, rejected atomic.Int64
	var clientErrs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// gRPC: generated client, so the test can read partial success.
	client := traceClient(t, gw)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Export(context.Background(), healthSpans(uint64(1_000_000+i)))
			if err != nil {
				clientErrs.Add(1)
				t.Errorf("gRPC client saw an error during reloads: %v", err)
				return
			}
			rej := resp.GetPartialSuccess().GetRejectedSpans()
			acked.Add(10 - rej)
			rejected.Add(rej)
		}
	}()
	// HTTP: the official SDK exporter.
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(gw.HTTPAddr().String()), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "reload-sdk"))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := exp.ExportSpans(context.Background(), spanStubs(res, 5, fmt.Sprintf("sdk-%d", i), byte(i))); err != nil {
				clientErrs.Add(1)
				t.Errorf("SDK client saw an error during reloads: %v", err)
				return
			}
			acked.Add(5) // span names never match the tagger's drop rule
		}
	}()

	for i := 1; i <= 50; i++ {
		r.rewrite(t, configs[i%len(configs)])
		if _, err := gw.Reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	_ = exp.Shutdown(context.Background())
	if got := gw.Generation(); got < 51 {
		t.Errorf("generation = %d after 50 reloads", got)
	}
	want := int(acked.Load())
	if err := shutdown(gw, 20*time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if s, _, _ := up.Items(); s != want {
		t.Errorf("upstream got %d spans, clients were told %d were accepted (%d reported rejected)", s, want, rejected.Load())
	}
	m := gathered(t, gw)
	if n := m[`otlpgw_config_reloads_total{result="success"}`]; n != 50 {
		t.Errorf("config_reloads_total{success} = %v, want 50", n)
	}
	accepted := sum(m, "otlpgw_receiver_accepted_items_total")
	dropped := sum(m, "otlpgw_filter_items_total", label("outcome", "dropped"))
	if int(accepted-dropped) != want || int(dropped) != int(rejected.Load()) {
		t.Errorf("books: accepted %v - dropped by filters %v != acknowledged %d (rejected reported %d)", accepted, dropped, want, rejected.Load())
	}
	if after := openFiles(t); after > fdsBefore+2 {
		t.Errorf("open files grew from %d to %d over 50 reloads", fdsBefore, after)
	}
	// Every retired generation (filter instances of ~10 MB each, queues,
	// connections) must be collectable once the gateway is down. The
	// sinks' records of what they received are not the gateway's.
	up.Forget()
	second.Forget()
	grown := int64(heapAfterGC()) - int64(heapBefore)
	t.Logf("heap after 50 reloads and shutdown: %+d KiB", grown>>10)
	if grown > 16<<20 {
		t.Errorf("heap grew by %d MiB over 50 reloads and shutdown", grown>>20)
	}
}

// TestBadReloadsChangeNothing: each broken config fails the reload with a
// precise error, counted by result, and the running generation keeps
// serving.
func TestBadReloadsChangeNothing(t *testing.T) {
	abi7 := buildWasm(t, "wasmhost/testdata/modules/abi7")
	sink := otlpsink.Start(t)
	good := fmt.Sprintf("exporters:\n  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}}\n", sink.Addr())
	r := startReloadable(t, good, "{watch: false}")
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	cases := []struct {
		name, body, result, want string
	}{
		{"invalid YAML", "exporters: [unclosed\n", "invalid", "yaml"},
		{"unknown key", good + "queue: {max_bytse: 1MiB}\n", "invalid", "queue.max_bytse: unknown key"},
		{"missing module", good + "filters: [{name: f, module: /nonexistent/f.wasm}]\n", "invalid", "filter[f]"},
		{"wrong ABI", good + "filters: [{name: old, module: " + abi7 + "}]\n", "invalid", "ABI version 7"},
		{"port in use", good, "failed_start", "receivers.otlp.grpc.endpoint"},
		{"unreachable exporter", good + "  - {name: gone, type: otlp, endpoint: 127.0.0.1:1, tls: {insecure: true}, wait_for_ready: true, timeout: 300ms}\n", "failed_start", "gone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := r.gw.Generation()
			failedBefore := gathered(t, r.gw)[`otlpgw_config_reloads_total{result="`+c.result+`"}`]
			base := r.base
			if c.name == "port in use" {
				// Move the gRPC receiver to a port someone else holds.
				r.base = strings.Replace(r.base, r.gw.GRPCAddr().String(), held.Addr().String(), 1)
			}
			r.rewrite(t, c.body)
			r.base = base
			_, err := r.gw.Reload(context.Background())
			var re *gateway.ReloadError
			if !errors.As(err, &re) || re.Result != c.result || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("reload error = %v, want a %s error mentioning %q", err, c.result, c.want)
			}
			if r.gw.Generation() != before {
				t.Fatalf("a failed reload changed the generation from %d to %d", before, r.gw.Generation())
			}
			m := gathered(t, r.gw)
			if m[`otlpgw_config_reloads_total{result="`+c.result+`"}`] != failedBefore+1 || m["otlpgw_config_last_reload_successful{}"] != 0 {
				t.Errorf("the failed reload is not reflected in the metrics")
			}
			if _, err := traceClient(t, r.gw).Export(context.Background(), healthSpans(7)); err != nil {
				t.Fatalf("the old generation stopped serving: %v", err)
			}
		})
	}

	// Over HTTP: 400 with every problem, and the status endpoint says why.
	r.rewrite(t, good+"bogus: 1\n")
	res, err := http.Post("http://"+r.gw.AdminAddr().String()+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bogus: unknown key") {
		t.Fatalf("POST /-/reload on a bad config: %d %s", res.StatusCode, body)
	}
	r.rewrite(t, good)
	res, err = http.Post("http://"+r.gw.AdminAddr().String()+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum gateway.ReloadSummary
	_ = json.NewDecoder(res.Body).Decode(&sum)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || sum.Generation != 2 || len(sum.ExportersKept) != 1 {
		t.Fatalf("POST /-/reload on a good config: %d %+v", res.StatusCode, sum)
	}
}

// TestRollbackWhenNewFilterFails reloads to a config whose new filter
// traps on every batch: within the probation window the gateway rolls back
// to the last good config by itself, and traffic flows meanwhile (on_error:
// pass).
func TestRollbackWhenNewFilterFails(t *testing.T) {
	tagger := buildWasm(t, "sdk/examples/tagger")
	panicky := buildWasm(t, "wasmhost/testdata/modules/panic")
	sink := otlpsink.Start(t)
	exp := fmt.Sprintf("exporters:\n  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}}\n", sink.Addr())
	good := exp + "filters: [{name: tag, module: " + tagger + ", timeout: 10s, config: {team: a}}]\n"
	bad := exp + "filters: [{name: tag, module: " + tagger + ", timeout: 10s, config: {team: a}}, {name: broken, module: " + panicky + ", timeout: 10s, on_error: pass}]\n"
	// Generous filter timeouts: a timeout also bounds the wait for a fresh
	// instance, and with 50ms a loaded machine turned broken's traps into
	// timeouts (no instance in time) and tag's calls into failures.
	r := startReloadable(t, good, "{watch: false, probation: 20s, min_calls: 5}")
	client := traceClient(t, r.gw)
	r.rewrite(t, bad)
	sum, err := r.gw.Reload(context.Background())
	if err != nil {
		t.Fatalf("reload to the failing config: %v", err)
	}
	if strings.Join(sum.FiltersKept, ",") != "tag" || strings.Join(sum.FiltersLoaded, ",") != "broken" {
		t.Errorf("reload summary kept %v and loaded %v; want the unchanged tag kept, broken loaded", sum.FiltersKept, sum.FiltersLoaded)
	}
	start := time.Now()
	sent := 0
	for r.gw.Generation() != 3 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("no rollback within the probation window")
		}
		resp, err := client.Export(context.Background(), healthSpans(uint64(sent)))
		if err != nil {
			t.Fatalf("traffic stopped while the failing filter ran: %v", err)
		}
		sent += 10 - int(resp.GetPartialSuccess().GetRejectedSpans())
	}
	st := readReloadStatus(t, r.gw)
	if st["last_result"] != "rolled_back" || st["failed_config_hash"] == "" {
		t.Errorf("/-/reload status after rollback = %v", st)
	}
	m := gathered(t, r.gw)
	if m[`otlpgw_config_reloads_total{result="rolled_back"}`] != 1 {
		t.Errorf("config_reloads_total{rolled_back} = %v, want 1", m[`otlpgw_config_reloads_total{result="rolled_back"}`])
	}
	if m[`otlpgw_filter_failures_total{filter="broken",kind="trap"}`] < 5 {
		t.Errorf("the failing filter's traps are not counted")
	}
	if _, err := client.Export(context.Background(), healthSpans(99)); err != nil {
		t.Fatalf("export after rollback: %v", err)
	}
}

func readReloadStatus(t *testing.T, gw *gateway.Gateway) map[string]any {
	t.Helper()
	res, err := http.Get("http://" + gw.AdminAddr().String() + "/-/reload")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFileWatchReloadsOnRenameAndConfigMapSwap: a config rewritten by
// rename, and a Kubernetes-style ConfigMap whose ..data symlink is swapped,
// both trigger a reload by themselves.
func TestFileWatchReloadsOnRenameAndConfigMapSwap(t *testing.T) {
	sink := otlpsink.Start(t)
	good := fmt.Sprintf("exporters:\n  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}}\n", sink.Addr())
	r := startReloadable(t, good, "{watch: true}")
	r.rewrite(t, good+"queue: {max_bytes: 128MiB}\n")
	waitGeneration(t, r.gw, 2)

	// ConfigMap layout: dir/otlpgw.yaml -> ..data/otlpgw.yaml, ..data -> ..v1
	dir := t.TempDir()
	write := func(version, body string) {
		vdir := filepath.Join(dir, version)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vdir, "otlpgw.yaml"), []byte(r.base+body), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(version, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("..v1", good)
	if err := os.Symlink(filepath.Join("..data", "otlpgw.yaml"), filepath.Join(dir, "otlpgw.yaml")); err != nil {
		t.Fatal(err)
	}
	_ = shutdown(r.gw, 10*time.Second)
	r.file = filepath.Join(dir, "otlpgw.yaml")
	cfg, err := config.Load([]string{r.file}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConfigFiles: []string{r.file}, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer shutdown(gw, 10*time.Second)
	write("..v2", good+"queue: {max_bytes: 64MiB}\n")
	waitGeneration(t, gw, 2)
}

// waitGeneration polls the gateway (the watcher works on its own clock)
// until it reaches generation n.
func waitGeneration(t *testing.T, gw *gateway.Gateway, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for gw.Generation() < n {
		if time.Now().After(deadline) {
			t.Fatalf("generation stayed at %d, want %d: the file change was not picked up", gw.Generation(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
