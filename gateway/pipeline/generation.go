package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
)

// defaultRetryAfter is what refused clients are told to wait when nothing
// better is known. One second matches what OTLP SDKs start their back-off at.
const defaultRetryAfter = time.Second

// Settings are what the gateway injects into a generation.
type Settings struct {
	Logger *slog.Logger
}

// Options fix a generation's behaviour; they come from one Config value.
type Options struct {
	// MaxItems and MaxBytes split large requests at resource boundaries
	// before they are queued, so one batch never exceeds the batch limits
	// by more than one resource.
	MaxItems int
	MaxBytes int
	// BlockTimeout is how long Consume may wait for queue room.
	BlockTimeout time.Duration
	// Pressure, when set, reports true while memory is over its soft limit.
	OverMemory func() bool
}

// Destination is where a generation queues accepted requests: an exporter.
type Destination interface {
	Queue() *queue.Queue
	// UpdateGauges refreshes the queue's size metrics after a push.
	UpdateGauges()
}

// Generation is one immutable pipeline: a filter chain in front of a set of
// exporter queues. Receivers call Consume; it is safe for concurrent use.
type Generation struct {
	filters  []Filter
	dests    []Destination
	queues   []*queue.Queue
	opts     Options
	log      *slog.Logger
	draining atomic.Bool
	// inflight is read-locked for the whole of each Consume; Drain takes
	// the write lock to wait until every Consume that got in has finished.
	inflight sync.RWMutex
	indexes  sync.Pool
	pieces   sync.Pool
}

// NewGeneration builds a generation feeding queues through filters, in order.
func NewGeneration(filters []Filter, dests []Destination, opts Options, set Settings) *Generation {
	queues := make([]*queue.Queue, len(dests))
	for i, d := range dests {
		queues[i] = d.Queue()
	}
	g := &Generation{filters: filters, dests: dests, queues: queues, opts: opts, log: set.Logger}
	g.indexes.New = func() any { return new(otlpwire.Index) }
	g.pieces.New = func() any { s := make([][]byte, 0, 8); return &s }
	return g
}

// Drain makes Consume refuse new requests with backpressure and waits,
// bounded by ctx, for requests already inside Consume to finish queueing.
func (g *Generation) Drain(ctx context.Context) error {
	g.draining.Store(true)
	done := make(chan struct{})
	go func() {
		g.inflight.Lock()
		close(done) // every Consume that got in has finished
		g.inflight.Unlock()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("draining pipeline: %w", ctx.Err())
	}
}

// Draining reports whether Drain has been called.
func (g *Generation) Draining() bool { return g.draining.Load() }

// Pressure is how full the fullest exporter queue is, 0..1.
func (g *Generation) Pressure() float64 {
	p := 0.0
	for _, q := range g.queues {
		p = max(p, q.Fill())
	}
	return p
}

// Admit refuses a request before its body is read when it could not be
// accepted anyway: the gateway is draining, memory is over the soft limit,
// or an exporter queue is full. It never blocks.
func (g *Generation) Admit(otlpwire.Signal) error {
	if g.draining.Load() {
		return errDraining
	}
	if g.opts.OverMemory != nil && g.opts.OverMemory() {
		return errOverMemory
	}
	for _, q := range g.queues {
		if q.UsedBytes() >= q.Capacity() {
			return errQueueFull
		}
	}
	return nil
}

// The refusals are shared values: they carry no per-request detail, and
// the door must not allocate.
var (
	errDraining   = &gwerr.Error{Kind: gwerr.Backpressure, Msg: "gateway is draining", RetryAfter: defaultRetryAfter}
	errOverMemory = &gwerr.Error{Kind: gwerr.Memory, Msg: "gateway memory is over its soft limit", RetryAfter: defaultRetryAfter}
	errQueueFull  = &gwerr.Error{Kind: gwerr.Backpressure, Msg: "exporter queue is full", RetryAfter: defaultRetryAfter}
	errClientGone = &gwerr.Error{Kind: gwerr.Backpressure, Msg: "the client gave up before the request was stored", RetryAfter: defaultRetryAfter}
)

