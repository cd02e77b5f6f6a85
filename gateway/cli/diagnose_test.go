package cli

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
)

// tlsGRPCServer serves gRPC (no services) over TLS with a testpki
// certificate.
func tlsGRPCServer(t *testing.T) (addr, caFile string) {
	t.Helper()
	cert := testpki.New(t, t.TempDir(), "upstream")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert.Pair}, MinVersion: tls.VersionTLS12})))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), cert.CertFile
}

func diagnoseOutput(t *testing.T, exporter string) string {
	t.Helper()
	p := writeConfig(t, "exporters:\n  - "+exporter+"\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"diagnose", "--config", p}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("diagnose exited %d, want %d; stdout:\n%s\nstderr: %s", code, exitUndelivered, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// hintLine is the report's one hint: line.
func hintLine(t *testing.T, out string) string {
	t.Helper()
	var hints []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "hint: ") {
			hints = append(hints, line)
		}
	}
	if len(hints) != 1 {
		t.Fatalf("want one hint line, got %d:\n%s", len(hints), out)
	}
	return hints[0]
}

func TestDiagnoseHintsForEveryKnownFailure(t *testing.T) {
	plainGRPC := otlpsink.Start(t)
	tlsGRPC, _ := tlsGRPCServer(t)
	cert := testpki.New(t, t.TempDir(), "upstream")
	tlsHTTP := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	tlsHTTP.TLS = &tls.Config{Certificates: []tls.Certificate{cert.Pair}}
	tlsHTTP.Config.ErrorLog = log.New(io.Discard, "", 0) // the probes' handshakes are expected to fail
	tlsHTTP.StartTLS()
	defer tlsHTTP.Close()
	plainHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer plainHTTP.Close()
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "missing bearer token", http.StatusUnauthorized)
	}))
	defer unauthorized.Close()
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "token may not write", http.StatusForbidden)
	}))
	defer forbidden.Close()
	grpcUnauth := otlpsink.Start(t)
	grpcUnauth.FailWith(codes.Unauthenticated)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	host := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }

	for _, tc := range []struct {
		name, exporter, want string
	}{
		{"plaintext gRPC server, TLS on",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, timeout: 10s}", plainGRPC.Addr()),
			"hint: " + plainGRPC.Addr() + " answers in plaintext, not TLS: set tls.insecure: true on this exporter, or turn TLS on at the upstream"},
		{"plaintext HTTP server, https endpoint",
			fmt.Sprintf("{name: up, type: otlphttp, endpoint: %q, timeout: 10s}", "https://"+host(plainHTTP.URL)),
			"hint: " + host(plainHTTP.URL) + " answers in plaintext, not TLS: use an http:// endpoint, or turn TLS on at the upstream"},
		{"TLS gRPC server, insecure",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 10s}", tlsGRPC),
			"hint: " + tlsGRPC + " speaks TLS but the exporter sends plaintext: remove tls.insecure (and set tls.ca_file if its CA is private)"},
		{"TLS HTTP server, http endpoint",
			fmt.Sprintf("{name: up, type: otlphttp, endpoint: %q, timeout: 10s}", "http://"+host(tlsHTTP.URL)),
			"hint: " + host(tlsHTTP.URL) + " speaks TLS but the endpoint is http://: use https:// (and set tls.ca_file if its CA is private)"},
		{"TLS server with a private CA",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, timeout: 10s}", tlsGRPC),
			"hint: the server's certificate is not signed by a CA the gateway trusts: set tls.ca_file to the upstream's CA (PEM)"},
		{"HTTP port given to the gRPC exporter",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 10s}", host(plainHTTP.URL)),
			"hint: " + host(plainHTTP.URL) + " answers HTTP/1.1, not gRPC: it looks like an OTLP/HTTP port (usually 4318); use the upstream's gRPC port (usually 4317), or type: otlphttp"},
		{"gRPC port given to the HTTP exporter",
			fmt.Sprintf("{name: up, type: otlphttp, endpoint: %q, timeout: 10s}", "http://"+plainGRPC.Addr()),
			"hint: " + plainGRPC.Addr() + " answers only HTTP/2, as a gRPC server does: it looks like an OTLP/gRPC port (usually 4317); use the upstream's HTTP port (usually 4318), or type: otlp"},
		{"HTTP 401",
			fmt.Sprintf("{name: up, type: otlphttp, endpoint: %q, timeout: 10s}", unauthorized.URL),
			"hint: the upstream refused the credentials (HTTP 401): check the exporter's headers (e.g. authorization: Bearer <token>) and that the token is current and may write"},
		{"HTTP 403",
			fmt.Sprintf("{name: up, type: otlphttp, endpoint: %q, timeout: 10s}", forbidden.URL),
			"hint: the upstream refused the credentials (HTTP 403): check the exporter's headers (e.g. authorization: Bearer <token>) and that the token is current and may write"},
		{"gRPC UNAUTHENTICATED",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 10s}", grpcUnauth.Addr()),
			"hint: the upstream refused the credentials (gRPC UNAUTHENTICATED): check the exporter's headers (e.g. authorization: Bearer <token>) and that the token is current and may write"},
		{"DNS failure",
			`{name: up, type: otlp, endpoint: "nonexistent.invalid:4317", tls: {insecure: true}, timeout: 10s}`,
			`hint: the name "nonexistent.invalid" (endpoint "nonexistent.invalid:4317") does not resolve: check its spelling and the resolver the gateway uses (in Kubernetes a Service is NAME.NAMESPACE.svc)`},
		{"nothing listening",
			fmt.Sprintf("{name: up, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 10s}", dead),
			"hint: nothing listens on " + dead + ": check the port (OTLP: 4317 for gRPC, 4318 for HTTP) and that the upstream is running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := diagnoseOutput(t, tc.exporter)
			if got := hintLine(t, out); got != tc.want {
				t.Errorf("hint\n  %s\nwant\n  %s\nreport:\n%s", got, tc.want, out)
			}
		})
	}
}
