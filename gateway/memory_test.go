package gateway_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// TestMemoryRefusalsHaveTheirOwnReason: over memory_limit.soft, exports
// are refused with UNAVAILABLE + RetryInfo and counted under
// receiver_refused_items_total{reason="memory"}, not "backpressure";
// otlpgw_memory_pressure says so, and the start-up log names the
// effective limit and where it came from.
func TestMemoryRefusalsHaveTheirOwnReason(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte(`
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:0}
    http: {endpoint: ""}
admin: {endpoint: 127.0.0.1:0}
memory_limit: {soft: 1MiB, hard: 8GiB}
exporters: [{name: d, type: debug}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{file}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	// noEnv: the gateway sees no GOMEMLIMIT even where the test runs with
	// one, so memory_limit.hard is the limit this test reads back.
	var logs syncBuffer
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Env: noEnv, CacheDir: wasmCache})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 5*time.Second) })
	if want := `msg="memory limit" limit_bytes=8589934592 source=memory_limit.hard soft_limit_bytes=1048576`; !strings.Contains(logs.String(), want) {
		t.Errorf("start-up log has no %q line:\n%s", want, logs.String())
	}
	// The first sample is taken as Start returns; a Go process holds more
	// than 1 MiB.
	testwait.Until(t, func() string { return "otlpgw_memory_pressure to become 1 over a 1 MiB soft limit" },
		func() bool { return scrape(t, gw)["otlpgw_memory_pressure"] == 1 })
	_, err = traceClient(t, gw).Export(context.Background(), otlptest.Traces(1, 3, 0, 1))
	if status.Code(err) != codes.Unavailable || retryDelay(err) <= 0 {
		t.Fatalf("export over the soft limit: %v, want UNAVAILABLE with RetryInfo", err)
	}
	m := scrape(t, gw)
	if got := sum(m, "otlpgw_receiver_refused_items_total", label("reason", "memory")); got != 1 {
		t.Errorf("receiver_refused_items_total{reason=memory} = %v, want 1", got)
	}
	if got := sum(m, "otlpgw_receiver_refused_items_total", label("reason", "backpressure")); got != 0 {
		t.Errorf("receiver_refused_items_total{reason=backpressure} = %v, want 0", got)
	}
	if got := m[`otlpgw_memory_limit_bytes{limit="soft"}`]; got != 1<<20 {
		t.Errorf(`otlpgw_memory_limit_bytes{limit="soft"} = %v, want %d`, got, 1<<20)
	}
	if !strings.Contains(logs.String(), `msg="memory over the soft limit: refusing new data"`) {
		t.Errorf("no log line for the soft limit tripping:\n%s", logs.String())
	}
}
