package cli

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/config"
)

func TestHealthcheckExitStatusFollowsTheProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("{\n  \"status\": \"not_ready\",\n  \"detail\": \"draining\"\n}\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	// A port nothing listens on: bind one, note it, close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"live answers 200", []string{"--live", "--url", srv.URL}, 0, "otlpgw healthcheck: " + srv.URL + "/healthz: 200 OK\n", ""},
		{"not ready answers 503", []string{"--url", srv.URL + "/"}, 1, "",
			"otlpgw healthcheck: " + srv.URL + "/readyz: 503 Service Unavailable: { \"status\": \"not_ready\", \"detail\": \"draining\" }\n"},
		{"connection refused", []string{"--url", refused}, 1, "",
			"otlpgw healthcheck: " + refused + "/readyz: connection refused (is the gateway running, and is admin.endpoint this address?)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"healthcheck", "--timeout", "30s"}, tc.args...), &stdout, &stderr) // a hang net, not a speed claim
			if code != tc.wantCode || stdout.String() != tc.wantOut || stderr.String() != tc.wantErr {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
}

func TestHealthcheckDefaultURLFollowsTheAdminEndpoint(t *testing.T) {
	for env, want := range map[string]string{
		"":                "http://localhost:8888",
		"0.0.0.0:9999":    "http://localhost:9999",
		"[::]:8888":       "http://localhost:8888",
		"10.1.2.3:8888":   "http://10.1.2.3:8888",
		":7777":           "http://localhost:7777",
		"admin.svc:18888": "http://admin.svc:18888",
	} {
		got := defaultAdminURL(func(k string) (string, bool) {
			if k == adminEndpointEnv && env != "" {
				return env, true
			}
			return "", false
		})
		if got != want {
			t.Errorf("%s=%q: default URL %q, want %q", adminEndpointEnv, env, got, want)
		}
	}
}

func TestHealthcheckRejectsStrayArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"healthcheck", "--nope"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "otlpgw healthcheck --help") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// The image sets OTLPGW_ADMIN_ENDPOINT (Dockerfile); outside it the
// embedded default keeps admin on localhost.
func TestEmbeddedDefaultAdminEndpointComesFromTheImageVariable(t *testing.T) {
	for _, tc := range []struct {
		env, want string
	}{
		{"", "localhost:8888"},
		{"0.0.0.0:8888", "0.0.0.0:8888"},
	} {
		env := func(k string) (string, bool) {
			if k == adminEndpointEnv && tc.env != "" {
				return tc.env, true
			}
			return "", false
		}
		cfg, err := config.Load(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Admin.Endpoint != tc.want {
			t.Errorf("%s=%q: admin.endpoint %q, want %q", adminEndpointEnv, tc.env, cfg.Admin.Endpoint, tc.want)
		}
		if got := defaultAdminURL(env); got != "http://localhost:8888" {
			t.Errorf("%s=%q: healthcheck asks %q, want http://localhost:8888", adminEndpointEnv, tc.env, got)
		}
	}
}

func TestDockerfileSetsTheAdminVariableAndHealthcheck(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ENV " + adminEndpointEnv + "=0.0.0.0:8888\n",
		`CMD ["/usr/local/bin/otlpgw", "healthcheck"]`,
	} {
		if !strings.Contains(string(df), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
}