// Consume validates, filters and queues one request for every exporter.
// The request is acknowledged only once it is in every queue; if any queue
// cannot take it, none keeps it and the client is told to retry.
func (g *Generation) Consume(ctx context.Context, sig otlpwire.Signal, req []byte) (Outcome, error) {
	return g.consume(ctx, sig, req, nil)
}

// ConsumeBuf is Consume for a request in a pooled buffer; it takes over
// the caller's reference to buf, whatever the outcome.
func (g *Generation) ConsumeBuf(ctx context.Context, sig otlpwire.Signal, buf *bufpool.Buf) (Outcome, error) {
	return g.consume(ctx, sig, buf.B, buf)
}

func (g *Generation) consume(ctx context.Context, sig otlpwire.Signal, req []byte, owner *bufpool.Buf) (Outcome, error) {
	// Every path that does not hand owner's reference to the queues
	// releases it here.
	defer func() { owner.Release() }()
	g.inflight.RLock()
	defer g.inflight.RUnlock()
	if g.draining.Load() {
		return Outcome{}, errDraining
	}
	if g.opts.OverMemory != nil && g.opts.OverMemory() {
		return Outcome{}, errOverMemory
	}

	// Claim room before any decoding, so an overloaded gateway refuses at
	// the cost of a few atomic operations.
	reserved := int64(len(req))
	if err := g.reserve(ctx, reserved); err != nil {
		return Outcome{}, err
	}

	ix := g.indexes.Get().(*otlpwire.Index)
	defer g.indexes.Put(ix)
	if err := ix.Parse(sig, req); err != nil {
		g.unreserve(reserved)
		return Outcome{}, gwerr.Wrap(gwerr.Invalid, err, "invalid OTLP "+sig.String()+" request")
	}
	received := ix.Items

	var reasons []string
	for k, f := range g.filters {
		res, err := f.Process(ctx, sig, req, ix)
		if err != nil {
			g.unreserve(reserved)
			return Outcome{}, err
		}
		switch {
		case res.Message != "":
			reasons = append(reasons, res.Message)
		case res.Dropped > 0:
			reasons = append(reasons, fmt.Sprintf("filter[%s]: %s", f.Name(), res.Reason))
		}
		if res.Req != nil {
			// The filter's output is a new buffer; the original is done.
			owner.Release()
			owner = res.Buf
			req = res.Req
			if res.Indexed && k == len(g.filters)-1 {
				continue // ix holds what counting and Split need
			}
			if err := ix.Parse(sig, req); err != nil {
				g.unreserve(reserved)
				return Outcome{}, gwerr.Wrap(gwerr.Internal, err, fmt.Sprintf("filter[%s] produced an invalid request", f.Name()))
			}
		}
	}
	// Filters may have shrunk the request; hand the difference back.
	if size := int64(len(req)); size < reserved {
		g.unreserve(reserved - size)
		reserved = size
	} else if size > reserved {
		if err := g.reserve(ctx, size-reserved); err != nil {
			g.unreserve(reserved)
			return Outcome{}, err
		}
		reserved = size
	}

	// The index, not the filters' own counts, is the truth for the books.
	out := Outcome{Accepted: int64(ix.Items), Rejected: int64(received - ix.Items)}
	if len(reasons) > 0 {
		out.Message = strings.Join(reasons, "; ")
	}
	if out.Accepted == 0 {
		g.unreserve(reserved)
		return out, nil
	}
	pp := g.pieces.Get().(*[][]byte)
	pieces := otlpwire.Split(ix, req, g.opts.MaxItems, g.opts.MaxBytes, (*pp)[:0])
	entries := make([]queue.Entry, len(pieces))
	// Pieces are contiguous runs of whole resources, in order: walk the
	// resources once to give each piece its item count.
	k, start := 0, 0
	for i, p := range pieces {
		end := start + len(p)
		items := 0
		for ; k < len(ix.Resources) && int(ix.Resources[k].Off) < end; k++ {
			items += int(ix.Resources[k].ItemEnd - ix.Resources[k].ItemStart)
		}
		entries[i] = queue.Entry{Sig: sig, Req: p, Items: items, Buf: owner}
		start = end
	}
	clear(pieces)
	*pp = pieces[:0]
	g.pieces.Put(pp)

	// One buffer reference per entry per queue; ours becomes one of them.
	if owner != nil {
		owner.Retain(len(entries)*len(g.queues) - 1)
		owner = nil
	}
	// All or nothing: a request refused after one queue took it would be
	// sent again by the client and reach that queue's exporter twice. So
	// every queue first does what can fail (a persistent queue's journal
	// write), and only then are the entries made visible to any worker.
	// Receivers count a refusal's Rejected as the items refused: here,
	// every item the request held.
	refused := Outcome{Rejected: int64(received)}
	var stagedArr [4]queue.Staged
	staged := stagedArr[:0]
	for i, q := range g.queues {
		s, ok := q.Stage(entries)
		if !ok || q.Closed() {
			if ok {
				s.Abort()
			}
			return refused, g.refusePush(q, entries, staged, g.queues[i+1:], reserved)
		}
		staged = append(staged, s)
	}
	if ctx.Err() != nil {
		// The client has given up (its deadline passed while the journal
		// synced, say): it cannot hear an acknowledgement and will most
		// likely send the request again, so storing it would duplicate it.
		return refused, g.refusePush(nil, entries, staged, nil, reserved)
	}
	for i, s := range staged {
		if !s.Commit() {
			// Closed between the check above and here: only when an
			// exporter is shut down under a pipeline that is still
			// taking requests (a drain past its deadline). The queues
			// before it keep the request; the client's retry may
			// duplicate it there.
			for _, rest := range staged[i+1:] {
				rest.Abort()
			}
			for range len(g.queues) - i {
				for _, e := range entries {
					e.Buf.Release()
				}
			}
			return refused, g.pushRefusal(g.queues[i])
		}
		g.dests[i].UpdateGauges()
	}
	return out, nil
}

