package exporter

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Outcomes of a diagnosis step.
const (
	CheckOK   = "ok"
	CheckFail = "fail"
	CheckSkip = "skip"
)

// Check is one step of a diagnosis: dns, tcp, tls, health (otlp), reach
// (otlphttp), export, or file.
type Check struct {
	Step   string
	Result string // CheckOK, CheckFail or CheckSkip
	Detail string
	// Hint says what to change, for a failure whose cause Diagnose
	// recognises (see diagnose_hint.go); empty otherwise.
	Hint string
	Took time.Duration
}

// Diagnosis is what Diagnose found for one exporter.
type Diagnosis struct {
	Exporter, Type, Target string
	Checks                 []Check

	hints *hinter // nil: no hints (file and debug exporters)
}

// OK says whether no step failed.
func (d *Diagnosis) OK() bool {
	for _, c := range d.Checks {
		if c.Result == CheckFail {
			return false
		}
	}
	return true
}

// DiagnoseService is the service.name of the span Diagnose exports, so
// that an upstream's operators can tell it from real traffic.
const DiagnoseService = "otlpgw-diagnose"

// Diagnose checks, step by step, that the exporter cfg describes can
// deliver: for otlp and otlphttp it resolves the endpoint's host, connects
// over TCP, completes the TLS handshake (unless tls.insecure), asks the
// gRPC health service (otlp) or makes a plain HTTP request (otlphttp), and
// exports one span through the exporter's own sender (service.name
// otlpgw-diagnose), so headers, compression and TLS are the ones the
// gateway uses. Each step runs only when the ones before it passed, and
// the first failure says what is wrong where. A file exporter is checked
// by opening its file for appending; a debug exporter has nothing to
// check. Every network step is bounded by cfg.Timeout (10 s when unset).
func Diagnose(ctx context.Context, cfg config.Exporter) Diagnosis {
	d := Diagnosis{Exporter: cfg.Name, Type: cfg.Type, Target: cfg.Endpoint}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	switch cfg.Type {
	case "otlp", "otlphttp":
		diagnoseNetwork(ctx, cfg, timeout, &d)
	case "file":
		d.Target = cfg.Path
		d.run("file", func() (string, error) {
			f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return "", err
			}
			return "can append to " + cfg.Path, f.Close()
		})
	default:
		d.Checks = append(d.Checks, Check{Step: "export", Result: CheckSkip, Detail: cfg.Type + " exporter: nothing to reach"})
	}
	return d
}

// run times step and records its outcome; it reports whether it passed.
func (d *Diagnosis) run(step string, fn func() (string, error)) bool {
	start := time.Now()
	detail, err := fn()
	c := Check{Step: step, Result: CheckOK, Detail: detail, Took: time.Since(start)}
	if err != nil {
		c.Result, c.Detail = CheckFail, err.Error()
		if d.hints != nil {
			c.Hint = d.hints.hint(step, err)
		}
	}
	d.Checks = append(d.Checks, c)
	return err == nil
}

func (d *Diagnosis) skip(step, why string) {
	d.Checks = append(d.Checks, Check{Step: step, Result: CheckSkip, Detail: why})
}

func diagnoseNetwork(ctx context.Context, cfg config.Exporter, timeout time.Duration, d *Diagnosis) {
	host, port, secure, err := dialTarget(cfg)
	if err != nil {
		d.Checks = append(d.Checks, Check{Step: "dns", Result: CheckFail, Detail: err.Error()})
		return
	}
	d.hints = &hinter{ctx: ctx, cfg: cfg, host: host, secure: secure, timeout: timeout}
	var addrs []string
	ok := d.run("dns", func() (string, error) {
		if net.ParseIP(host) != nil {
			addrs = []string{host}
			return host + " is an IP address", nil
		}
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var err error
		if addrs, err = net.DefaultResolver.LookupHost(c, host); err != nil {
			return "", err
		}
		return host + " → " + strings.Join(addrs, ", "), nil
	})
	if !ok {
		return
	}
	addr := net.JoinHostPort(addrs[0], port)
	d.hints.addr = addr
	ok = d.run("tcp", func() (string, error) {
		dl := net.Dialer{Timeout: timeout}
		conn, err := dl.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		return "connected to " + addr, conn.Close()
	})
	if !ok {
		return
	}
	if !secure {
		d.skip("tls", "plaintext (tls.insecure, or an http:// endpoint)")
	} else if !d.run("tls", func() (string, error) { return handshake(ctx, cfg.TLS, host, addr, timeout) }) {
		return
	}
	s, err := newSender(cfg, 1, nil, nil)
	if err != nil {
		d.Checks = append(d.Checks, Check{Step: "export", Result: CheckFail, Detail: err.Error()})
		return
	}
	defer s.Close()
	if gs, ok := s.(*grpcSender); ok {
		if !d.run("health", func() (string, error) { return grpcHealth(ctx, gs, timeout) }) {
			return
		}
	} else if hs, ok := s.(*httpSender); ok {
		if !d.run("reach", func() (string, error) { return httpReach(ctx, hs, timeout) }) {
			return
		}
	}
	d.run("export", func() (string, error) {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		p, err := s.Send(c, otlpwire.Traces, diagnoseSpan(), 1)
		switch {
		case err != nil:
			return "", err
		case p.Rejected > 0:
			return "", fmt.Errorf("the upstream rejected the test span (partial success): %s", p.Message)
		}
		return "1 test span accepted (service.name " + DiagnoseService + ")", nil
	})
}

