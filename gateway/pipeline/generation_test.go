package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
)

type dest struct{ q *queue.Queue }

func (d dest) Queue() *queue.Queue { return d.q }
func (d dest) UpdateGauges()       {}

func newGen(opts Options, filters []Filter, capacities ...int64) (*Generation, []*queue.Queue) {
	var ds []Destination
	var qs []*queue.Queue
	for _, c := range capacities {
		q := queue.New(c)
		qs = append(qs, q)
		ds = append(ds, dest{q})
	}
	return NewGeneration(filters, ds, opts, Settings{}), qs
}

// drain takes everything queued and returns items and concatenated bytes.
func drain(t *testing.T, q *queue.Queue) (items int, batches int) {
	t.Helper()
	q.Close()
	for {
		b, ok := q.Next(context.Background(), nil, 0, 0, 0)
		if !ok {
			return items, batches
		}
		for _, e := range b {
			items += e.Items
			if _, err := otlpwire.CountItems(e.Sig, e.Req); err != nil {
				t.Fatalf("queued piece is not a valid request: %v", err)
			}
		}
		batches++
		q.Done(b)
	}
}

func TestConsumeQueuesIntoEveryExporter(t *testing.T) {
	g, qs := newGen(Options{}, nil, 1<<20, 1<<20)
	req := otlptest.Marshal(otlptest.Traces(2, 10, 3, 1))
	out, err := g.Consume(context.Background(), otlpwire.Traces, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Accepted != 20 || out.Rejected != 0 {
		t.Fatalf("outcome = %+v, want 20 accepted", out)
	}
	for i, q := range qs {
		if items, _ := drain(t, q); items != 20 {
			t.Fatalf("queue %d holds %d items, want 20", i, items)
		}
	}
}

func TestConsumeSplitsAtResourceBoundaries(t *testing.T) {
	g, qs := newGen(Options{MaxItems: 10}, nil, 1<<20)
	req := otlptest.Marshal(otlptest.Traces(4, 10, 1, 1))
	if _, err := g.Consume(context.Background(), otlpwire.Traces, req); err != nil {
		t.Fatal(err)
	}
	q := qs[0]
	if q.Len() != 4 {
		t.Fatalf("queue holds %d entries, want 4 (one per resource)", q.Len())
	}
	if items, _ := drain(t, q); items != 40 {
		t.Fatalf("pieces hold %d items, want 40", items)
	}
}

func TestConsumeRefusesWhenAnyQueueIsFullAndKeepsNothing(t *testing.T) {
	req := otlptest.Marshal(otlptest.Logs(1, 50, 1))
	g, qs := newGen(Options{}, nil, 1<<20, int64(len(req))+10)
	if _, err := g.Consume(context.Background(), otlpwire.Logs, req); err != nil {
		t.Fatal(err)
	}
	_, err := g.Consume(context.Background(), otlpwire.Logs, req)
	if gwerr.KindOf(err) != gwerr.Backpressure || gwerr.RetryAfterOf(err) <= 0 {
		t.Fatalf("second request: err = %v, want backpressure with a retry delay", err)
	}
	if got := qs[0].UsedBytes(); got != int64(len(req)) {
		t.Fatalf("the roomy queue kept a reservation for a refused request: %d bytes used, want %d", got, len(req))
	}
}

func TestConsumeInvalidRequestReleasesReservation(t *testing.T) {
	g, qs := newGen(Options{}, nil, 1<<20)
	_, err := g.Consume(context.Background(), otlpwire.Traces, []byte{0x0a, 0x05, 0x01})
	if gwerr.KindOf(err) != gwerr.Invalid {
		t.Fatalf("err = %v, want invalid", err)
	}
	if qs[0].UsedBytes() != 0 {
		t.Fatalf("invalid request left %d bytes reserved", qs[0].UsedBytes())
	}
}

func TestConsumeRequestLargerThanQueueIsTooLarge(t *testing.T) {
	req := otlptest.Marshal(otlptest.Traces(1, 20, 5, 1))
	g, _ := newGen(Options{}, nil, int64(len(req))-1)
	_, err := g.Consume(context.Background(), otlpwire.Traces, req)
	if gwerr.KindOf(err) != gwerr.TooLarge {
		t.Fatalf("err = %v, want too large (retrying can never help)", err)
	}
}

func TestDrainRefusesNewRequests(t *testing.T) {
	g, _ := newGen(Options{}, nil, 1<<20)
	// A hang net for a drain that must succeed, not a speed claim.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := g.Consume(context.Background(), otlpwire.Metrics, otlptest.Marshal(otlptest.Metrics(1, 1, 1)))
	if gwerr.KindOf(err) != gwerr.Backpressure {
		t.Fatalf("err = %v, want backpressure while draining", err)
	}
}

func TestConsumeRefusesOverMemory(t *testing.T) {
	g, _ := newGen(Options{OverMemory: func() bool { return true }}, nil, 1<<20)
	_, err := g.Consume(context.Background(), otlpwire.Logs, otlptest.Marshal(otlptest.Logs(1, 1, 1)))
	if gwerr.KindOf(err) != gwerr.Memory {
		t.Fatalf("err = %v, want a memory refusal over the memory soft limit", err)
	}
}

// keepFirstResource is a test filter that drops every resource but the first.
type keepFirstResource struct{}

func (keepFirstResource) Name() string { return "keep-first" }
func (keepFirstResource) Process(_ context.Context, _ otlpwire.Signal, req []byte, ix *otlpwire.Index) (FilterResult, error) {
	if len(ix.Resources) < 2 {
		return FilterResult{}, nil
	}
	first := ix.Resources[0]
	kept := ix.Items - int(first.ItemEnd-first.ItemStart)
	return FilterResult{Req: req[first.Off:first.End], Dropped: kept, Reason: "only the first resource is kept"}, nil
}

func TestFilterDropsAreReportedAndReleased(t *testing.T) {
	g, qs := newGen(Options{}, []Filter{keepFirstResource{}}, 1<<20)
	req := otlptest.Marshal(otlptest.Traces(3, 5, 1, 1))
	out, err := g.Consume(context.Background(), otlpwire.Traces, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Accepted != 5 || out.Rejected != 10 || out.Message == "" {
		t.Fatalf("outcome = %+v, want 5 accepted, 10 rejected with a message", out)
	}
	if used := qs[0].UsedBytes(); used >= int64(len(req)) {
		t.Fatalf("queue holds %d bytes: the filtered-out bytes were not released (request %d)", used, len(req))
	}
	if items, _ := drain(t, qs[0]); items != 5 {
		t.Fatalf("queued %d items, want 5", items)
	}
}

func BenchmarkConsume(b *testing.B) {
	req := otlptest.Marshal(otlptest.Traces(1, 100, 10, 1))
	g, qs := newGen(Options{MaxItems: 8192, MaxBytes: 4 << 20}, nil, 1<<40)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	var buf []queue.Entry
	for i := 0; i < b.N; i++ {
		if _, err := g.Consume(context.Background(), otlpwire.Traces, req); err != nil {
			b.Fatal(err)
		}
		buf, _ = qs[0].Next(context.Background(), buf[:0], 0, 0, 0)
		qs[0].Done(buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
}

// TestConsumeBufReleasesEveryReference checks the pooled-buffer books: a
// request split into pieces and fanned out to two queues holds one
// reference per piece per queue, and none is left once both are done.
func TestConsumeBufReleasesEveryReference(t *testing.T) {
	g, qs := newGen(Options{MaxItems: 10}, nil, 1<<20, 1<<20)
	req := otlptest.Marshal(otlptest.Traces(3, 10, 1, 1))
	buf := bufpool.Get(len(req))
	copy(buf.B, req)
	if _, err := g.ConsumeBuf(context.Background(), otlpwire.Traces, buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.Refs(); got != 6 {
		t.Fatalf("refs after queueing 3 pieces into 2 queues = %d, want 6", got)
	}
	drain(t, qs[0])
	if got := buf.Refs(); got != 3 {
		t.Fatalf("refs after one queue is done = %d, want 3", got)
	}
	drain(t, qs[1])
	if got := buf.Refs(); got != 0 {
		t.Fatalf("refs after both queues are done = %d, want 0", got)
	}

	// A refused request gives its reference back at once.
	buf = bufpool.Get(3)
	copy(buf.B, []byte{0x0a, 0x05, 0x01})
	g2, _ := newGen(Options{}, nil, 1<<20)
	if _, err := g2.ConsumeBuf(context.Background(), otlpwire.Traces, buf); err == nil {
		t.Fatal("malformed request accepted")
	}
	if got := buf.Refs(); got != 0 {
		t.Fatalf("refs after a refusal = %d, want 0", got)
	}
}

// TestConsumeRefusedByOneQueueQueuesNowhere: a request refused because one
// exporter's queue will not take it (closed under a pipeline still taking
// requests, or a persistent queue whose journal failed) must not stay in
// the other queues. The client is told to retry and sends it again: before
// the fix the exporters before the refusing one got it twice.
func TestConsumeRefusedByOneQueueQueuesNowhere(t *testing.T) {
	g, qs := newGen(Options{MaxItems: 10}, nil, 1<<20, 1<<20, 1<<20)
	qs[1].Close()
	req := otlptest.Marshal(otlptest.Traces(3, 10, 1, 1)) // three entries per queue
	buf := bufpool.Get(len(req))
	copy(buf.B, req)
	_, err := g.ConsumeBuf(context.Background(), otlpwire.Traces, buf)
	if gwerr.KindOf(err) != gwerr.Backpressure {
		t.Fatalf("err = %v, want backpressure", err)
	}
	for i, q := range qs {
		if q.Len() != 0 || q.UsedBytes() != 0 {
			t.Fatalf("queue %d holds %d entries, %d bytes of a refused request; want none", i, q.Len(), q.UsedBytes())
		}
	}
	if got := buf.Refs(); got != 0 {
		t.Fatalf("refs after the refusal = %d, want 0", got)
	}
	for i, q := range []*queue.Queue{qs[0], qs[2]} {
		if items, _ := drain(t, q); items != 0 {
			t.Fatalf("open queue %d delivers %d items of the refused request, want 0", i, items)
		}
	}
}

// TestConsumeForAGoneClientQueuesNothing: a request whose client gave up
// before it was stored (its deadline passed during a journal fsync or a
// slow filter) is not queued: the client cannot hear the acknowledgement,
// and an SDK retries DEADLINE_EXCEEDED, so queueing it would deliver it
// twice.
func TestConsumeForAGoneClientQueuesNothing(t *testing.T) {
	g, qs := newGen(Options{}, nil, 1<<20, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := g.Consume(ctx, otlpwire.Traces, otlptest.Marshal(otlptest.Traces(1, 10, 1, 1)))
	if gwerr.KindOf(err) != gwerr.Backpressure {
		t.Fatalf("err = %v, want a refusal", err)
	}
	for i, q := range qs {
		if q.Len() != 0 || q.UsedBytes() != 0 {
			t.Fatalf("queue %d holds %d entries, %d bytes for a client that is gone", i, q.Len(), q.UsedBytes())
		}
	}
}
