package exporter

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// The tests here are "the upstream answers garbage": each fault must be
// counted, and retried with back-off, given up as permanent, or taken as
// delivered, as the OTLP specification says; never a crash, and the books
// balance: what was queued is sent, rejected or counted as failed.

// checkBooks fails unless every item queued on e (queued of them, all of
// signal sig) is counted once: sent, rejected, or failed for a reason.
func checkBooks(t *testing.T, tm *telemetry.Metrics, sig otlpwire.Signal, queued int) {
	t.Helper()
	sent := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", sig.String()))
	rejected := testutil.ToFloat64(tm.ExporterRejected.WithLabelValues("up", sig.String()))
	failed := 0.0
	for r := failedPermanent; r < numReasons; r++ {
		failed += testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", sig.String(), r.String()))
	}
	if sent+rejected+failed != float64(queued) {
		t.Fatalf("books: queued %d, sent %v + rejected %v + failed %v", queued, sent, rejected, failed)
	}
}

func malformedCount(tm *telemetry.Metrics, k malformedKind) float64 {
	return testutil.ToFloat64(tm.ExporterMalformed.WithLabelValues("up", k.String()))
}

// retryInfoAny is a status detail typed google.rpc.RetryInfo holding b.
func retryInfoAny(b []byte) *anypb.Any {
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + retryInfoName, Value: b}
}

