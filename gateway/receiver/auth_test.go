package receiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// startSecureGRPC runs a receiver with cfg's TLS and auth on 127.0.0.1:0.
func startSecureGRPC(t *testing.T, cfg config.GRPCReceiver, c pipeline.Consumer) (*GRPC, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics()
	cfg.Endpoint = "127.0.0.1:0"
	r := NewGRPC(cfg, c, Settings{Metrics: m})
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r, m
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func exportTraces(ctx context.Context, conn *grpc.ClientConn) error {
	_, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, traceRequest())
	return err
}

func TestGRPCMutualTLS(t *testing.T) {
	srv, cli := testpki.New(t, t.TempDir(), "server"), testpki.New(t, t.TempDir(), "client")
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 2}}
	r, _ := startSecureGRPC(t, config.GRPCReceiver{TLS: config.ServerTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: cli.CertFile}}, c)
	addr := r.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	good := dial(t, addr, credentials.NewTLS(&tls.Config{RootCAs: srv.Pool, Certificates: []tls.Certificate{cli.Pair}}))
	if err := exportTraces(ctx, good); err != nil {
		t.Fatalf("mutual TLS export: %v", err)
	}
	if got := len(c.requests()); got != 1 {
		t.Fatalf("%d requests consumed, want 1", got)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":                   insecure.NewCredentials(),
		"no client certificate":       credentials.NewTLS(&tls.Config{RootCAs: srv.Pool}),
		"untrusted server":            credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cli.Pair}}),
		"client cert of the wrong CA": credentials.NewTLS(&tls.Config{RootCAs: srv.Pool, Certificates: []tls.Certificate{srv.Pair}}),
	} {
		if err := exportTraces(ctx, dial(t, addr, creds)); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want the connection refused (Unavailable)", name, err)
		}
	}
	if got := len(c.requests()); got != 1 {
		t.Errorf("%d requests consumed after the refused connections, want still 1", got)
	}
}

func TestGRPCBearerTokens(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 2}}
	r, m := startSecureGRPC(t, config.GRPCReceiver{Auth: config.ReceiverAuth{BearerTokens: []string{"old-token", "new-token"}}}, c)
	conn := dial(t, r.Addr().String(), insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		authz string
		want  codes.Code
	}{
		{"", codes.Unauthenticated},
		{"Basic dXNlcjpwdw==", codes.Unauthenticated},
		{"Bearer wrong", codes.Unauthenticated},
		{"Bearer new-token-and-more", codes.Unauthenticated},
		{"Bearer new-token", codes.OK},
		{"bearer old-token", codes.OK}, // the scheme is case-insensitive
	} {
		cctx := ctx
		if tc.authz != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.authz)
		}
		if err := exportTraces(cctx, conn); status.Code(err) != tc.want {
			t.Errorf("Authorization %q: %v, want %s", tc.authz, err, tc.want)
		}
	}
	if got := len(c.requests()); got != 2 {
		t.Errorf("%d requests consumed, want only the 2 authenticated", got)
	}
	if n := requestsCount(t, m, "traces", "grpc", "Unauthenticated"); n != 4 {
		t.Errorf("receiver_requests_total{code=Unauthenticated} = %v, want 4", n)
	}
	// Probes carry no credentials: health answers without them.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v, %v; want SERVING", resp, err)
	}
}

func TestHTTPTLSAndBearerTokens(t *testing.T) {
	srv := testpki.New(t, t.TempDir(), "server")
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 2}}
	m := telemetry.NewMetrics()
	r := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0", TLS: config.ServerTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, MinVersion: "1.3"},
		Auth: config.ReceiverAuth{BearerTokens: []string{"s3cret"}}}, c, Settings{Metrics: m})
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	url := "https://" + r.Addr().String() + "/v1/traces"
	body := marshal(t, traceRequest())
	post := func(authz string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(""); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d, WWW-Authenticate %q; want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := post("Bearer nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	resp := post("Bearer s3cret")
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || resp.ProtoMajor != 2 {
		t.Errorf("good token: %d over %s, TLS %+v; want 200 over HTTP/2 and TLS 1.3", resp.StatusCode, resp.Proto, resp.TLS)
	}
	if got := len(c.requests()); got != 1 {
		t.Errorf("%d requests consumed, want 1", got)
	}
	if n := requestsCount(t, m, "traces", "http", "401"); n != 2 {
		t.Errorf("receiver_requests_total{code=401} = %v, want 2", n)
	}
	// Plain HTTP to the TLS port is not served.
	if resp, err := http.Post("http://"+r.Addr().String()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the TLS listener was accepted")
		}
	}
}

func TestTLSFilesThatDoNotLoad(t *testing.T) {
	dir := t.TempDir()
	cert := testpki.New(t, dir, "x")
	missing := filepath.Join(dir, "missing.pem")
	for name, c := range map[string]config.ServerTLS{
		"missing key":       {CertFile: cert.CertFile, KeyFile: missing},
		"key is not a key":  {CertFile: cert.CertFile, KeyFile: cert.CertFile},
		"missing client CA": {CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: missing},
		"client CA not PEM": {CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: cert.KeyFile},
	} {
		if err := CheckTLS(c); err == nil {
			t.Errorf("%s: CheckTLS accepted it", name)
		}
		g := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0", TLS: c}, &recordingConsumer{}, Settings{Metrics: telemetry.NewMetrics()})
		if err := g.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: gRPC Start: %v, want a TLS error", name, err)
		}
		_ = g.Shutdown(context.Background())
		h := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0", TLS: c}, &recordingConsumer{}, Settings{Metrics: telemetry.NewMetrics()})
		if err := h.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: HTTP Start: %v, want a TLS error", name, err)
		}
		_ = h.Shutdown(context.Background())
	}
	if err := CheckTLS(config.ServerTLS{}); err != nil {
		t.Errorf("no TLS: %v", err)
	}
}
