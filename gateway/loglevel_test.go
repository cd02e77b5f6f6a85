package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitRefusals waits until the sink has refused n exports in all.
func waitRefusals(t *testing.T, sink *otlpsink.Sink, n int) {
	t.Helper()
	testwait.Until(t, func() string { return fmt.Sprintf("the sink to refuse %d exports (it refused %d)", n, sink.Refused()) },
		func() bool { return sink.Refused() >= n })
}

// TestReloadChangesLogLevel: a reload that sets log.level debug makes the
// exporter's debug lines (one per retry) appear in the running gateway's
// log, and setting it back to info hides them again.
func TestReloadChangesLogLevel(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailWith(codes.Unavailable)
	body := func(level string) string {
		return fmt.Sprintf(`
log: {level: %s}
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}, retry: {initial_interval: 10ms, max_interval: 20ms, max_elapsed_time: 1h}}
`, level, sink.Addr())
	}
	r := &reloadable{file: filepath.Join(t.TempDir(), "otlpgw.yaml"), base: fmt.Sprintf(`
receivers:
  otlp:
    grpc: {endpoint: %q}
    http: {endpoint: ""}
admin: {endpoint: 127.0.0.1:0}
reload: {watch: false}
`, freeAddr(t))}
	r.rewrite(t, body("info"))
	cfg, err := config.Load([]string{r.file}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	level := new(slog.LevelVar) // info, as the config says
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})), LogLevel: level, CacheDir: wasmCache, ConfigFiles: []string{r.file}, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 100*time.Millisecond) })
	if _, err := traceClient(t, gw).Export(context.Background(), otlptest.Traces(1, 2, 1, 1)); err != nil {
		t.Fatal(err)
	}
	const retryLine = "export failed, retrying"
	// Two refusals: the first one's retry was logged (or not) before the
	// second attempt went out.
	waitRefusals(t, sink, 2)
	if strings.Contains(logs.String(), retryLine) {
		t.Fatalf("at level info the log already has debug lines:\n%s", logs.String())
	}

	r.rewrite(t, body("debug"))
	if _, err := gw.Reload(context.Background()); err != nil {
		t.Fatalf("reload to log.level debug: %v", err)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("after the reload the level is %v, want DEBUG", level.Level())
	}
	waitRefusals(t, sink, sink.Refused()+2)
	got := logs.String()
	if !strings.Contains(got, retryLine) || !strings.Contains(got, `msg="log level changed" from=INFO to=DEBUG`) {
		t.Fatalf("after reloading with log.level debug the log has no %q line, or no level change line:\n%s", retryLine, got)
	}

	r.rewrite(t, body("info"))
	if _, err := gw.Reload(context.Background()); err != nil {
		t.Fatalf("reload back to log.level info: %v", err)
	}
	// Every retry line of an attempt refused before the reload returned
	// was written before the next attempt reached the sink; later ones
	// looked at the level after it changed.
	waitRefusals(t, sink, sink.Refused()+1)
	mark := len(logs.String())
	waitRefusals(t, sink, sink.Refused()+2)
	if after := logs.String()[mark:]; strings.Contains(after, retryLine) {
		t.Fatalf("back at level info the log still gets debug lines:\n%s", after)
	}
}
