package exporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, false},
		{" 120 ", maxUpstreamDelay, true},
		{"60", time.Minute, false},
		{"0", 0, false},
		{"-5", 0, true},
		{"soon", 0, true},
		{"1.5", 0, true},
		{"\x00\xff", 0, true},
		// Would overflow time.Duration if multiplied before the bound.
		{"10000000000", maxUpstreamDelay, true},
		{"99999999999999999999999", maxUpstreamDelay, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), maxUpstreamDelay, true},
		{now.AddDate(200, 0, 0).Format(http.TimeFormat), maxUpstreamDelay, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false},
	} {
		if got, bad := parseRetryAfter(tc.in, now); got != tc.want || bad != tc.bad {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

func TestStatusMessage(t *testing.T) {
	st, _ := proto.Marshal(&spb.Status{Code: 3, Message: "span 4 has no trace id"})
	for _, tc := range []struct {
		body []byte
		want string
	}{
		{st, "span 4 has no trace id"},
		{nil, "(no body)"},
		{[]byte("plain text"), `"plain text"`},
		{[]byte(strings.Repeat("x", 1000)), `"` + strings.Repeat("x", 256) + `"`},
	} {
		if got := statusMessage(tc.body); got != tc.want {
			t.Errorf("statusMessage(%.20q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestHTTPBatchesConcatenated(t *testing.T) {
	up := startHTTPUpstream(t)
	e, tm, _ := newTestExporter(t, testCfg("otlphttp", up.url), noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "a", 2), 2)
	push(t, e, otlpwire.Traces, tracesReq(t, "b", 1), 1)
	e.Start()
	drain(t, e)
	calls := up.got()
	if len(calls) != 1 {
		t.Fatalf("exports = %d, want 1", len(calls))
	}
	if names := spanNames(decodeTraces(t, calls[0].req)); !slices.Equal(names, []string{"a/0", "a/1", "b/0"}) {
		t.Fatalf("spans = %v", names)
	}
	if ct := calls[0].header.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 3 {
		t.Fatalf("sent = %v, want 3", v)
	}
}

// TestHTTPEverySignal checks each signal goes to its own path.
func TestHTTPEverySignal(t *testing.T) {
	up := startHTTPUpstream(t)
	e, _, _ := newTestExporter(t, testCfg("otlphttp", up.url+"/"), noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "t", 1), 1)
	push(t, e, otlpwire.Metrics, metricsReq(t, 2), 2)
	push(t, e, otlpwire.Logs, logsReq(t, 3), 3)
	e.Start()
	drain(t, e)
	var sigs []otlpwire.Signal
	for _, c := range up.got() {
		sigs = append(sigs, c.sig)
	}
	slices.Sort(sigs)
	if !slices.Equal(sigs, []otlpwire.Signal{otlpwire.Traces, otlpwire.Metrics, otlpwire.Logs}) {
		t.Fatalf("paths hit for signals %v", sigs)
	}
}

func TestHTTPRetryableStatuses(t *testing.T) {
	for _, code := range []int{429, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			up := startHTTPUpstream(t, reply{http: code}, reply{http: code})
			e, tm, _ := newTestExporter(t, testCfg("otlphttp", up.url), noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "r", 3), 3)
			e.Start()
			drain(t, e)
			calls := up.got()
			if len(calls) != 3 || len(spanNames(decodeTraces(t, calls[2].req))) != 3 {
				t.Fatalf("attempts = %d, want 3 with the whole request", len(calls))
			}
			if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 3 {
				t.Fatalf("sent = %v, want 3", v)
			}
			if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); v != 2 {
				t.Fatalf("retries = %v, want 2", v)
			}
		})
	}
}

// TestHTTPRetryAfterHonoured checks a 503 with Retry-After: 1 holds the
// next attempt back by a second, despite a 2ms back-off. The wait is read
// off the retrier's clock (see useRetryClock), not off receipt times.
func TestHTTPRetryAfterHonoured(t *testing.T) {
	up := startHTTPUpstream(t, reply{http: 503, after: time.Second})
	e, _, _ := newTestExporter(t, testCfg("otlphttp", up.url), noLinger)
	clk := useRetryClock(e)
	push(t, e, otlpwire.Logs, logsReq(t, 1), 1)
	e.Start()
	drain(t, e)
	calls := up.got()
	if len(calls) != 2 {
		t.Fatalf("attempts = %d, want 2", len(calls))
	}
	if waits := clk.waited(); !slices.Equal(waits, []time.Duration{time.Second}) {
		t.Fatalf("waits between attempts = %v, upstream asked for 1s", waits)
	}
}

// TestHTTPPermanentStatus checks a 400 is not retried, is counted, and
// its google.rpc.Status message reaches the log.
func TestHTTPPermanentStatus(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 500} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			up := startHTTPUpstream(t, reply{http: code, msg: "bad span"}, reply{http: code})
			e, tm, logs := newTestExporter(t, testCfg("otlphttp", up.url), noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "p", 2), 2)
			e.Start()
			drain(t, e)
			if n := len(up.got()); n != 1 {
				t.Fatalf("attempts = %d, want 1", n)
			}
			if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "traces", "permanent")); v != 2 {
				t.Fatalf("failed{permanent} = %v, want 2", v)
			}
			l := logs.find("export failed, items dropped")
			if len(l) != 1 {
				t.Fatalf("failure logs = %v", l)
			}
			if msg := l[0]["error"].String(); !strings.Contains(msg, fmt.Sprintf("HTTP %d: bad span", code)) {
				t.Fatalf("logged error %q lacks the upstream's status and message", msg)
			}
		})
	}
}

