package exporter

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/faultproxy"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// The half-open tests wait (testwait.Until) for the books to balance:
// recovery takes the keepalive time (gRPC's minimum, 10s) plus its
// timeout, well inside testwait.HangBound.

// halfOpenCfg is an exporter with short attempts, retrying until shutdown,
// and the shortest keepalive gRPC allows.
func halfOpenCfg(typ, endpoint string) config.Exporter {
	cfg := testCfg(typ, endpoint)
	cfg.Timeout = time.Second
	cfg.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Retry.MaxInterval = 200 * time.Millisecond
	cfg.Retry.MaxElapsedTime = 0
	cfg.Concurrency.Max = 2
	cfg.Keepalive = config.ExporterKeepalive{Time: 10 * time.Second, Timeout: time.Second}
	return cfg
}

// halfOpenRun sends through p to an upstream whose received span count is
// got: some requests, then it half-opens every connection and blackholes
// new ones, sends more (the queue takes them and the exporter retries),
// then forwards new connections again, old ones staying half-open. Every
// queued span must arrive; duplicates are allowed and reported.
func halfOpenRun(t *testing.T, e *Exporter, p *faultproxy.Proxy, got func() int) {
	t.Helper()
	const perReq, before, during = 50, 20, 20
	req := otlptest.Marshal(otlptest.Traces(1, perReq, 1, 1))
	sent := e.m.sig[otlpwire.Traces].sent
	e.Start()
	for range before {
		push(t, e, otlpwire.Traces, req, perReq)
	}
	waitSpans(t, "delivery before the fault", got, before*perReq)
	// And acknowledged: an answer lost in the fault would be retried and
	// counted as a duplicate of the fault's making.
	waitCounter(t, e.m.sig[otlpwire.Traces].sent, float64(before*perReq))

	p.SetNew(faultproxy.Blackhole)
	p.HalfOpen()
	retriesBefore := testutil.ToFloat64(e.m.retries)
	for range during {
		push(t, e, otlpwire.Traces, req, perReq)
	}
	// The exporter is now retrying into connections that cannot deliver.
	testwait.Until(t, func() string { return "a retry while the connection was half-open" },
		func() bool { return testutil.ToFloat64(e.m.retries) != retriesBefore })
	p.SetNew(faultproxy.Forward) // new connections only: old ones stay silent

	want := (before + during) * perReq
	waitSpans(t, "delivery after forwarding resumed on new connections", got, want)
	waitCounter(t, sent, float64(want))
	received := got()
	t.Logf("acknowledged %d spans, upstream received %d (%d duplicates); proxy: %d connections accepted, %d forwarded, %d blackholed",
		want, received, received-want, p.Accepted(), p.Forwarded(), p.Blackholed())
	if s := testutil.ToFloat64(sent); s != float64(want) {
		t.Fatalf("exporter_sent_items_total = %v, want %d", s, want)
	}
}

// waitSpans waits until got reaches n.
func waitSpans(t *testing.T, what string, got func() int, n int) {
	t.Helper()
	testwait.Until(t, func() string { return fmt.Sprintf("%s: upstream has %d spans, want %d", what, got(), n) },
		func() bool { return got() >= n })
}

// TestGRPCHalfOpenReconnects is the defect "half-open upstream connection
// loses data": the gRPC exporter must notice the silent connection by
// keepalive and deliver everything on a new one. It also caught a worker
// waiting for ever for gRPC to free a part it had half written when the
// stream was reset (SendParts no longer waits: see outParts).
func TestGRPCHalfOpenReconnects(t *testing.T) {
	sink := otlpsink.Start(t)
	p := faultproxy.Start(t, sink.Addr())
	e, _, _ := newTestExporter(t, halfOpenCfg("otlp", p.Addr()), noLinger)
	halfOpenRun(t, e, p, func() int { s, _, _ := sink.Items(); return s })
}

// TestHTTPHalfOpenReconnects is the same for otlphttp over HTTP/2 (TLS),
// where a timed-out request resets only its stream and leaves the dead
// connection in the pool, and over HTTP/1.1, where Go closes a timed-out
// request's connection by itself (so that case passed before the fix too).
func TestHTTPHalfOpenReconnects(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		t.Run(httpName(h2), func(t *testing.T) {
			e, p, got := startHTTPBehindProxy(t, h2)
			halfOpenRun(t, e, p, got)
			checkProto(t, e, p, h2)
		})
	}
}

