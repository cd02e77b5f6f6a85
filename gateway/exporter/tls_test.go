package exporter

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// testPKI is one self-signed certificate for 127.0.0.1 that serves as CA,
// server and client certificate, written to files as an operator would.
type testPKI struct {
	cert              tls.Certificate
	pool              *x509.CertPool
	certFile, keyFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otlpgw test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"upstream.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	p := &testPKI{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	if err := os.WriteFile(p.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if p.cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	p.pool.AppendCertsFromPEM(certPEM)
	return p
}

// serverTLS requires and verifies a client certificate (mutual TLS), so a
// delivered request proves the exporter presented its cert_file.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

func TestTLSExport(t *testing.T) {
	pki := newTestPKI(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gu := &grpcUpstream{addr: lis.Addr().String()}
	gsrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(pki.serverTLS())))
	coltracepb.RegisterTraceServiceServer(gsrv, traceSvc{u: gu})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gsrv.Serve(lis)
	}()
	t.Cleanup(func() {
		gsrv.Stop()
		<-served
	})

	hu := &httpUpstream{}
	hsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hu.serve(w, r, otlpwire.Traces)
	}))
	hsrv.TLS = pki.serverTLS()
	hsrv.StartTLS()
	t.Cleanup(hsrv.Close)

	mtls := config.TLS{CAFile: pki.certFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
	named := mtls
	named.ServerName = "upstream.test"
	wrong := mtls
	wrong.ServerName = "elsewhere.test"
	skip := config.TLS{InsecureSkipVerify: true, CertFile: pki.certFile, KeyFile: pki.keyFile}
	for _, tc := range []struct {
		name     string
		typ      string
		endpoint string
		tls      config.TLS
		rec      *recorder
		fails    bool
	}{
		{"otlp/ca_file", "otlp", gu.addr, mtls, &gu.recorder, false},
		{"otlp/server_name", "otlp", gu.addr, named, &gu.recorder, false},
		{"otlp/skip_verify", "otlp", gu.addr, skip, &gu.recorder, false},
		{"otlp/wrong_server_name", "otlp", gu.addr, wrong, &gu.recorder, true},
		{"otlphttp/ca_file", "otlphttp", hsrv.URL, mtls, &hu.recorder, false},
		{"otlphttp/server_name", "otlphttp", hsrv.URL, named, &hu.recorder, false},
		{"otlphttp/skip_verify", "otlphttp", hsrv.URL, skip, &hu.recorder, false},
		{"otlphttp/wrong_server_name", "otlphttp", hsrv.URL, wrong, &hu.recorder, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.rec.got())
			cfg := testCfg(tc.typ, tc.endpoint)
			cfg.TLS = tc.tls
			cfg.Retry.MaxElapsedTime = 50 * time.Millisecond
			e, tm, _ := newTestExporter(t, cfg, noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "tls", 2), 2)
			e.Start()
			drain(t, e)
			if tc.fails {
				// The certificate does not name elsewhere.test: nothing may
				// reach the upstream, and the batch is given up.
				if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "retries_exhausted")); v != 2 {
					t.Fatalf("failed{retries_exhausted} = %v, want 2", v)
				}
				if n := len(tc.rec.got()) - before; n != 0 {
					t.Fatalf("upstream got %d requests over unverified TLS", n)
				}
				return
			}
			if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 2 {
				t.Fatalf("sent = %v, want 2", v)
			}
			if n := len(tc.rec.got()) - before; n != 1 {
				t.Fatalf("upstream got %d requests, want 1", n)
			}
		})
	}
}
