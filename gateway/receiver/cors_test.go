package receiver

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func startHTTPConfig(t *testing.T, cfg config.HTTPReceiver, c pipeline.Consumer) *httpFixture {
	t.Helper()
	m := telemetry.NewMetrics()
	cfg.Endpoint = "127.0.0.1:0"
	r := NewHTTP(cfg, c, Settings{Metrics: m})
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return &httpFixture{r: r, metrics: m, client: &http.Client{Transport: tr}, base: "http://" + r.Addr().String()}
}

func (f *httpFixture) preflight(t *testing.T, origin, method, headers string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, f.base+"/v1/traces", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return f.do(t, req)
}

func (f *httpFixture) postFrom(t *testing.T, origin string, hdr ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.base+"/v1/traces", bytes.NewReader(marshal(t, traceRequest())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctProtobuf)
	req.Header.Set("Origin", origin)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(t, req)
}

func corsHeaders(h http.Header) []string {
	var got []string
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			got = append(got, k)
		}
	}
	return got
}

func TestHTTPNoCORSHeadersWhenNotConfigured(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	if res := f.preflight(t, "https://app.example.com", "POST", "content-type"); res.code != 405 || len(corsHeaders(res.header)) != 0 {
		t.Errorf("preflight without cors: %d with %v, want 405 and no CORS headers", res.code, corsHeaders(res.header))
	}
	if res := f.postFrom(t, "https://app.example.com"); res.code != 200 || len(corsHeaders(res.header)) != 0 || res.header.Get("Vary") != "" {
		t.Errorf("POST without cors: %d with %v (Vary %q), want 200 and no CORS headers", res.code, corsHeaders(res.header), res.header.Get("Vary"))
	}
}

func TestHTTPCORSPreflightAndResponses(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTPConfig(t, config.HTTPReceiver{
		CORS: config.CORS{
			AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
			AllowedHeaders: []string{"Authorization"},
			MaxAge:         600,
		},
		Auth: config.ReceiverAuth{BearerTokens: []string{"s3cret"}},
	}, c)

	for _, tc := range []struct {
		name, origin, method, headers string
		allowed                       bool
	}{
		{"exact origin", "https://app.example.com", "POST", "content-type, content-encoding, authorization", true},
		{"origin in another case", "HTTPS://APP.example.com", "POST", "Content-Type", true},
		{"wildcard subdomain", "https://eu.web.example.org", "POST", "", true},
		{"wildcard needs a subdomain", "https://example.org", "POST", "", false},
		{"other scheme", "http://app.example.com", "POST", "", false},
		{"other origin", "https://evil.example.net", "POST", "content-type", false},
		{"lookalike suffix", "https://app.example.com.evil.net", "POST", "", false},
		{"method other than POST", "https://app.example.com", "PUT", "", false},
		{"header not allowed", "https://app.example.com", "POST", "content-type, x-secret", false},
	} {
		res := f.preflight(t, tc.origin, tc.method, tc.headers)
		if res.code != http.StatusNoContent {
			t.Errorf("%s: preflight %d, want 204 (no credentials needed)", tc.name, res.code)
		}
		acao := res.header.Get("Access-Control-Allow-Origin")
		if !tc.allowed {
			if acao != "" {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want none", tc.name, acao)
			}
			continue
		}
		if acao != tc.origin {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", tc.name, acao, tc.origin)
		}
		if got := res.header.Get("Access-Control-Allow-Methods"); got != "POST" {
			t.Errorf("%s: Allow-Methods %q, want POST", tc.name, got)
		}
		allowHdrs := strings.ToLower(res.header.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"content-type", "content-encoding", "authorization"} {
			if !strings.Contains(allowHdrs, want) {
				t.Errorf("%s: Allow-Headers %q lacks %s", tc.name, allowHdrs, want)
			}
		}
		if got := res.header.Get("Access-Control-Max-Age"); got != "600" {
			t.Errorf("%s: Max-Age %q, want 600", tc.name, got)
		}
	}
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d preflights", n)
	}

	// Responses name an allowed origin, refusals included, so the page
	// can read them; other origins get none (the browser then hides the answer).
	if res := f.postFrom(t, "https://app.example.com", "Authorization", "Bearer s3cret"); res.code != 200 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(res.header.Get("Vary"), "Origin") {
		t.Errorf("allowed POST: %d, Allow-Origin %q, Vary %q", res.code, res.header.Get("Access-Control-Allow-Origin"), res.header.Get("Vary"))
	}
	if res := f.postFrom(t, "https://app.example.com"); res.code != 401 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("POST without token: %d, Allow-Origin %q, want 401 readable by the page", res.code, res.header.Get("Access-Control-Allow-Origin"))
	}
	if res := f.postFrom(t, "https://evil.example.net", "Authorization", "Bearer s3cret"); res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from another origin: Allow-Origin %q, want none", res.header.Get("Access-Control-Allow-Origin"))
	}
}

func TestHTTPCORSAnyOriginAndHeader(t *testing.T) {
	f := startHTTPConfig(t, config.HTTPReceiver{CORS: config.CORS{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}}}, &recordingConsumer{out: pipeline.Outcome{Accepted: 1}})
	res := f.preflight(t, "https://anything.test", "POST", "x-custom, content-type")
	if res.header.Get("Access-Control-Allow-Origin") != "https://anything.test" || res.header.Get("Access-Control-Allow-Headers") != "x-custom, content-type" {
		t.Errorf("preflight: Allow-Origin %q, Allow-Headers %q", res.header.Get("Access-Control-Allow-Origin"), res.header.Get("Access-Control-Allow-Headers"))
	}
	if res.header.Get("Access-Control-Max-Age") != "" {
		t.Errorf("Max-Age %q with max_age 0, want none", res.header.Get("Access-Control-Max-Age"))
	}
}