// TestHTTPBlackholeRecovers is TestGRPCBlackholeRecovers for otlphttp.
func TestHTTPBlackholeRecovers(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		t.Run(httpName(h2), func(t *testing.T) {
			e, p, got := startHTTPBehindProxy(t, h2)
			blackholeRun(t, e, p, got)
			checkProto(t, e, p, h2)
		})
	}
}

func httpName(h2 bool) string {
	if h2 {
		return "http2"
	}
	return "http1"
}

// startHTTPBehindProxy runs an OTLP/HTTP upstream that counts the spans it
// accepts (over TLS with HTTP/2 when h2, plaintext HTTP/1.1 otherwise), a
// faultproxy in front of it, and an exporter (not started) sending through
// the proxy.
func startHTTPBehindProxy(t *testing.T, h2 bool) (*Exporter, *faultproxy.Proxy, func() int) {
	t.Helper()
	var spans atomic.Int64
	srv := httptest.NewUnstartedServer(spanCounter(&spans))
	cfg := halfOpenCfg("otlphttp", "")
	scheme := "http://"
	if h2 {
		pki := newTestPKI(t)
		srv.TLS = pki.MutualServerTLS()
		srv.EnableHTTP2 = true
		srv.StartTLS()
		cfg.TLS = config.TLS{CAFile: pki.CertFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
		scheme = "https://"
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	p := faultproxy.Start(t, srv.Listener.Addr().String())
	cfg.Endpoint = scheme + p.Addr()
	e, _, _ := newTestExporter(t, cfg, noLinger)
	return e, p, func() int { return int(spans.Load()) }
}

// spanCounter is an OTLP/HTTP traces upstream that accepts every valid
// request and adds its spans to spans.
func spanCounter(spans *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err != nil || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		n := 0
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
		spans.Add(int64(n))
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(otlpwire.EncodeExportResponse(otlpwire.Traces, 0, "", nil))
	}
}

// checkProto makes sure the exporter spoke the HTTP version the test is
// about.
func checkProto(t *testing.T, e *Exporter, p *faultproxy.Proxy, h2 bool) {
	t.Helper()
	s := e.sender.(*httpSender)
	resp, err := s.client.Get(s.urls[otlpwire.Traces])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
		t.Fatalf("exporter spoke %s through %s, want HTTP/%d", resp.Proto, p.Addr(), want)
	}
}

// blackholeRun cuts every connection with a reset while new connections
// are blackholed (accepted, never answered), sends, and lets new
// connections through again once the exporter has been sent into the
// blackhole: every queued span must arrive.
func blackholeRun(t *testing.T, e *Exporter, p *faultproxy.Proxy, got func() int) {
	t.Helper()
	const perReq, before, during = 50, 10, 10
	req := otlptest.Marshal(otlptest.Traces(1, perReq, 1, 2))
	e.Start()
	for range before {
		push(t, e, otlpwire.Traces, req, perReq)
	}
	waitSpans(t, "delivery before the fault", got, before*perReq)
	// And acknowledged: an answer lost in the fault would be retried and
	// counted as a duplicate of the fault's making.
	waitCounter(t, e.m.sig[otlpwire.Traces].sent, float64(before*perReq))

	p.SetNew(faultproxy.Blackhole)
	p.Cut(true)
	for range during {
		push(t, e, otlpwire.Traces, req, perReq)
	}
	testwait.Until(t, func() string { return "the exporter to reconnect into the blackhole" },
		func() bool { return p.Blackholed() > 0 })
	p.SetNew(faultproxy.Forward)

	want := (before + during) * perReq
	waitSpans(t, "delivery after the blackhole ended", got, want)
	waitCounter(t, e.m.sig[otlpwire.Traces].sent, float64(want))
	received := got()
	t.Logf("acknowledged %d spans, upstream received %d (%d duplicates); proxy: %d connections accepted, %d forwarded, %d blackholed",
		want, received, received-want, p.Accepted(), p.Forwarded(), p.Blackholed())
}

// TestGRPCBlackholeRecovers: connections that open and never answer (a
// blackholed upstream) hold nothing for good; once the upstream answers
// again, everything queued arrives.
func TestGRPCBlackholeRecovers(t *testing.T) {
	sink := otlpsink.Start(t)
	p := faultproxy.Start(t, sink.Addr())
	e, _, _ := newTestExporter(t, halfOpenCfg("otlp", p.Addr()), noLinger)
	blackholeRun(t, e, p, func() int { s, _, _ := sink.Items(); return s })
}

