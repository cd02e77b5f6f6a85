// Package queue is the bounded in-memory queue that sits in front of each
// exporter. Its capacity is counted in encoded request bytes and covers
// what waits AND what is being exported, so the gateway's memory for
// accepted data stays bounded while an upstream is slow or down.
//
// Receivers reserve room in every exporter's queue before acknowledging a
// request (Reserve), then Push; a reservation that fails is backpressure.
// Exporter workers take same-signal batches with Next and release their
// bytes with Done once the batch is delivered or given up.
package queue

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Entry is one accepted request (or a piece of one, split at resource
// boundaries). Req is shared read-only between every exporter's queue.
type Entry struct {
	Sig   otlpwire.Signal
	Req   []byte
	Items int
	// Buf, when set, is the pooled buffer Req lies in; the entry holds one
	// reference to it, released by Done.
	Buf *bufpool.Buf
	at  time.Time
	seq uint64
	// jseg (1 + the segment number; 0: not journaled) and jrec place the
	// entry in a persistent queue's journal.
	jseg, jrec uint32
}

// Queue is safe for concurrent use by any number of producers and workers.
type Queue struct {
	capacity int64
	used     atomic.Int64 // reserved + queued + in flight, in bytes
	items    atomic.Int64 // queued + in flight

	mu sync.Mutex
	// wake holds at most one token; a token wakes one waiting worker,
	// which passes it on when it leaves work behind (see Next). Waking
	// one worker rather than all of them saves a herd of context switches
	// per batch (16 workers by default).
	wake chan struct{}
	// done is closed by Close, waking every worker.
	done chan struct{}
	// waiting counts workers in Next with nothing to take yet (tests wait
	// for it before pushing, to exercise the wake-ups).
	waiting atomic.Int32
	fifo    [otlpwire.NumSignals][]Entry
	// pending counts what each fifo holds, so Push can tell when a full
	// batch has formed.
	pendingItems [otlpwire.NumSignals]int
	pendingBytes [otlpwire.NumSignals]int
	// wantItems and wantBytes are the batch limits workers last asked for.
	wantItems, wantBytes int
	seq                  uint64
	closed               bool

	// j is the journal of a persistent queue (NewPersistent); nil for an
	// in-memory one. r replays what earlier runs left.
	j *journal
	r *replayer
}

// New returns a queue holding at most capacity bytes.
func New(capacity int64) *Queue {
	return &Queue{capacity: capacity, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// NewPersistent returns a queue that journals every entry under dir
// (see journal) and takes back the entries earlier queues on dir left
// undelivered. Those are streamed from disk (see replayer) within a
// window of min(capacity/2, 64 MiB) reserved out of capacity while the
// replay runs, so a backlog larger than memory neither fills it nor
// keeps new data out. It reports the items taken back at once; the rest
// of a larger backlog (BacklogBytes) follows as the first are delivered.
func NewPersistent(capacity int64, dir string) (*Queue, int, error) {
	return NewPersistentWith(capacity, dir, Options{})
}

// NewPersistentWith is NewPersistent with a logger and metrics. Damaged
// journal records are skipped (logged, and counted in
// o.Metrics.CorruptRecords), never a reason to fail; it fails only when
// dir cannot be created, listed or locked.
func NewPersistentWith(capacity int64, dir string, o Options) (*Queue, int, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = osFS{}
	}
	j, err := openJournal(dir, o)
	if err != nil {
		return nil, 0, err
	}
	q := New(capacity)
	q.j = j
	r, err := newReplayer(q, dir, j.dir, o)
	if err != nil {
		j.close()
		return nil, 0, err
	}
	q.r = r
	items, more := r.feed(false)
	if more {
		r.start()
	}
	return q, items, nil
}

// BacklogBytes is what earlier runs left on disk that the queue has not
// taken in yet (see replayer); 0 once the replay is done, and for an
// in-memory queue.
func (q *Queue) BacklogBytes() int64 {
	if q.r == nil {
		return 0
	}
	return q.r.backlogBytes()
}

// Persistent says whether the queue journals its entries.
func (q *Queue) Persistent() bool { return q.j != nil }

// Err is StorageError.
func (q *Queue) Err() error { return q.StorageError() }

// StorageError is the persistent queue's current storage fault (the
// last write, fsync or segment creation that failed), while it makes
// Push refuse; nil when the journal is healthy (and always for an
// in-memory queue). It clears by itself once an append is written and
// synced again. For readiness.
func (q *Queue) StorageError() error {
	if q.j == nil {
		return nil
	}
	if e := q.j.storageErr.Load(); e != nil {
		return *e
	}
	return nil
}

// CloseJournal closes a persistent queue's files once no worker uses the
// queue any more: what is not delivered stays on disk for the next queue
// opened on the directory. A no-op for an in-memory queue.
func (q *Queue) CloseJournal() error {
	if q.j == nil {
		return nil
	}
	q.r.close()
	return q.j.close()
}

// Capacity is the queue's size limit in bytes.
func (q *Queue) Capacity() int64 { return q.capacity }

// UsedBytes is what is reserved, queued or being exported, in bytes.
func (q *Queue) UsedBytes() int64 { return q.used.Load() }

// Items is how many items are queued or being exported.
func (q *Queue) Items() int64 { return q.items.Load() }

// Fill is UsedBytes/Capacity, in 0..1; the gateway's pressure signal.
func (q *Queue) Fill() float64 {
	if q.capacity <= 0 {
		return 1
	}
	f := float64(q.used.Load()) / float64(q.capacity)
	if f > 1 {
		f = 1
	}
	return f
}

// Reserve claims n bytes of room, or reports false at once when the queue
// cannot take them. A successful Reserve must be followed by Push of
// entries totalling n bytes, or by Unreserve(n).
func (q *Queue) Reserve(n int64) bool {
	for {
		cur := q.used.Load()
		if cur+n > q.capacity {
			return false
		}
		if q.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Unreserve returns room claimed by Reserve that will not be pushed.
func (q *Queue) Unreserve(n int64) { q.used.Add(-n) }

// Push appends reserved entries. It reports false, and releases their
// reservation (not their buffer references), if the queue was closed
// meanwhile or, for a persistent queue, the journal failed (see Err). A
// persistent queue returns only once the entries are on stable storage.
func (q *Queue) Push(entries ...Entry) bool {
	s, ok := q.Stage(entries)
	return ok && s.Commit()
}

func bytesOf(entries []Entry) int64 {
	var n int64
	for _, e := range entries {
		n += int64(len(e.Req))
	}
	return n
}

func (q *Queue) enqueue(entries []Entry) bool {
	now := time.Now()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		var n int64
		for _, e := range entries {
			n += int64(len(e.Req))
		}
		q.used.Add(-n)
		return false
	}
	var items int64
	wake := false
	for _, e := range entries {
		q.seq++
		e.at, e.seq = now, q.seq
		// Waking a worker on every push costs context switches per
		// request. Workers only need to hear of a signal that had nothing
		// queued (someone must start its linger timer) and of a full batch
		// that has just formed.
		wasReady := q.readyLocked(e.Sig)
		wake = wake || len(q.fifo[e.Sig]) == 0
		q.fifo[e.Sig] = append(q.fifo[e.Sig], e)
		q.pendingItems[e.Sig] += e.Items
		q.pendingBytes[e.Sig] += len(e.Req)
		wake = wake || (!wasReady && q.readyLocked(e.Sig))
		items += int64(e.Items)
	}
	q.items.Add(items)
	if wake {
		q.signal()
	}
	q.mu.Unlock()
	return true
}

// readyLocked reports whether sig has a full batch waiting.
func (q *Queue) readyLocked(sig otlpwire.Signal) bool {
	return (q.wantItems > 0 && q.pendingItems[sig] >= q.wantItems) || (q.wantBytes > 0 && q.pendingBytes[sig] >= q.wantBytes)
}

// signal wakes one waiting worker, or the next one to wait if none is
// waiting now. A token already pending covers this wake-up too: whoever
// takes it finds all the work there is, and passes a token on when it
// leaves some behind.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Close stops Push; Next keeps handing out what is left, without lingering,
// then reports false.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	q.mu.Unlock()
	if q.r != nil {
		q.r.stop() // workers drain what is in; the rest stays on disk
	}
}

// Next waits for the oldest queued signal and returns a batch of its
// entries appended to dst: whole entries, at most maxItems items and
// maxBytes bytes unless the first entry alone is larger. When the batch is
// short of either limit it waits up to linger after its oldest entry
// arrived for more. It returns false when ctx ends or the queue is closed
// and empty. The caller must pass the batch to Done when finished with it.
func (q *Queue) Next(ctx context.Context, dst []Entry, maxItems, maxBytes int, linger time.Duration) ([]Entry, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		q.wantItems, q.wantBytes = maxItems, maxBytes
		sig, ok := q.oldestLocked()
		if ok {
			items, bytes, n := q.fitLocked(sig, maxItems, maxBytes)
			full := n < len(q.fifo[sig]) || (maxItems > 0 && items >= maxItems) || (maxBytes > 0 && bytes >= maxBytes)
			deadline := q.fifo[sig][0].at.Add(linger)
			if full || q.closed || linger <= 0 || !time.Now().Before(deadline) {
				dst = append(dst, q.fifo[sig][:n]...)
				clear(q.fifo[sig][:n])
				q.fifo[sig] = q.fifo[sig][n:]
				q.pendingItems[sig] -= items
				q.pendingBytes[sig] -= bytes
				if len(q.fifo[sig]) == 0 {
					q.fifo[sig] = q.fifo[sig][:0:0]
				}
				// Hand what is left to another worker: it may already be a
				// full batch, or need someone to linger on it.
				if q.hasEntriesLocked() {
					q.signal()
				}
				q.mu.Unlock()
				return dst, true
			}
			q.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			} else {
				timer.Reset(time.Until(deadline))
			}
			q.waiting.Add(1)
			select {
			case <-ctx.Done():
				q.waiting.Add(-1)
				return dst, false
			case <-q.wake:
			case <-q.done:
			case <-timer.C:
			}
			q.waiting.Add(-1)
			continue
		}
		if q.closed {
			q.mu.Unlock()
			return dst, false
		}
		q.mu.Unlock()
		q.waiting.Add(1)
		select {
		case <-ctx.Done():
			q.waiting.Add(-1)
			return dst, false
		case <-q.wake:
		case <-q.done:
		}
		q.waiting.Add(-1)
	}
}

