package exporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// steps renders a diagnosis as "step=result" in order, with the failing
// step's detail after it.
func steps(d Diagnosis) string {
	var parts []string
	for _, c := range d.Checks {
		p := c.Step + "=" + c.Result
		if c.Result == CheckFail {
			p += " (" + c.Detail + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func diagCfg(typ, endpoint string) config.Exporter {
	c := testCfg(typ, endpoint)
	// Each step's bound: generous, since the steps expected to pass make
	// real loopback calls (TLS handshakes included) on a possibly loaded
	// machine; the failures tested here come from answers, not timeouts.
	c.Timeout = 10 * time.Second
	return c
}

func TestDiagnoseDeliversOneSpan(t *testing.T) {
	up := startGRPCUpstream(t)
	d := Diagnose(context.Background(), diagCfg("otlp", up.addr))
	if got := steps(d); got != "dns=ok tcp=ok tls=skip health=ok export=ok" || !d.OK() {
		t.Fatalf("steps: %s", got)
	}
	if h := d.Checks[3].Detail; !strings.Contains(h, "does not serve grpc.health.v1") {
		t.Errorf("health detail %q, want the upstream's lack of a health service named", h)
	}
	calls := up.got()
	if len(calls) != 1 {
		t.Fatalf("the upstream got %d requests, want the one test span", len(calls))
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(calls[0].req, &req); err != nil {
		t.Fatal(err)
	}
	rs := req.ResourceSpans[0]
	if svc := rs.Resource.Attributes[0].Value.GetStringValue(); svc != DiagnoseService || len(rs.ScopeSpans[0].Spans) != 1 {
		t.Errorf("test request: service.name %q with %d spans, want %q with 1", svc, len(rs.ScopeSpans[0].Spans), DiagnoseService)
	}

	hu := startHTTPUpstream(t)
	d = Diagnose(context.Background(), diagCfg("otlphttp", hu.url))
	if got := steps(d); got != "dns=ok tcp=ok tls=skip reach=ok export=ok" {
		t.Fatalf("otlphttp steps: %s", got)
	}
	if r := d.Checks[3].Detail; !strings.Contains(r, "HTTP 405") {
		t.Errorf("reach detail %q, want the receiver's 405 to a GET", r)
	}
	if len(hu.got()) != 1 {
		t.Errorf("the HTTP upstream got %d requests, want 1", len(hu.got()))
	}
}

// Each failure stops the diagnosis at the step that failed, saying why.
func TestDiagnoseStopsAtTheFailingStep(t *testing.T) {
	unavailable := startGRPCUpstream(t, reply{code: codes.Unavailable, msg: "overloaded"})
	partial := startGRPCUpstream(t, reply{rejected: 1, msg: "no spans from you"})
	notServing := startHealthUpstream(t, healthpb.HealthCheckResponse_NOT_SERVING)
	secure := diagCfg("otlp", unavailable.addr)
	secure.TLS = config.TLS{}
	for _, c := range []struct {
		name string
		cfg  config.Exporter
		want string
	}{
		{"nothing listens", diagCfg("otlp", deadAddr(t)), "dns=ok tcp=fail (dial tcp"},
		{"no such host", diagCfg("otlp", "no-such-host.invalid:4317"), "dns=fail ("},
		{"not host:port", diagCfg("otlp", "collector"), "dns=fail (endpoint \"collector\": want host:port"},
		{"TLS to a plaintext server", secure, "dns=ok tcp=ok tls=fail ("},
		{"health NOT_SERVING", diagCfg("otlp", notServing), "dns=ok tcp=ok tls=skip health=fail (health status NOT_SERVING)"},
		{"export refused, retryable", diagCfg("otlp", unavailable.addr), "dns=ok tcp=ok tls=skip health=ok export=fail (retryable"},
		{"partial success", diagCfg("otlp", partial.addr), "export=fail (the upstream rejected the test span (partial success): no spans from you)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Diagnose(context.Background(), c.cfg)
			got := steps(d)
			if !strings.Contains(got, c.want) || d.OK() {
				t.Errorf("steps: %s\nwant them to contain %q and to fail", got, c.want)
			}
			if last := d.Checks[len(d.Checks)-1]; last.Result != CheckFail {
				t.Errorf("steps went on after a failure: %s", got)
			}
		})
	}
}

func TestDiagnoseTLS(t *testing.T) {
	pki := newTestPKI(t)
	gu := &grpcUpstream{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(pki.MutualServerTLS())))
	coltracepb.RegisterTraceServiceServer(srv, traceSvc{u: gu})
	gu.addr = serveGRPC(t, srv)
	good := diagCfg("otlp", gu.addr)
	good.TLS = config.TLS{CAFile: pki.CertFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	d := Diagnose(context.Background(), good)
	if got := steps(d); got != "dns=ok tcp=ok tls=ok health=ok export=ok" {
		t.Fatalf("mutual TLS: %s", got)
	}
	if tl := d.Checks[2].Detail; !strings.Contains(tl, `certificate "otlpgw test" valid until`) {
		t.Errorf("tls detail %q, want the server certificate described", tl)
	}
	wrongName := good
	wrongName.TLS.ServerName = "elsewhere.test"
	if got := steps(Diagnose(context.Background(), wrongName)); !strings.Contains(got, "tls=fail (") || !strings.Contains(got, "elsewhere.test") {
		t.Errorf("wrong server name: %s", got)
	}
	noClientCert := good
	noClientCert.TLS.CertFile, noClientCert.TLS.KeyFile = "", ""
	if got := steps(Diagnose(context.Background(), noClientCert)); strings.Contains(got, "export=ok") {
		t.Errorf("without the client certificate mutual TLS cannot deliver: %s", got)
	}
}

func TestDiagnoseFileAndDebug(t *testing.T) {
	f := testCfg("file", "")
	f.Path = filepath.Join(t.TempDir(), "out.jsonl")
	if got := steps(Diagnose(context.Background(), f)); got != "file=ok" {
		t.Errorf("writable file: %s", got)
	}
	if _, err := os.Stat(f.Path); err != nil {
		t.Errorf("the file exporter's file was not created: %v", err)
	}
	f.Path = filepath.Join(t.TempDir(), "missing-dir", "out.jsonl")
	if got := steps(Diagnose(context.Background(), f)); !strings.HasPrefix(got, "file=fail (") {
		t.Errorf("file in a missing directory: %s", got)
	}
	if d := Diagnose(context.Background(), testCfg("debug", "")); steps(d) != "export=skip" || !d.OK() {
		t.Errorf("debug: %s", steps(d))
	}
}

// startHealthUpstream serves grpc.health.v1 with the whole server in st.
func startHealthUpstream(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", st)
	healthpb.RegisterHealthServer(srv, hs)
	return serveGRPC(t, srv)
}