// refusePush undoes a push that queue q refused at Stage: what was staged
// in the queues before it is given up, the queues after it get their
// reservation back, and every queue's reference to the buffer is dropped.
//
// A nil q means the client went away.
func (g *Generation) refusePush(q *queue.Queue, entries []queue.Entry, staged []queue.Staged, rest []*queue.Queue, reserved int64) error {
	for _, s := range staged {
		s.Abort()
	}
	for _, r := range rest {
		r.Unreserve(reserved)
	}
	for range g.queues {
		for _, e := range entries {
			e.Buf.Release()
		}
	}
	if q == nil {
		return errClientGone
	}
	return g.pushRefusal(q)
}

// pushRefusal is the client's answer when queue q would not take a
// reserved request.
func (g *Generation) pushRefusal(q *queue.Queue) error {
	// Only a closed queue, or a persistent one whose journal failed,
	// refuses a reserved push; a queue closes when its exporter shuts
	// down under us.
	if jerr := q.Err(); jerr != nil {
		// A persistent queue could not write the request: nothing is
		// acknowledged, and the client may retry elsewhere.
		return &gwerr.Error{Kind: gwerr.Storage, Msg: "could not store the request: " + jerr.Error(), RetryAfter: defaultRetryAfter}
	}
	return &gwerr.Error{Kind: gwerr.Backpressure, Msg: "exporter is shutting down", RetryAfter: defaultRetryAfter}
}

// reserve claims n bytes in every queue, or none.
func (g *Generation) reserve(ctx context.Context, n int64) error {
	for i, q := range g.queues {
		if n > q.Capacity() {
			for _, done := range g.queues[:i] {
				done.Unreserve(n)
			}
			return gwerr.New(gwerr.TooLarge, "request of %d bytes exceeds the queue capacity of %d bytes", n, q.Capacity())
		}
		if !g.reserveOne(ctx, q, n) {
			for _, done := range g.queues[:i] {
				done.Unreserve(n)
			}
			return errQueueFull
		}
	}
	return nil
}

func (g *Generation) reserveOne(ctx context.Context, q *queue.Queue, n int64) bool {
	if q.Reserve(n) {
		return true
	}
	if g.opts.BlockTimeout <= 0 {
		return false
	}
	// Waiting is opt-in (queue.block_timeout) and rare; polling keeps the
	// queue free of a second wake-up mechanism.
	deadline := time.Now().Add(g.opts.BlockTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		if q.Reserve(n) {
			return true
		}
	}
	return false
}

func (g *Generation) unreserve(n int64) {
	for _, q := range g.queues {
		q.Unreserve(n)
	}
}
