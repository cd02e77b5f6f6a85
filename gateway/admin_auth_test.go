package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
)

// The running gateway wires admin.auth and admin.tls: over HTTPS, reload
// needs the token (from the environment) while the probes do not.
func TestAdminTokenAndTLSOnARunningGateway(t *testing.T) {
	dir := t.TempDir()
	cert := testpki.New(t, dir, "admin")
	file := filepath.Join(dir, "otlpgw.yaml")
	body := fmt.Sprintf(`
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:0}
    http: {endpoint: ""}
admin:
  endpoint: 127.0.0.1:0
  auth: {bearer_token: "${env:ADMIN_TOKEN}"}
  tls: {cert_file: %q, key_file: %q}
reload: {watch: false}
shutdown_timeout: 10s
`, cert.CertFile, cert.KeyFile)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "ADMIN_TOKEN" {
			return "from-env", true
		}
		return "", false
	}
	cfg, err := config.Load([]string{file}, env)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheDir: wasmCache, ConfigFiles: []string{file}, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 15*time.Second) })

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	defer c.CloseIdleConnections()
	base := "https://" + gw.AdminAddr().String()
	do := func(method, path, token string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := do("GET", "/readyz", ""); code != 200 {
		t.Errorf("GET /readyz without a token: %d, want 200", code)
	}
	if code := do("POST", "/-/reload", ""); code != 401 {
		t.Errorf("POST /-/reload without a token: %d, want 401", code)
	}
	if code := do("GET", "/debug/pprof/", "wrong"); code != 401 {
		t.Errorf("GET /debug/pprof/ with a wrong token: %d, want 401", code)
	}
	if code := do("POST", "/-/reload", "from-env"); code != 200 {
		t.Errorf("POST /-/reload with the token: %d, want 200", code)
	}
}
