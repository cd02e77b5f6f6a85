package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// These tests run the whole gateway (receivers, pipeline, persistent
// queue, OTLP exporter) against a real upstream, with the journal's file
// system failing under concurrent load (faultfs.Faulty through
// Settings.FS), and balance the books: what clients were told was
// accepted is exactly what the upstream received.

// logLines keeps what the gateway logs, to count lines.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// spansPerRequest is the size of every load request. Seeds run from
// loadSeed0 up with the same number of digits, so every request encodes
// to the same size: on a full disk none can fit where another did not,
// and a burst of refusals is not broken by one lucky small request.
const (
	spansPerRequest = 20
	loadSeed0       = 10_000
	loadSeedEnd     = 99_999
)

// ledger is a load's books: the spans the gateway acknowledged, and the
// refusals it answered.
type ledger struct {
	mu           sync.Mutex
	acked        map[string]bool // span IDs
	refusedItems int
	refusals     int
	wrong        []string // refusals that did not say "retry later"
	// epoch is odd while the test makes every fsync fail; violations are
	// requests sent and answered within one odd epoch that were
	// acknowledged anyway.
	epoch      atomic.Int64
	violations int
	seed       atomic.Int64 // the last seed sent, across loads
}

func newLedger() *ledger {
	l := &ledger{acked: map[string]bool{}}
	l.seed.Store(loadSeed0 - 1)
	return l
}

func (l *ledger) counts() (acked, refusals int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.refusals
}

func spanIDs(req *coltrace.ExportTraceServiceRequest) []string {
	var ids []string
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				ids = append(ids, string(sp.SpanId))
			}
		}
	}
	return ids
}

