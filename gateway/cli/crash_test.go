package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// TestKill9UnderLoadDuplicatesAtMostInFlight: a gateway with a persistent
// queue, SIGKILLed while clients send and the upstream takes batches, then
// restarted. Every acknowledged span arrives; the spans that arrive twice
// are at most those the workers could have had in flight at the kill
// (delivered, but their journal marks not yet written): concurrency.max
// batches of at most batch.max_items spans each. Spans delivered but never
// acknowledged (the clients' requests in flight at the kill, already
// journaled) are not duplicates; they are bounded by the clients'
// concurrency.
func TestKill9UnderLoadDuplicatesAtMostInFlight(t *testing.T) {
	const (
		concurrency = 4  // exporter workers
		maxItems    = 50 // batch.max_items
		clients     = 4
		perRequest  = 10 // spans, one resource: an entry never exceeds max_items
		bound       = concurrency * maxItems
	)
	bin := buildBinary(t)
	queueDir := t.TempDir()
	sink := otlpsink.Start(t)
	sink.TrackSpans()
	admin, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`receivers: {otlp: {grpc: {endpoint: %q}, http: {endpoint: %q}}}
admin: {endpoint: %q}
queue: {persistent: {directory: %q}}
batch: {max_items: %d, timeout: 5ms}
exporters:
  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}, concurrency: {max: %d},
     retry: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0s}}
`, freePort(t), httpAddr, admin, queueDir, maxItems, sink.Addr(), concurrency))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := func() (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		return startRun(t, ctx, bin, cfg, admin)
	}

	// 1. Load from several clients while the upstream takes batches; the
	// kill comes once a good part of it has been delivered.
	cmd, _ := start()
	var (
		next    atomic.Uint64
		mu      sync.Mutex
		acked   []uint64 // seeds answered 200
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for range clients {
		wg.Go(func() {
			for !stopped.Load() {
				seed := next.Add(1)
				body := otlptest.Marshal(otlptest.Traces(1, perRequest, 2, seed))
				res, err := client.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					return // the gateway is gone
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, seed)
					mu.Unlock()
				}
			}
		})
	}
	testwait.Until(t, func() string { return "the upstream to take 2000 spans under load" },
		func() bool { return sink.Spans().Delivered >= 2000 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stopped.Store(true)
	wg.Wait()
	atKill := sink.Spans()

	// 2. Restart with the upstream up, no load; a clean stop once every
	// acknowledged span is there delivers whatever else was journaled.
	cmd, logs := start()
	mu.Lock()
	ackedSeeds := append([]uint64(nil), acked...)
	mu.Unlock()
	missing := func() int {
		n := 0
		for _, seed := range ackedSeeds {
			for k := range perRequest {
				id := seed*1_000_000 + uint64(k) + 1 // as otlptest.Traces numbers spans
				if sink.SpanDelivered(otlptest.ID(16, id), otlptest.ID(8, id)) == 0 {
					n++
				}
			}
		}
		return n
	}
	testwait.Until(t, func() string { return fmt.Sprintf("%d acknowledged spans still missing after the restart", missing()) },
		func() bool { return missing() == 0 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second run exited with %v; log:\n%s", err, logs.String())
	}

	got := sink.Spans()
	ack := len(ackedSeeds) * perRequest
	t.Logf("acknowledged %d, delivered %d (%d before the kill), unique %d, lost %d, duplicated %d (bound %d = concurrency %d x max_items %d), delivered but never acknowledged %d (bound %d)",
		ack, got.Delivered, atKill.Delivered, got.Unique, missing(), got.Duplicates, bound, concurrency, maxItems, got.Unique-ack, clients*perRequest)
	if got.Duplicates > bound {
		t.Errorf("%d spans delivered twice, more than the %d the workers could have had in flight", got.Duplicates, bound)
	}
	if extra := got.Unique - ack; extra < 0 || extra > clients*perRequest {
		t.Errorf("%d spans delivered that no client saw acknowledged, want 0..%d (the requests in flight at the kill)", extra, clients*perRequest)
	}
}
