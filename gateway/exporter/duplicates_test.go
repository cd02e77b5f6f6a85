package exporter

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// waitDelivered waits until sink has delivered at least n spans (by ID).
func waitDelivered(t *testing.T, sink *otlpsink.Sink, n int) {
	t.Helper()
	testwait.Until(t, func() string { return "the sink to deliver spans" },
		func() bool { return sink.Spans().Delivered >= n })
}

func possibleDups(tm *telemetry.Metrics, reason string) int {
	return int(testutil.ToFloat64(tm.ExporterPossibleDup.WithLabelValues("up", reason)))
}

// An attempt that times out on our side after the upstream took the batch
// is retried (at least once delivery), so the upstream gets the batch
// twice. The exporter cannot tell this from a lost request; it counts the
// retried items as possible duplicates, and the count must cover what the
// sink really received twice.
func TestRetryAfterTimeoutCountsPossibleDuplicates(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.TrackSpans()
	sink.LateReplies(1) // the first attempt is delivered, its answer never comes
	cfg := testCfg("otlp", sink.Addr())
	// The sink holds its answer until this deadline has passed, whatever
	// the machine's speed: the value only sets how long the test takes.
	cfg.Timeout = time.Second
	e, tm, _ := newTestExporter(t, cfg, noLinger)
	e.Start()

	const items = 10
	push(t, e, otlpwire.Traces, otlptest.Marshal(otlptest.Traces(1, items, 0, 1)), items)
	waitCounter(t, e.m.sig[otlpwire.Traces].sent, items)
	drain(t, e)

	got := sink.Spans()
	t.Logf("acknowledged %d, delivered %d, unique %d, lost %d, duplicated %d, counted as possible duplicates %d",
		items, got.Delivered, got.Unique, items-got.Unique, got.Duplicates, possibleDups(tm, "timeout"))
	// A loaded machine may time out the retry too (after or before the
	// sink took it): so at least one duplicate of each span, and never
	// more than were counted.
	if got.Unique != items || got.Duplicates < items {
		t.Fatalf("sink got %+v, want each of %d spans at least twice (late answer, then the retry)", got, items)
	}
	if n := possibleDups(tm, "timeout"); n < got.Duplicates {
		t.Fatalf("possible_duplicate_items_total{reason=timeout} = %d, below the %d duplicates the sink saw", n, got.Duplicates)
	}
	if n := possibleDups(tm, "shutdown"); n != 0 {
		t.Fatalf("possible_duplicate_items_total{reason=shutdown} = %d, want 0", n)
	}
}

// An answered failure is not a possible duplicate: the upstream said no.
func TestRetryAfterRefusalIsNoPossibleDuplicate(t *testing.T) {
	up := startGRPCUpstream(t, reply{code: codes.Unavailable}, reply{}) // UNAVAILABLE, then OK
	e, tm, _ := newTestExporter(t, testCfg("otlp", up.addr), noLinger)
	e.Start()
	push(t, e, otlpwire.Traces, tracesReq(t, "svc", 5), 5)
	waitCounter(t, e.m.sig[otlpwire.Traces].sent, 5)
	drain(t, e)
	if r := testutil.ToFloat64(e.m.retries); r != 1 {
		t.Fatalf("retries = %v, want 1", r)
	}
	if n := possibleDups(tm, "timeout") + possibleDups(tm, "shutdown"); n != 0 {
		t.Fatalf("possible duplicates = %d after an answered refusal, want 0", n)
	}
}

// A persistent queue keeps, for the next run, a batch whose attempt the
// shutdown deadline cancelled in flight. If the upstream had taken it, the
// next run delivers it again: those are the only duplicates a clean
// shutdown can leave, and they are counted under reason="shutdown".
func TestShutdownCancelledInFlightCountsPossibleDuplicates(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.TrackSpans()
	sink.LateReplies(1)
	dir := t.TempDir()
	cfg := testCfg("otlp", sink.Addr())
	cfg.Timeout = time.Hour // only the shutdown deadline ends the attempt

	tm1 := telemetry.NewMetrics()
	e1, err := New(cfg, noLinger, 64<<20, Settings{Metrics: tm1, PersistentDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e1.Start()
	const items = 10
	push(t, e1, otlpwire.Traces, otlptest.Marshal(otlptest.Traces(1, items, 0, 1)), items)
	waitDelivered(t, sink, items) // delivered; the answer is held
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline passes with the attempt in flight
	if err := e1.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v (a persistent queue keeps, it does not lose)", err)
	}
	if n := possibleDups(tm1, "shutdown"); n != items {
		t.Fatalf("possible_duplicate_items_total{reason=shutdown} = %d, want %d", n, items)
	}

	e2, err := New(cfg, noLinger, 64<<20, Settings{Metrics: telemetry.NewMetrics(), PersistentDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e2.Start()
	waitDelivered(t, sink, 2*items)
	drain(t, e2)
	got := sink.Spans()
	t.Logf("acknowledged %d, delivered %d, unique %d, lost %d, duplicated %d, counted as possible duplicates %d",
		items, got.Delivered, got.Unique, items-got.Unique, got.Duplicates, possibleDups(tm1, "shutdown"))
	if got.Unique != items || got.Duplicates != possibleDups(tm1, "shutdown") {
		t.Fatalf("sink got %+v, want %d unique and the counted %d duplicates", got, items, possibleDups(tm1, "shutdown"))
	}
}