// dialTarget is the host and port the exporter connects to, and whether
// it uses TLS.
func dialTarget(cfg config.Exporter) (host, port string, secure bool, err error) {
	if cfg.Type == "otlphttp" {
		base := cfg.Endpoint
		if !strings.Contains(base, "://") {
			scheme := "https://"
			if cfg.TLS.Insecure {
				scheme = "http://"
			}
			base = scheme + base
		}
		u, err := url.Parse(base)
		if err != nil {
			return "", "", false, fmt.Errorf("endpoint: %w", err)
		}
		port = u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return u.Hostname(), port, u.Scheme == "https", nil
	}
	target := strings.TrimPrefix(strings.TrimPrefix(cfg.Endpoint, "dns:///"), "passthrough:///")
	if host, port, err = net.SplitHostPort(target); err != nil {
		return "", "", false, fmt.Errorf("endpoint %q: want host:port: %w", cfg.Endpoint, err)
	}
	return host, port, !cfg.TLS.Insecure, nil
}

// handshake completes a TLS handshake with the exporter's own TLS settings
// and describes the server's certificate.
func handshake(ctx context.Context, c config.TLS, host, addr string, timeout time.Duration) (string, error) {
	tc, err := clientTLS(c)
	if err != nil {
		return "", err
	}
	if tc == nil { // tls.insecure with an https:// endpoint: TLS with the defaults
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	dl := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: tc}
	hc, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dl.DialContext(hc, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	detail := tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		detail += fmt.Sprintf(", certificate %q valid until %s", cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return detail, nil
}

// grpcHealth asks the upstream's grpc.health.v1 service about the server
// as a whole. Most OTLP receivers do not serve it: that passes.
func grpcHealth(ctx context.Context, s *grpcSender, timeout time.Duration) (string, error) {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The sender's connection forces its raw-bytes codec; this call needs
	// the real one.
	protoCodec := grpc.ForceCodecV2(encoding.GetCodecV2(grpcproto.Name))
	resp, err := healthpb.NewHealthClient(s.conn).Check(c, &healthpb.HealthCheckRequest{}, protoCodec)
	switch {
	case status.Code(err) == codes.Unimplemented:
		return "the upstream does not serve grpc.health.v1 (most OTLP receivers do not)", nil
	case err != nil:
		return "", err
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		return "", fmt.Errorf("health status %s", resp.GetStatus())
	}
	return "SERVING", nil
}

// httpReach makes one plain request to the traces URL (a GET, which OTLP
// receivers answer 405): any HTTP answer shows the server is reachable.
func httpReach(ctx context.Context, s *httpSender, timeout time.Duration) (string, error) {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := s.urls[otlpwire.Traces]
	req, err := http.NewRequestWithContext(c, http.MethodGet, u, http.NoBody)
	if err != nil {
		return "", err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return fmt.Sprintf("GET %s: HTTP %d (%s)", u, resp.StatusCode, resp.Proto), nil
}

// diagnoseSpan is the one span Diagnose exports.
func diagnoseSpan() []byte {
	var tid [16]byte
	var sid [8]byte
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	now := uint64(time.Now().UnixNano())
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: DiagnoseService}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "otlpgw"},
			Spans: []*tracepb.Span{{TraceId: tid[:], SpanId: sid[:], Name: "otlpgw diagnose", Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: now, EndTimeUnixNano: now}},
		}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		panic("exporter: encoding the diagnose span: " + err.Error()) // a fixed, valid message
	}
	return b
}