func retryInfoBytes(t *testing.T, d *durationpb.Duration) []byte {
	t.Helper()
	b, err := proto.Marshal(&errdetails.RetryInfo{RetryDelay: d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGRPCMalformedRetryInfo: UNAVAILABLE and RESOURCE_EXHAUSTED whose
// RetryInfo is unreadable, invalid, negative or huge. Both codes stay
// retryable (a RetryInfo, even a broken one, is the upstream's sign that
// it will recover); the delay is never trusted beyond its bounds: a broken
// or negative one gives way to the exporter's own back-off, a huge one is
// clamped to maxUpstreamDelay. Each is counted as kind retry_delay. The
// waits are read off the retrier's clock, so nothing here depends on time.
func TestGRPCMalformedRetryInfo(t *testing.T) {
	cases := []struct {
		name string
		ri   func(t *testing.T) []byte
		wait time.Duration // the one wait before the second attempt
	}{
		{"bad bytes", func(*testing.T) []byte { return []byte{0x0a, 0xff, 0xff, 0xff} }, 2 * time.Millisecond},
		{"negative", func(t *testing.T) []byte { return retryInfoBytes(t, durationpb.New(-5*time.Second)) }, 2 * time.Millisecond},
		{"mixed signs", func(t *testing.T) []byte { return retryInfoBytes(t, &durationpb.Duration{Seconds: 3, Nanos: -1}) }, 2 * time.Millisecond},
		{"out of range", func(t *testing.T) []byte { return retryInfoBytes(t, &durationpb.Duration{Seconds: 1 << 62}) }, 2 * time.Millisecond},
		{"ten hours", func(t *testing.T) []byte { return retryInfoBytes(t, durationpb.New(10*time.Hour)) }, maxUpstreamDelay},
	}
	for _, code := range []codes.Code{codes.Unavailable, codes.ResourceExhausted} {
		for _, tc := range cases {
			t.Run(code.String()+"/"+tc.name, func(t *testing.T) {
				up := startGRPCUpstream(t, reply{code: code, details: []*anypb.Any{retryInfoAny(tc.ri(t))}})
				cfg := testCfg("otlp", up.addr)
				cfg.Retry.MaxElapsedTime = time.Hour // room for the clamped wait
				e, tm, _ := newTestExporter(t, cfg, noLinger)
				clk := useRetryClock(e)
				push(t, e, otlpwire.Traces, tracesReq(t, "m", 3), 3)
				e.Start()
				drain(t, e)
				if n := len(up.got()); n != 2 {
					t.Fatalf("attempts = %d, want 2 (one failure, one retry)", n)
				}
				if waits := clk.waited(); !slices.Equal(waits, []time.Duration{tc.wait}) {
					t.Fatalf("waits = %v, want [%v]", waits, tc.wait)
				}
				if v := malformedCount(tm, malformedRetryDelay); v != 1 {
					t.Fatalf("malformed{retry_delay} = %v, want 1", v)
				}
				if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 3 {
					t.Fatalf("sent = %v, want 3", v)
				}
				checkBooks(t, tm, otlpwire.Traces, 3)
			})
		}
	}
}

// TestHTTPMalformedRetryAfter: 429 and 503 whose Retry-After is not a
// delay, is negative, or asks for far too long. The answer stays
// retryable; a broken value gives way to the exporter's back-off, a huge
// one (seconds that would overflow a time.Duration, a date centuries
// ahead) is clamped to maxUpstreamDelay, and each is counted.
func TestHTTPMalformedRetryAfter(t *testing.T) {
	cases := []struct {
		header string
		wait   time.Duration
	}{
		{"soon", 2 * time.Millisecond},
		{"-5", 2 * time.Millisecond},
		{"1e3", 2 * time.Millisecond},
		{"86400", maxUpstreamDelay},
		{"10000000000", maxUpstreamDelay},
		{"99999999999999999999999999", maxUpstreamDelay},
		{time.Now().AddDate(300, 0, 0).UTC().Format(http.TimeFormat), maxUpstreamDelay},
	}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d/%s", code, tc.header), func(t *testing.T) {
				up := startHTTPUpstream(t, reply{http: code, retryAfter: tc.header})
				cfg := testCfg("otlphttp", up.url)
				cfg.Retry.MaxElapsedTime = time.Hour
				e, tm, _ := newTestExporter(t, cfg, noLinger)
				clk := useRetryClock(e)
				push(t, e, otlpwire.Logs, logsReq(t, 2), 2)
				e.Start()
				drain(t, e)
				if n := len(up.got()); n != 2 {
					t.Fatalf("attempts = %d, want 2", n)
				}
				if waits := clk.waited(); !slices.Equal(waits, []time.Duration{tc.wait}) {
					t.Fatalf("waits = %v, want [%v]", waits, tc.wait)
				}
				if v := malformedCount(tm, malformedRetryDelay); v != 1 {
					t.Fatalf("malformed{retry_delay} = %v, want 1", v)
				}
				if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "logs")); v != 2 {
					t.Fatalf("sent = %v, want 2", v)
				}
				checkBooks(t, tm, otlpwire.Logs, 2)
			})
		}
	}
}

// scriptedHTTP is an upstream that answers each request with the next of
// its answers (the last one repeats), and counts the spans it was sent.
type scriptedHTTP struct {
	mu      sync.Mutex
	answers []httpAnswer
	calls   int
	spans   atomic.Int64
}

type httpAnswer struct {
	status      int
	contentType string
	body        []byte
}