// startLoad runs workers clients (the last over OTLP/HTTP, the others over
// OTLP/gRPC), each sending a request every 2 ms, until the returned stop
// is called. A client does not retry: each request is one entry in the
// books, acknowledged or refused.
func startLoad(t *testing.T, gw *gateway.Gateway, l *ledger, workers int) (stop func()) {
	t.Helper()
	client := traceClient(t, gw)
	url := "http://" + gw.HTTPAddr().String() + "/v1/traces"
	hc := &http.Client{Timeout: 30 * time.Second}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		overHTTP := w == workers-1
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				s := l.seed.Add(1)
				if s > loadSeedEnd {
					t.Error("the load ran out of seeds")
					return
				}
				req := otlptest.Traces(1, spansPerRequest, 3, uint64(s))
				before := l.epoch.Load()
				ok, wrong := send(client, hc, url, req, overHTTP)
				after := l.epoch.Load()
				l.mu.Lock()
				switch {
				case ok:
					for _, id := range spanIDs(req) {
						l.acked[id] = true
					}
					if before == after && before%2 == 1 {
						l.violations++
					}
				default:
					l.refusals++
					l.refusedItems += spansPerRequest
					if wrong != "" {
						l.wrong = append(l.wrong, wrong)
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// send exports req once. A refusal is wrong unless it tells the client to
// retry later: UNAVAILABLE with RetryInfo, or 503 with Retry-After.
func send(client coltrace.TraceServiceClient, hc *http.Client, url string, req *coltrace.ExportTraceServiceRequest, overHTTP bool) (ok bool, wrong string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !overHTTP {
		_, err := client.Export(ctx, req)
		if err == nil {
			return true, ""
		}
		if status.Code(err) != codes.Unavailable || retryDelay(err) <= 0 {
			return false, fmt.Sprintf("grpc: %v (retry delay %v)", err, retryDelay(err))
		}
		return false, ""
	}
	hreq, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(otlptest.Marshal(req)))
	if err != nil {
		return false, err.Error()
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	res, err := hc.Do(hreq)
	if err != nil {
		return false, "http: " + err.Error()
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode == http.StatusOK {
		return true, ""
	}
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusServiceUnavailable || ra < 1 {
		return false, fmt.Sprintf("http: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	return false, ""
}

// readyz returns /readyz's status code and the storage error it reports
// for exporter name.
func readyz(t *testing.T, gw *gateway.Gateway, name string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + gw.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Detail struct {
			Exporters map[string]struct {
				Queue struct {
					StorageError string `json:"storage_error"`
				} `json:"queue"`
			} `json:"exporters"`
		} `json:"detail"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return res.StatusCode, body.Detail.Exporters[name].Queue.StorageError
}

// delivered is the set of span IDs the sink holds, and how many spans in
// all (more when a timed-out attempt was sent again: at least once).
func delivered(sink *otlpsink.Sink) (map[string]bool, int) {
	ids := map[string]bool{}
	total := 0
	for _, req := range sink.Traces {
		for _, id := range spanIDs(req) {
			ids[id] = true
			total++
		}
	}
	return ids, total
}

// balance checks the books after the gateway has shut down: the upstream
// holds exactly the acknowledged spans (none lost, none that a client was
// refused), and the receivers counted every refusal under reason storage.
func balance(t *testing.T, gw *gateway.Gateway, sink *otlpsink.Sink, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	got, total := delivered(sink)
	lost, unasked := 0, 0
	for id := range l.acked {
		if !got[id] {
			lost++
		}
	}
	for id := range got {
		if !l.acked[id] {
			unasked++
		}
	}
	t.Logf("books: acknowledged %d spans, delivered %d distinct (%d in all), lost %d; refused %d requests (%d spans)",
		len(l.acked), len(got), total, lost, l.refusals, l.refusedItems)
	if lost != 0 {
		t.Errorf("%d acknowledged spans never reached the upstream", lost)
	}
	if unasked != 0 {
		t.Errorf("%d spans reached the upstream that the gateway refused to their client", unasked)
	}
	if len(l.wrong) > 0 {
		t.Errorf("%d refusals were not retryable, first: %s", len(l.wrong), l.wrong[0])
	}
	m := gathered(t, gw)
	if got := sum(m, "otlpgw_receiver_accepted_items_total"); int(got) != len(l.acked) {
		t.Errorf("receiver_accepted_items_total = %v, want the %d acknowledged", got, len(l.acked))
	}
	if got := sum(m, "otlpgw_receiver_refused_items_total", label("reason", "storage")); int(got) != l.refusedItems {
		t.Errorf(`receiver_refused_items_total{reason="storage"} = %v, want the %d refused`, got, l.refusedItems)
	}
	if got := sum(m, "otlpgw_receiver_refused_items_total"); int(got) != l.refusedItems {
		t.Errorf("receiver_refused_items_total = %v in all, want only the %d refused for storage", got, l.refusedItems)
	}
}

func persistentConfig(sinkAddr, dir string) string {
	return fmt.Sprintf(`
batch: {max_items: 500, timeout: 10ms}
queue: {max_bytes: 64MiB, persistent: {directory: %q}}
exporters:
  - name: upstream
    type: otlp
    endpoint: %q
    compression: none
    tls: {insecure: true}
    retry: {initial_interval: 20ms, max_interval: 200ms, max_elapsed_time: 10m}
`, dir, sinkAddr)
}

// TestDiskFullUnderLoadRefusesRetryablyAndHeals fills the persistent
// queue's disk (a 1 MiB quota, far below the 64 MiB queue, so only the
// disk refuses) under concurrent gRPC and HTTP load while the upstream is
// down. The gateway refuses retryably and acknowledges nothing it could
// not store, says so in /readyz and its metrics, logs once; when the
// upstream returns it delivers what is on disk, which frees the disk (the
// quota is never raised), turns ready again with no request arriving,
// and takes new data.
func TestDiskFullUnderLoadRefusesRetryablyAndHeals(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailWith(codes.Unavailable)
	fs := faultfs.New()
	fs.SetQuota(1 << 20)
	logs := &logLines{}
	gw := newGatewayWith(t, persistentConfig(sink.Addr(), t.TempDir()),
		gateway.Settings{Logger: slog.New(slog.NewTextHandler(logs, nil)), FS: fs})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	stop := startLoad(t, gw, l, 4)

	// The disk fills and the gateway refuses for a while.
	testwait.Until(t, func() string { a, r := l.counts(); return fmt.Sprintf("50 refusals (acked %d, refused %d)", a, r) },
		func() bool { _, r := l.counts(); return r >= 50 })
	if code, serr := readyz(t, gw, "upstream"); code != http.StatusServiceUnavailable || !strings.Contains(serr, syscall.ENOSPC.Error()) {
		t.Errorf("/readyz on a full disk: %d, storage_error %q; want 503 naming ENOSPC", code, serr)
	}
	m := scrape(t, gw)
	if h := m[`otlpgw_queue_journal_healthy{exporter="upstream"}`]; h != 0 {
		t.Errorf("queue_journal_healthy = %v on a full disk, want 0", h)
	}
	if n := sum(m, "otlpgw_queue_journal_write_errors_total", label("op", "write")) + sum(m, "otlpgw_queue_journal_write_errors_total", label("op", "create")); n == 0 {
		t.Error("no write or create errors counted on a full disk")
	}
	ackedFull, _ := l.counts()
	if ackedFull == 0 {
		t.Fatal("nothing was acknowledged before the disk filled")
	}

	// The upstream is back, with no client sending (a load balancer sends
	// nothing to an unready replica): what is stored is delivered, its
	// segments go, and the gateway finds by itself that it is ready.
	stop()
	sink.FailWith(codes.OK)
	testwait.Until(t, func() string { return "/readyz 200 after the disk emptied, with no request" }, func() bool {
		code, _ := readyz(t, gw, "upstream")
		return code == http.StatusOK
	})
	// And it takes data again.
	healed, _ := l.counts()
	stop = startLoad(t, gw, l, 4)
	testwait.Until(t, func() string {
		a, _ := l.counts()
		return fmt.Sprintf("50 requests acknowledged after healing (%d)", (a-healed)/spansPerRequest)
	},
		func() bool { a, _ := l.counts(); return a >= healed+50*spansPerRequest })
	if h := scrape(t, gw)[`otlpgw_queue_journal_healthy{exporter="upstream"}`]; h != 1 {
		t.Errorf("queue_journal_healthy = %v after healing, want 1", h)
	}
	stop()

	acked, _ := l.counts()
	ctx, cancel := context.WithTimeout(context.Background(), testwait.HangBound)
	defer cancel()
	if !sink.WaitItems(ctx, acked, 0, 0) {
		s, _, _ := sink.Items()
		t.Fatalf("the upstream got %d of %d acknowledged spans", s, acked)
	}
	if err := shutdown(gw, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	balance(t, gw, sink, l)
	if a, b := logs.count("cannot write the journal"), logs.count("the journal is writable again"); a != 1 || b != 1 {
		t.Errorf("%d failure and %d recovery log lines for one full-disk burst, want 1 and 1; log:\n%s", a, b, logs)
	}
}

// TestFsyncErrorsAreNeverAcknowledged makes every fsync of the journal
// fail (EIO) in three bursts, under concurrent load with the upstream up.
// A request sent and answered within a burst is never acknowledged; every
// acknowledged span reaches the upstream and no refused one does; each
// burst is logged once (one failure line, one recovery line), not per
// request, and counted in queue_journal_write_errors_total{op="sync"}.
func TestFsyncErrorsAreNeverAcknowledged(t *testing.T) {
	sink := otlpsink.Start(t)
	fs := faultfs.New()
	logs := &logLines{}
	gw := newGatewayWith(t, persistentConfig(sink.Addr(), t.TempDir()),
		gateway.Settings{Logger: slog.New(slog.NewTextHandler(logs, nil)), FS: fs})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	stop := startLoad(t, gw, l, 4)
	const bursts = 3
	for b := range bursts {
		// Healthy for 30 requests, then failing for 30 refusals.
		a0, _ := l.counts()
		testwait.Until(t, func() string { return fmt.Sprintf("30 acknowledged requests before burst %d", b) },
			func() bool { a, _ := l.counts(); return a >= a0+30*spansPerRequest })
		fs.FailSyncs(syscall.EIO, -1)
		l.epoch.Add(1)
		_, r0 := l.counts()
		testwait.Until(t, func() string { return fmt.Sprintf("30 refusals in burst %d", b) },
			func() bool { _, r := l.counts(); return r >= r0+30 })
		if code, serr := readyz(t, gw, "upstream"); code != http.StatusServiceUnavailable || !strings.Contains(serr, syscall.EIO.Error()) {
			t.Errorf("/readyz while fsyncs fail: %d, storage_error %q; want 503 naming EIO", code, serr)
		}
		l.epoch.Add(1)
		fs.FailSyncs(nil, 0)
	}
	a0, _ := l.counts()
	testwait.Until(t, func() string { return "30 acknowledged requests after the last burst" },
		func() bool { a, _ := l.counts(); return a >= a0+30*spansPerRequest })
	stop()
	if code, serr := readyz(t, gw, "upstream"); code != http.StatusOK {
		t.Errorf("/readyz after the faults: %d (%q), want 200", code, serr)
	}

	acked, _ := l.counts()
	ctx, cancel := context.WithTimeout(context.Background(), testwait.HangBound)
	defer cancel()
	if !sink.WaitItems(ctx, acked, 0, 0) {
		s, _, _ := sink.Items()
		t.Fatalf("the upstream got %d of %d acknowledged spans", s, acked)
	}
	m := scrape(t, gw)
	_, failed := fs.Syncs()
	if got := sum(m, "otlpgw_queue_journal_write_errors_total", label("op", "sync")); int(got) != failed {
		t.Errorf(`queue_journal_write_errors_total{op="sync"} = %v, want the %d failed fsyncs`, got, failed)
	}
	if err := shutdown(gw, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	balance(t, gw, sink, l)
	if l.violations != 0 {
		t.Errorf("%d requests acknowledged although every fsync failed from before they were sent until after they were answered", l.violations)
	}
	if a, b := logs.count("cannot write the journal"), logs.count("the journal is writable again"); a != bursts || b != bursts {
		t.Errorf("%d failure and %d recovery log lines for %d bursts, want %d and %d; log:\n%s", a, b, bursts, bursts, bursts, logs)
	}
}
