package admin

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
)

// extraEndpoints stands in for what the gateway mounts under /-/.
func extraEndpoints(mux *http.ServeMux) {
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "reloaded") })
	mux.HandleFunc("GET /-/config", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "config") })
	mux.HandleFunc("GET /-/added-later", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "new") })
}

func startAdmin(t *testing.T, cfg config.Admin) (*Server, *prometheus.Registry) {
	t.Helper()
	cfg.Endpoint = "127.0.0.1:0"
	if cfg.TLS.MinVersion == "" {
		cfg.TLS.MinVersion = "1.2"
	}
	reg := prometheus.NewRegistry()
	s := New(cfg, reg, func() (bool, string, any) { return true, "", nil }, slog.New(slog.DiscardHandler), extraEndpoints)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, reg
}

func call(t *testing.T, c *http.Client, method, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

var protected = []struct{ method, path string }{
	{"POST", "/-/reload"}, {"GET", "/-/config"}, {"GET", "/-/added-later"}, {"GET", "/-/nope"},
	{"GET", "/debug/pprof/"}, {"GET", "/debug/pprof/cmdline"}, {"GET", "/"},
}

var open = []string{"/healthz", "/readyz", "/metrics"}

func TestAdminBearerTokenProtectsAllButProbesAndScrape(t *testing.T) {
	s, reg := startAdmin(t, config.Admin{Auth: config.AdminAuth{BearerToken: "s3cret"}})
	base := "http://" + s.Addr().String()
	c := &http.Client{}
	for _, p := range open {
		if resp := call(t, c, "GET", base+p, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s without a token: %d, want 200", p, resp.StatusCode)
		}
	}
	for _, p := range protected {
		resp := call(t, c, p.method, base+p.path, "")
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s %s without a token: %d, WWW-Authenticate %q; want 401 with a Bearer challenge", p.method, p.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		resp = call(t, c, p.method, base+p.path, "s3cre")
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s %s with a wrong token: %d, WWW-Authenticate %q; want 401 invalid_token", p.method, p.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if resp := call(t, c, p.method, base+p.path, "s3cret"); resp.StatusCode == 401 {
			t.Errorf("%s %s with the token: 401", p.method, p.path)
		}
	}
	for _, p := range []string{"/-/reload", "/-/config", "/debug/pprof/"} {
		method := "GET"
		if p == "/-/reload" {
			method = "POST"
		}
		if resp := call(t, c, method, base+p, "s3cret"); resp.StatusCode != 200 {
			t.Errorf("%s %s with the token: %d, want 200", method, p, resp.StatusCode)
		}
	}
	n := len(protected)
	if got, err := testutil.GatherAndCount(reg, "otlpgw_admin_unauthorized_requests_total"); err != nil || got != 2 {
		t.Errorf("unauthorized counter series: %d (%v), want 2 (missing, invalid)", got, err)
	}
	mfs, _ := reg.Gather()
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "otlpgw_admin_unauthorized_requests_total" {
			for _, m := range mf.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counts["missing"] != float64(n) || counts["invalid"] != float64(n) {
		t.Errorf("unauthorized{missing,invalid} = %v, want %d each", counts, n)
	}
}

func TestAdminOpenWithoutToken(t *testing.T) {
	s, reg := startAdmin(t, config.Admin{})
	base := "http://" + s.Addr().String()
	if resp := call(t, &http.Client{}, "POST", base+"/-/reload", ""); resp.StatusCode != 200 {
		t.Errorf("POST /-/reload with no admin.auth: %d, want 200", resp.StatusCode)
	}
	if n, _ := testutil.GatherAndCount(reg, "otlpgw_admin_unauthorized_requests_total"); n != 0 {
		t.Errorf("unauthorized counter exported without admin.auth (%d series)", n)
	}
}

func TestAdminTLS(t *testing.T) {
	cert := testpki.New(t, t.TempDir(), "admin")
	s, _ := startAdmin(t, config.Admin{TLS: config.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}, Auth: config.AdminAuth{BearerToken: "s3cret"}})
	addr := s.Addr().String()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	defer c.CloseIdleConnections()
	resp := call(t, c, "GET", "https://"+addr+"/readyz", "")
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("GET https /readyz: %d (TLS %v), want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
	if resp := call(t, c, "POST", "https://"+addr+"/-/reload", "s3cret"); resp.StatusCode != 200 {
		t.Errorf("POST https /-/reload with the token: %d, want 200", resp.StatusCode)
	}
	plain, err := (&http.Client{}).Get("http://" + addr + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Error("plain HTTP to the TLS admin listener answered 200")
		}
	}
}

func TestAdminTLSFilesThatDoNotLoad(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	s := New(config.Admin{Endpoint: "127.0.0.1:0", TLS: config.ServerTLS{CertFile: missing, KeyFile: missing, MinVersion: "1.2"}},
		prometheus.NewRegistry(), func() (bool, string, any) { return true, "", nil }, slog.New(slog.DiscardHandler), nil)
	err := s.Start()
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("Start: %v, want a TLS error", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start: %v", err)
	}
}