func TestHTTPPartialSuccess(t *testing.T) {
	up := startHTTPUpstream(t, reply{rejected: 1, msg: "one log too big"})
	e, tm, logs := newTestExporter(t, testCfg("otlphttp", up.url), noLinger)
	push(t, e, otlpwire.Logs, logsReq(t, 4), 4)
	e.Start()
	drain(t, e)
	if v := testutil.ToFloat64(tm.ExporterRejected.WithLabelValues("up", "logs")); v != 1 {
		t.Fatalf("rejected = %v, want 1", v)
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "logs")); v != 3 {
		t.Fatalf("sent = %v, want 3", v)
	}
	if l := logs.find("upstream reported partial success"); len(l) != 1 || l[0]["message"].String() != "one log too big" {
		t.Fatalf("partial success log = %v", l)
	}
}

func TestHTTPCompressionAndHeaders(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			up := startHTTPUpstream(t)
			cfg := testCfg("otlphttp", up.url)
			cfg.Compression = comp
			cfg.Headers = map[string]string{"authorization": "Bearer s3cret", "X-Tenant": "acme"}
			e, _, _ := newTestExporter(t, cfg, noLinger)
			push(t, e, otlpwire.Traces, tracesReq(t, "z", 300), 300)
			push(t, e, otlpwire.Traces, tracesReq(t, "y", 2), 2)
			e.Start()
			drain(t, e)
			calls := up.got()
			if len(calls) != 1 || len(spanNames(decodeTraces(t, calls[0].req))) != 302 {
				t.Fatalf("got %d exports; want one with 302 spans", len(calls))
			}
			want := comp
			if comp == "none" {
				want = ""
			}
			if calls[0].compression != want {
				t.Fatalf("Content-Encoding = %q, want %q", calls[0].compression, want)
			}
			h := calls[0].header
			if h.Get("Authorization") != "Bearer s3cret" || h.Get("X-Tenant") != "acme" {
				t.Fatalf("headers = %v", h)
			}
		})
	}
}

// TestHTTPShutdownDeadUpstream: connection refused is retryable, so only
// the shutdown deadline ends the attempts, and the loss is reported.
func TestHTTPShutdownDeadUpstream(t *testing.T) {
	cfg := testCfg("otlphttp", "http://"+deadAddr(t))
	cfg.Retry.MaxElapsedTime = 0
	tm := telemetry.NewMetrics()
	e, err := New(cfg, config.Batch{MaxItems: 2}, 1<<20, Settings{Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		push(t, e, otlpwire.Metrics, metricsReq(t, 2), 2)
	}
	e.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "6 items undelivered") {
		t.Fatalf("Shutdown = %v, want 6 items undelivered", err)
	}
	// Only a hang fails this: retries never end by themselves here, so
	// returning at all shows the deadline stopped them; how soon after
	// 200ms depends on the machine's load.
	if took := time.Since(start); took > hangBound {
		t.Fatalf("Shutdown took %v with a 200ms deadline", took)
	}
	if v := testutil.ToFloat64(tm.ExporterFailed.WithLabelValues("up", "metrics", "shutdown")); v != 6 {
		t.Fatalf("failed{shutdown} = %v, want 6", v)
	}
}

// TestHTTPAttemptTimeoutRetries checks an upstream slower than the
// per-attempt timeout is retried, and a later (fast) attempt succeeds. The
// first attempt must end by the client giving up (the timeout fired);
// the retries are counted from the upstream's calls, since on a loaded
// machine a fast attempt may also overrun 100ms and be retried again.
func TestHTTPAttemptTimeoutRetries(t *testing.T) {
	release := make(chan struct{})
	firstCancelled := make(chan struct{})
	mux := http.NewServeMux()
	var calls atomic.Int32
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// With the body read, the server watches the connection and
			// cancels r's context when the client abandons the request.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done(): // the client gave up on this attempt
				close(firstCancelled)
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	})
	up := startHTTPServer(t, mux)
	defer close(release)
	cfg := testCfg("otlphttp", up)
	cfg.Timeout = 100 * time.Millisecond
	e, tm, _ := newTestExporter(t, cfg, noLinger)
	push(t, e, otlpwire.Traces, tracesReq(t, "slow", 1), 1)
	e.Start()
	drain(t, e)
	// The server hears of the client's abandon asynchronously.
	select {
	case <-firstCancelled:
	case <-time.After(hangBound):
		t.Fatal("the slow first attempt was not abandoned by the client")
	}
	if v := testutil.ToFloat64(tm.ExporterSent.WithLabelValues("up", "traces")); v != 1 {
		t.Fatalf("sent = %v, want 1", v)
	}
	n := calls.Load()
	if v := testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")); n < 2 || v != float64(n-1) {
		t.Fatalf("retries = %v after %d attempts, want at least 1 and one fewer than the attempts", v, n)
	}
}
