package exporter

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// newTestPKI is a certificate serving as CA, server and client certificate.
func newTestPKI(t *testing.T) *testpki.Cert { return testpki.New(t, t.TempDir(), "otlpgw test") }

func TestTLSExport(t *testing.T) {
	pki := newTestPKI(t)

	gu := &grpcUpstream{}
	gsrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(pki.MutualServerTLS())))
	coltracepb.RegisterTraceServiceServer(gsrv, traceSvc{u: gu})
	gu.addr = serveGRPC(t, gsrv)

	hu := &httpUpstream{}
	hsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hu.serve(w, r, otlpwire.Traces)
	}))
	hsrv.TLS = pki.MutualServerTLS()
	hsrv.StartTLS()
	t.Cleanup(hsrv.Close)

	mtls := config.TLS{CAFile: pki.CertFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	named := mtls
	named.ServerName = "upstream.test"
	wrong := mtls
	wrong.ServerName = "elsewhere.test"
	skip := config.TLS{InsecureSkipVerify: true, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
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
