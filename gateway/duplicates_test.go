package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// persistentGateway starts a gateway with a persistent queue in dir that
// exports to sink in batches of at most 50 spans, two at a time.
func persistentGateway(t *testing.T, dir string, sink *otlpsink.Sink) *gateway.Gateway {
	t.Helper()
	return startGateway(t, fmt.Sprintf(`
queue:
  persistent: {directory: %q}
batch: {max_items: 50, timeout: 20ms}
exporters:
  - name: upstream
    type: otlp
    endpoint: %q
    tls: {insecure: true}
    concurrency: {max: 2}
`, dir, sink.Addr()))
}

// offer sends requests of 10 spans with distinct IDs (seeds from
// first on) from 4 clients until n were acknowledged; it returns how many
// spans were acknowledged (OK answers only).
func offer(t *testing.T, gw *gateway.Gateway, first, n int) int {
	t.Helper()
	client := traceClient(t, gw)
	var next, acked atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				seed := next.Add(1) - 1
				if seed >= int64(first+n) {
					return
				}
				// Refusals do not happen here (the queue has room); a
				// failure would be a failed test, not a retry.
				if _, err := client.Export(context.Background(), otlptest.Traces(1, 10, 0, uint64(seed))); err != nil {
					t.Errorf("export %d: %v", seed, err)
					return
				}
				acked.Add(10)
			}
		})
	}
	wg.Wait()
	return int(acked.Load())
}

// TestCleanShutdownThenRestartDeliversNoDuplicates: after a clean
// shutdown that leaves items in the persistent queue (the upstream
// stalls), the next run delivers exactly what is left, and a run that
// is itself stopped half way leaves marks for everything it delivered.
// Three runs against one sink that counts span IDs: every acknowledged
// span arrives exactly once.
func TestCleanShutdownThenRestartDeliversNoDuplicates(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.TrackSpans()
	dir := t.TempDir()

	// Run 1: three batches get through, then the upstream stalls; the
	// drain's deadline passes with the rest queued and two batches in
	// flight (cancelled: the stalled sink never takes them).
	sink.StallAfter(3)
	gw := persistentGateway(t, dir, sink)
	acked := offer(t, gw, 0, 60)
	if err := shutdown(gw, 500*time.Millisecond); err != nil {
		t.Fatalf("run 1: shutdown: %v (a persistent queue keeps what it could not deliver)", err)
	}
	run1 := sink.Spans()
	kept1 := int(sum(gathered(t, gw), "otlpgw_exporter_possible_duplicate_items_total"))

	// Run 2: the restart takes the rest back and again delivers only
	// part of it before being stopped.
	sink.StallAfter(2)
	gw = persistentGateway(t, dir, sink)
	acked += offer(t, gw, 1000, 20)
	if err := shutdown(gw, 500*time.Millisecond); err != nil {
		t.Fatalf("run 2: shutdown: %v", err)
	}
	run2 := sink.Spans()
	kept2 := int(sum(gathered(t, gw), "otlpgw_exporter_possible_duplicate_items_total"))

	// Run 3: the upstream is well; everything left is delivered and the
	// drain completes.
	sink.Resume()
	gw = persistentGateway(t, dir, sink)
	testwait.Until(t, func() string { return fmt.Sprintf("run 3: sink has %+v of %d acknowledged", sink.Spans(), acked) },
		func() bool { return sink.Spans().Unique >= acked })
	if err := shutdown(gw, 30*time.Second); err != nil {
		t.Fatalf("run 3: shutdown: %v", err)
	}
	got := sink.Spans()
	t.Logf("run 1 delivered %d, run 2 %d, run 3 %d; acknowledged %d, delivered %d, unique %d, lost %d, duplicated %d (counted as possible: %d)",
		run1.Delivered, run2.Delivered-run1.Delivered, got.Delivered-run2.Delivered, acked, got.Delivered, got.Unique, acked-got.Unique, got.Duplicates, kept1+kept2)
	if run1.Unique >= acked || run2.Unique >= acked {
		t.Fatalf("runs 1 and 2 delivered %d and %d of %d: the test wants items left over at each stop", run1.Unique, run2.Unique, acked)
	}
	// What a stop leaves in flight is counted as possibly duplicated:
	// at most concurrency.max batches of batch.max_items.
	if kept1 > 2*50 || kept2 > 2*50 {
		t.Fatalf("possible duplicates counted at the stops: %d and %d, want at most the 100 in flight", kept1, kept2)
	}
	if got.Unique != acked || got.Duplicates != 0 {
		t.Fatalf("acknowledged %d spans; the sink got %+v, want each exactly once", acked, got)
	}
}