func (u *scriptedHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err != nil || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	a := u.answers[min(u.calls, len(u.answers)-1)]
	u.calls++
	u.mu.Unlock()
	if a.status == http.StatusOK {
		u.spans.Add(int64(len(spanNames(&req))))
	}
	w.Header().Set("Content-Type", a.contentType)
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func (u *scriptedHTTP) attempts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// TestHTTPUnexpectedAnswers: an upstream (or a proxy in front of it) that
// answers with something other than OTLP/HTTP's protobuf. A 2xx is taken
// as delivered whatever its body, since the data was accepted and
// retrying would duplicate it (OTLP/HTTP "Full Success"); a body that is
// not protobuf is not decoded, so JSON that happens to parse as a
// partial_success rejects nothing. An error status is classified by its
// code alone. Each is counted by kind.
func TestHTTPUnexpectedAnswers(t *testing.T) {
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x01}
	jsonPartial := []byte(`{"partialSuccess":{"rejectedSpans":"4","errorMessage":"x"}}`)
	html := []byte("<html><body>502 Bad Gateway</body></html>")
	for _, tc := range []struct {
		name     string
		answers  []httpAnswer
		attempts int
		kind     malformedKind
		kinds    float64 // malformed count of kind
		sent     float64
		reason   failReason // where the items go when not sent
	}{
		{"200 text/html", []httpAnswer{{200, "text/html", []byte("<html>ok</html>")}}, 1, malformedContentType, 1, 5, delivered},
		{"200 json partial", []httpAnswer{{200, "application/json", jsonPartial}}, 1, malformedContentType, 1, 5, delivered},
		{"200 protobuf garbage", []httpAnswer{{200, "application/x-protobuf", garbage}}, 1, malformedBody, 1, 5, delivered},
		{"200 no content type garbage", []httpAnswer{{200, "", garbage}}, 1, malformedBody, 1, 5, delivered},
		{"200 empty body text/plain", []httpAnswer{{200, "text/plain", nil}}, 1, malformedContentType, 0, 5, delivered},
		{"503 text/html then 200", []httpAnswer{{503, "text/html", html}, {200, "application/x-protobuf", nil}}, 2, malformedContentType, 1, 5, delivered},
		{"502 garbage protobuf then 200", []httpAnswer{{502, "application/x-protobuf", garbage}, {200, "application/x-protobuf", nil}}, 2, malformedContentType, 0, 5, delivered},
		{"400 text/html", []httpAnswer{{400, "text/html", html}}, 1, malformedContentType, 1, 0, failedPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &scriptedHTTP{answers: tc.answers}
			url := startHTTPServer(t, u)
			e, tm, logs := newTestExporter(t, testCfg("otlphttp", url), noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "h", 5), 5)
			e.Start()
			drain(t, e)
			if n := u.attempts(); n != tc.attempts {
				t.Fatalf("attempts = %d, want %d", n, tc.attempts)
			}
			if v := malformedCount(tm, tc.kind); v != tc.kinds {
				t.Fatalf("malformed{%s} = %v, want %v", tc.kind, v, tc.kinds)
			}
			if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != tc.sent {
				t.Fatalf("sent = %v, want %v", v, tc.sent)
			}
			if v := testutil.ToFloat64(tm.ExporterRejected.WithLabelValues("up", "traces")); v != 0 {
				t.Fatalf("rejected = %v: a body that is not an OTLP response was read as one", v)
			}
			if tc.reason != delivered {
				if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", tc.reason.String())); v != 5 {
					t.Fatalf("failed{%s} = %v, want 5", tc.reason, v)
				}
				l := logs.find("export failed, items dropped")
				if len(l) != 1 || !strings.Contains(l[0]["error"].String(), "502 Bad Gateway") {
					t.Fatalf("failure log = %v, want the body quoted", l)
				}
			} else if got := u.spans.Load(); got != 5 {
				t.Fatalf("upstream took %d spans, want 5", got)
			}
			checkBooks(t, tm, otlpwire.Traces, 5)
		})
	}
}

// TestGRPCUnreadableResponse: an OK whose message is not an
// Export*ServiceResponse. The upstream took the request, so it counts as
// delivered (not retried: that would duplicate it), and as kind body.
func TestGRPCUnreadableResponse(t *testing.T) {
	var spans atomic.Int64
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var b []byte
		if err := stream.RecvMsg(&b); err != nil {
			return err
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return err
		}
		spans.Add(int64(len(spanNames(&req))))
		return stream.SendMsg(&outMsg{body: []byte{0x0a, 0xff, 0xff, 0xff, 0xff}})
	}))
	addr := serveGRPC(t, srv)
	e, tm, _ := newTestExporter(t, testCfg("otlp", addr), noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "g", 4), 4)
	e.Start()
	drain(t, e)
	if v := malformedCount(tm, malformedBody); v != 1 {
		t.Fatalf("malformed{body} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 4 {
		t.Fatalf("sent = %v, want 4", v)
	}
	if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != 0 {
		t.Fatalf("retries = %v, want 0: a retry would duplicate what the upstream took", v)
	}
	if got := spans.Load(); got != 4 {
		t.Fatalf("upstream got %d spans, want 4 (once)", got)
	}
	checkBooks(t, tm, otlpwire.Traces, 4)
}

