package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/faultproxy"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// slowDelay is how long the fault proxy holds every chunk, each way: a
// request and its answer take at least twice that.
const slowDelay = time.Second

// TestSlowUpstreamStaysBounded: an upstream that takes seconds per request,
// an adaptive exporter, and a small queue in front. Pushes beyond the
// queue's capacity are refused at once (Reserve fails: the receiver turns
// that into UNAVAILABLE / 503 with a retry delay), the queue's bytes never
// pass its capacity, adaptive concurrency never passes its max, and
// everything that was acknowledged is delivered. The refused pushes are
// then retried, as a client told to retry does, and are delivered too.
// Every assertion is on counts and bounds; the attempt timeout is only a
// hang net, and the retry never gives up, so a slow machine cannot lose
// data here, only take longer.
func TestSlowUpstreamStaysBounded(t *testing.T) {
	for _, typ := range []string{"otlp", "otlphttp"} {
		t.Run(typ, func(t *testing.T) {
			var target string
			var got func() int
			if typ == "otlp" {
				sink := otlpsink.Start(t)
				target, got = sink.Addr(), func() int { s, _, _ := sink.Items(); return s }
			} else {
				var spans atomic.Int64
				srv := httptest.NewServer(spanCounter(&spans))
				t.Cleanup(srv.Close)
				target, got = srv.Listener.Addr().String(), func() int { return int(spans.Load()) }
			}
			p := faultproxy.Start(t, target)
			p.SetDelay(slowDelay)
			endpoint := p.Addr()
			if typ == "otlphttp" {
				endpoint = "http://" + endpoint
			}
			slowRun(t, typ, endpoint, got)
		})
	}
}

func slowRun(t *testing.T, typ, endpoint string, got func() int) {
	const (
		perReq   = 10
		inQueue  = 6 // requests the queue holds
		maxConc  = 6 // concurrency.max (the limiter starts at 4)
		refusals = 6 // pushes refused before the test stops pushing
	)
	req := otlptest.Marshal(otlptest.Traces(1, perReq, 1, 3))
	capacity := int64(inQueue * len(req))

	cfg := testCfg(typ, endpoint)
	cfg.Timeout = hangBound // a hang net: attempts take seconds by design
	cfg.Retry.MaxElapsedTime = 0
	cfg.Concurrency = config.Concurrency{Mode: "adaptive", Max: maxConc}
	tm := telemetry.NewMetrics()
	e, err := New(cfg, config.Batch{MaxItems: perReq, MaxBytes: 1 << 20}, capacity, Settings{Logger: slog.New(slog.DiscardHandler), Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	q := e.Queue()
	concurrency := tm.ExporterConcurrency.WithLabelValues("up")
	var worst int64       // the most bytes the queue held at any look
	var worstConc float64 // the highest exporter_concurrency seen
	look := func() {
		worst = max(worst, q.UsedBytes())
		worstConc = max(worstConc, testutil.ToFloat64(concurrency))
	}
	tryPush := func() bool {
		ok := q.Reserve(int64(len(req)))
		if ok && !q.Push(queue.Entry{Sig: otlpwire.Traces, Req: req, Items: perReq}) {
			t.Fatal("queue closed")
		}
		look()
		return ok
	}

	e.Start()
	acked, refused := 0, 0
	for refused < refusals {
		if tryPush() {
			acked++
		} else {
			refused++
		}
	}
	if acked < inQueue {
		t.Fatalf("the queue took %d requests before refusing, want at least its %d", acked, inQueue)
	}
	// A client told to retry comes back; each retried push is taken once
	// the queue has room again.
	for range refused {
		testwait.Until(t, func() string { return fmt.Sprintf("room in the queue (%d of %d bytes used)", q.UsedBytes(), capacity) }, tryPush)
		acked++
	}
	want := acked * perReq
	sent := tm.ExporterSent.WithLabelValues("up", "traces")
	testwait.Until(t, func() string {
		return fmt.Sprintf("delivery: sent %v, upstream %d, want %d", testutil.ToFloat64(sent), got(), want)
	}, func() bool { look(); return testutil.ToFloat64(sent) >= float64(want) && got() >= want })
	drain(t, e)

	t.Logf("%s: %d requests acknowledged, %d refused then retried; queue peak %d of %d bytes; concurrency peak %v of %d; upstream got %d spans for %d acknowledged; %v retries",
		typ, acked, refused, worst, capacity, worstConc, maxConc, got(), want, testutil.ToFloat64(tm.ExporterRetries.WithLabelValues("up")))
	if worst > capacity {
		t.Errorf("queue held %d bytes, over its capacity %d", worst, capacity)
	}
	if worstConc > maxConc || worstConc < 1 {
		t.Errorf("exporter_concurrency reached %v, want 1..%d", worstConc, maxConc)
	}
	if v := testutil.ToFloat64(sent); v != float64(want) {
		t.Errorf("sent = %v, want %d (every acknowledged item, once)", v, want)
	}
	checkBooks(t, tm, otlpwire.Traces, want)
	if q.UsedBytes() != 0 || q.Items() != 0 {
		t.Errorf("queue still holds %d bytes, %d items after the drain", q.UsedBytes(), q.Items())
	}
}