// Done releases the bytes and items of a batch returned by Next, and the
// entries' references to their pooled buffers. A persistent queue marks
// them delivered (or given up) in its journal.
func (q *Queue) Done(batch []Entry) {
	if q.j != nil {
		q.j.ack(batch)
		if q.r.mark(batch) {
			// An earlier instance's segment went: on a full disk that
			// may be the space the journal waits for.
			q.j.spaceFreed()
		}
	}
	q.Keep(batch)
}

// Keep is Done without marking the batch in a persistent queue's journal:
// for batches the queue could not deliver before it stopped, which the
// next queue on its directory will take back.
func (q *Queue) Keep(batch []Entry) {
	if q.r != nil {
		q.r.release(batch)
	}
	var n, items int64
	for _, e := range batch {
		n += int64(len(e.Req))
		items += int64(e.Items)
		e.Buf.Release()
	}
	q.used.Add(-n)
	q.items.Add(-items)
}

func (q *Queue) hasEntriesLocked() bool {
	for _, f := range q.fifo {
		if len(f) > 0 {
			return true
		}
	}
	return false
}

// Len is the number of entries waiting (not counting those being exported).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, f := range q.fifo {
		n += len(f)
	}
	return n
}

func (q *Queue) oldestLocked() (otlpwire.Signal, bool) {
	best, found := otlpwire.Signal(0), false
	for s := range q.fifo {
		if len(q.fifo[s]) == 0 {
			continue
		}
		if !found || q.fifo[s][0].seq < q.fifo[best][0].seq {
			best, found = otlpwire.Signal(s), true
		}
	}
	return best, found
}

// fitLocked counts how many head entries of sig fit in the limits; at
// least one, so an entry larger than a limit still moves.
func (q *Queue) fitLocked(sig otlpwire.Signal, maxItems, maxBytes int) (items, bytes, n int) {
	for _, e := range q.fifo[sig] {
		if n > 0 && ((maxItems > 0 && items+e.Items > maxItems) || (maxBytes > 0 && bytes+len(e.Req) > maxBytes)) {
			break
		}
		items += e.Items
		bytes += len(e.Req)
		n++
	}
	return items, bytes, n
}
