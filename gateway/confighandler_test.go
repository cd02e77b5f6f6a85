package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
)

// TestAdminConfigServesTheRunningConfigRedacted checks GET /-/config: the
// running generation's configuration, which loads back as a valid file,
// with no secret in it, and the new one after a reload.
func TestAdminConfigServesTheRunningConfigRedacted(t *testing.T) {
	r := startReloadable(t, `
exporters:
  - {name: d, type: debug, headers: {x-api-key: s3cret-header}}
`, "{watch: false}")
	get := func() string {
		t.Helper()
		res, err := http.Get("http://" + r.gw.AdminAddr().String() + "/-/config")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/yaml") {
			t.Fatalf("GET /-/config = %d %s:\n%s", res.StatusCode, res.Header.Get("Content-Type"), b)
		}
		return string(b)
	}
	body := get()
	if strings.Contains(body, "s3cret") || !strings.Contains(body, "x-api-key: "+config.Redacted) {
		t.Errorf("/-/config does not redact the header value:\n%s", body)
	}
	p := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load([]string{p}, noEnv)
	if err != nil {
		t.Fatalf("/-/config output does not load: %v\n%s", err, body)
	}
	if back.Exporters[0].Name != "d" || back.Batch.Timeout.String() != "10ms" {
		t.Errorf("/-/config is not the running config:\n%s", body)
	}

	r.rewrite(t, "exporters: [{name: after, type: debug}]\n")
	if _, err := r.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if body := get(); !strings.Contains(body, "name: after") {
		t.Errorf("/-/config after a reload still shows the old config:\n%s", body)
	}
}

// lockedBuffer is a log destination safe for the gateway's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReloadWarnsAboutAnEmptiedFile checks that a reload of a config file
// that has become empty (a ConfigMap emptied by mistake) logs the same
// warning as run.
func TestReloadWarnsAboutAnEmptiedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "otlpgw.yaml")
	if err := os.WriteFile(p, []byte("receivers: {otlp: {grpc: {endpoint: 127.0.0.1:0}, http: {endpoint: ''}}}\nadmin: {endpoint: 127.0.0.1:0}\nreload: {watch: false}\nexporters: [{name: d, type: debug}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{p}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(&logs, nil)), ConfigFiles: []string{p}, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 5*time.Second) })
	if err := os.WriteFile(p, []byte("# nothing left\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every default includes another admin endpoint, which needs a
	// restart: the reload is refused after the warning, binding nothing.
	_, _ = gw.Reload(context.Background())
	if want := `level=WARN msg="` + p + ": " + config.EmptyFileWarning + `"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}