// garbageServer accepts TCP connections and answers each with random
// bytes (seeded, so a failure can be replayed), reading and discarding
// what the client sends, until the test ends.
type garbageServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func startGarbageServer(t *testing.T) *garbageServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &garbageServer{ln: ln, conns: map[net.Conn]struct{}{}}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for seed := uint64(1); ; seed++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.accepted.Add(1)
			g.mu.Lock()
			g.conns[c] = struct{}{}
			g.mu.Unlock()
			g.wg.Add(2)
			go func() {
				defer g.wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
			go func() {
				defer g.wg.Done()
				r := rand.New(rand.NewPCG(seed, 16))
				buf := make([]byte, 4096)
				for i := range buf {
					buf[i] = byte(r.Uint32())
				}
				_, _ = c.Write(buf)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

// TestGarbageUpstream: something that is not an OTLP server at all
// answers every connection with random bytes (to plaintext gRPC, HTTP/1.1,
// and an HTTPS client mid-handshake). Neither exporter crashes or
// hangs: the failure is a transport error, retryable (it looks like any
// broken connection), so the batch is retried with back-off until
// retry.max_elapsed_time and then counted as retries_exhausted. The
// retrier runs on the test clock, so the number of attempts is fixed by
// the schedule (waits 2, 4, 8, 10, 10, 10ms; the next would pass 50ms),
// not by the machine's speed.
func TestGarbageUpstream(t *testing.T) {
	for _, name := range []string{"otlp", "otlphttp", "otlphttp-tls"} {
		t.Run(name, func(t *testing.T) {
			g := startGarbageServer(t)
			typ, endpoint := name, g.ln.Addr().String()
			var tls *config.TLS
			switch name {
			case "otlphttp":
				endpoint = "http://" + endpoint
			case "otlphttp-tls":
				// The garbage arrives where the TLS handshake expects a
				// ServerHello.
				typ, endpoint = "otlphttp", "https://"+endpoint
				pki := newTestPKI(t)
				tls = &config.TLS{CAFile: pki.CertFile}
			}
			cfg := testCfg(typ, endpoint)
			if tls != nil {
				cfg.TLS = *tls
			}
			cfg.Retry.MaxElapsedTime = 50 * time.Millisecond
			e, tm, logs := newTestExporter(t, cfg, noLinger)
			clk := useRetryClock(e)
			push(t, e, otlpwire.Traces, tracesReq(t, "x", 6), 6)
			e.Start()
			drain(t, e)
			want := []time.Duration{2, 4, 8, 10, 10, 10}
			for i := range want {
				want[i] *= time.Millisecond
			}
			if waits := clk.waited(); !slices.Equal(waits, want) {
				t.Fatalf("waits = %v, want %v", waits, want)
			}
			if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != float64(len(want)) {
				t.Fatalf("retries = %v, want %d", v, len(want))
			}
			if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "retries_exhausted")); v != 6 {
				t.Fatalf("failed{retries_exhausted} = %v, want 6", v)
			}
			if g.accepted.Load() == 0 {
				t.Fatal("the exporter never reached the garbage server")
			}
			if l := logs.find("export failed, items dropped"); len(l) != 1 {
				t.Fatalf("failure logs = %v, want 1", l)
			} else {
				msg := l[0]["error"].String()
				t.Logf("%s against garbage: %d connections; gave up with: %.160s", name, g.accepted.Load(), msg)
			}
			checkBooks(t, tm, otlpwire.Traces, 6)
		})
	}
}