// TestHalfOpenEndedByKeepalive shows what finds a half-open connection:
// the exporter's keepalive, not TCP. With no attempt timeout at all, an
// export on a connection that a NAT forgot could only end by TCP giving up
// (minutes, and never here: the proxy's TCP acknowledges every byte) or by
// the keepalive ping going unanswered (keepalive.time + keepalive.timeout).
// The attempt must end with the keepalive's own error, the client must be
// the one that closed the silent connection (faultproxy.Abandoned), and
// the retry must deliver on a new connection.
func TestHalfOpenEndedByKeepalive(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		error string // what the transport says when the ping goes unanswered
	}{
		{"otlp", "keepalive ping failed to receive ACK within timeout"},
		{"otlphttp", "http2: client connection lost"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			var e *Exporter
			var p *faultproxy.Proxy
			var got func() int
			var logs *logRecorder
			if tc.typ == "otlp" {
				sink := otlpsink.Start(t)
				p = faultproxy.Start(t, sink.Addr())
				e, _, logs = newTestExporter(t, keepaliveOnlyCfg(halfOpenCfg("otlp", p.Addr())), noLinger)
				got = func() int { s, _, _ := sink.Items(); return s }
			} else {
				e, p, got, logs = startHTTP2BehindProxy(t, keepaliveOnlyCfg)
			}
			const perReq = 20
			req := otlptest.Marshal(otlptest.Traces(1, perReq, 1, 4))
			sent := e.m.sig[otlpwire.Traces].sent
			e.Start()
			push(t, e, otlpwire.Traces, req, perReq)
			waitCounter(t, sent, perReq)
			if p.Accepted() != 1 {
				t.Fatalf("proxy accepted %d connections before the fault, want 1", p.Accepted())
			}

			p.HalfOpen() // new connections are still forwarded
			push(t, e, otlpwire.Traces, req, perReq)
			waitCounter(t, sent, 2*perReq)
			if got() < 2*perReq {
				t.Fatalf("upstream has %d spans, want %d", got(), 2*perReq)
			}

			retries := logs.find("export failed, retrying")
			if len(retries) == 0 {
				t.Fatal("no retry: the second batch cannot have gone out on the half-open connection")
			}
			for _, r := range retries {
				if msg := r["error"].String(); !strings.Contains(msg, tc.error) {
					t.Errorf("an attempt failed with %q, want the keepalive's %q", msg, tc.error)
				}
			}
			if n := p.Abandoned(); n != 1 {
				t.Errorf("the exporter closed %d silent connections, want 1 (the half-open one)", n)
			}
			if n := p.Accepted(); n != 2 {
				t.Errorf("proxy accepted %d connections, want 2 (the first, and the one the retry dialled)", n)
			}
			t.Logf("%s: %d retries, first error: %s", tc.typ, len(retries), retries[0]["error"])
		})
	}
}

// keepaliveOnlyCfg removes the attempt timeout (config validation would
// refuse 0; the exporter takes it as none) so that nothing but keepalive
// can end an attempt on a silent connection.
func keepaliveOnlyCfg(cfg config.Exporter) config.Exporter {
	cfg.Timeout = 0
	return cfg
}

// startHTTP2BehindProxy is startHTTPBehindProxy over HTTP/2 (TLS), with
// cfg adjusted by adjust, returning the exporter's log recorder too.
func startHTTP2BehindProxy(t *testing.T, adjust func(config.Exporter) config.Exporter) (*Exporter, *faultproxy.Proxy, func() int, *logRecorder) {
	t.Helper()
	var spans atomic.Int64
	srv := httptest.NewUnstartedServer(spanCounter(&spans))
	pki := newTestPKI(t)
	srv.TLS = pki.MutualServerTLS()
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := faultproxy.Start(t, srv.Listener.Addr().String())
	cfg := halfOpenCfg("otlphttp", "https://"+p.Addr())
	cfg.TLS = config.TLS{CAFile: pki.CertFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	e, _, logs := newTestExporter(t, adjust(cfg), noLinger)
	return e, p, func() int { return int(spans.Load()) }, logs
}
