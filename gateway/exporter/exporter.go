package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// Settings is what the gateway injects into every exporter.
type Settings struct {
	// Logger receives the exporter's rare, structured log lines. Default:
	// discard.
	Logger *slog.Logger
	// Metrics is where the exporter_* and queue_* metrics are counted.
	// Default: a private registry nobody scrapes (for tests and tools).
	Metrics *telemetry.Metrics
	// PersistentDir, when set, makes the queue persistent
	// (queue.persistent.directory): journaled under PersistentDir/NAME.
	PersistentDir string
	// FS is where a persistent queue writes its journal; nil is the real
	// file system. A seam for tests, which inject full disks and failing
	// fsyncs through it.
	FS faultfs.FS
}

// logInterval bounds how often one exporter logs the same kind of event
// (upstream partial success, retries, failures); metrics count every one.
const logInterval = 10 * time.Second

// Exporter is one configured destination: a bounded queue, a fixed pool of
// workers that take same-signal batches from it, and the Sender they share.
//
// Lifecycle: New, then Start once; Shutdown stops intake, drains, and is
// safe without Start and more than once.
type Exporter struct {
	name    string
	batch   config.Batch
	workers int
	sender  Sender
	q       *queue.Queue
	retry   retrier
	log     *slog.Logger
	m       metrics
	// limit gates each attempt under concurrency.mode: adaptive; nil when
	// fixed (every worker may have a request in flight).
	limit *limiter

	// runCtx ends at the shutdown deadline: it stops workers waiting for
	// work and cancels in-flight sends and back-off waits.
	runCtx    context.Context
	cancelRun context.CancelFunc
	wg        sync.WaitGroup

	mu      sync.Mutex
	started bool
	stopped bool

	shutdownOnce sync.Once
	shutdownErr  error

	lost atomic.Int64 // items given up for the shutdown deadline
	kept atomic.Int64 // items a persistent queue keeps for the next run

	partialLog, retryLog, failLog logEvery
}

// metrics are the exporter's label children, resolved once so the export
// path only adds and sets.
type metrics struct {
	sig         [otlpwire.NumSignals]signalMetrics
	retries     prometheus.Counter
	dupTimeout  prometheus.Counter // possible duplicates: retried after a timeout
	dupShutdown prometheus.Counter // possible duplicates: kept for replay after an uncertain attempt
	duration    prometheus.Observer
	concurrency prometheus.Gauge
	qBytes      prometheus.Gauge
	qItems      prometheus.Gauge
	qCap        prometheus.Gauge
	malformed   malformedCounters
}

type signalMetrics struct {
	sent     prometheus.Counter
	rejected prometheus.Counter
	failed   [numReasons]prometheus.Counter // indexed by failReason; [delivered] unused
}

// New builds the exporter named cfg.Name: its Sender for cfg.Type, and a
// queue of queueBytes encoded bytes. Workers batch with batch.MaxItems,
// batch.MaxBytes and batch.Timeout (linger). Nothing is sent before Start.
//
// cfg.Concurrency.Max workers are started (at least 1). In mode fixed each
// may have a request in flight; in mode adaptive a limiter lets only as
// many as the upstream sustains (see limiter). exporter_concurrency shows
// how many may be in flight.
func New(cfg config.Exporter, batch config.Batch, queueBytes int64, set Settings) (*Exporter, error) {
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("exporter", cfg.Name)
	tm := set.Metrics
	if tm == nil {
		tm = telemetry.NewMetrics()
	}
	workers := cfg.Concurrency.Max
	if workers < 1 {
		workers = 1
	}
	m := newMetrics(tm, cfg.Name)
	sender, err := newSender(cfg, workers, log, &m.malformed)
	if err != nil {
		return nil, fmt.Errorf("exporter[%s]: %w", cfg.Name, err)
	}
	q := queue.New(queueBytes)
	if set.PersistentDir != "" {
		var recovered int
		if q, recovered, err = queue.NewPersistentWith(queueBytes, filepath.Join(set.PersistentDir, cfg.Name), journalOptions(tm, cfg.Name, log, set.FS)); err != nil {
			sender.Close()
			return nil, fmt.Errorf("exporter[%s]: %w", cfg.Name, err)
		}
		if recovered > 0 || q.BacklogBytes() > 0 {
			log.Info("persistent queue: taking back what an earlier run left undelivered", "items", recovered, "backlog_bytes", q.BacklogBytes())
		}
	}
	e := &Exporter{
		name:    cfg.Name,
		batch:   batch,
		workers: workers,
		sender:  sender,
		q:       q,
		retry:   newRetrier(cfg.Retry),
		log:     log,
		m:       m,
	}
	if cfg.Concurrency.Mode == "adaptive" {
		e.limit = newLimiter(workers, func(n int) { e.m.concurrency.Set(float64(n)) })
	}
	e.partialLog.every, e.retryLog.every, e.failLog.every = logInterval, logInterval, logInterval
	e.runCtx, e.cancelRun = context.WithCancel(context.Background())
	e.m.qCap.Set(float64(queueBytes))
	e.UpdateGauges()
	return e, nil
}

// newSender builds cfg's Sender. malformed, when not nil, counts the
// upstream answers the OTLP senders could not read.
func newSender(cfg config.Exporter, workers int, log *slog.Logger, malformed *malformedCounters) (Sender, error) {
	switch cfg.Type {
	case "otlp":
		return newGRPCSender(cfg, malformed)
	case "otlphttp":
		return newHTTPSender(cfg, workers, malformed)
	case "debug":
		return newDebugSender(cfg, log, debugInterval), nil
	case "file":
		return newFileSender(cfg)
	}
	return nil, fmt.Errorf("unknown type %q (want otlp, otlphttp, debug or file)", cfg.Type)
}

// journalOptions hands a persistent queue its otlpgw_queue_journal_*
// metrics and the exporter's logger.
func journalOptions(tm *telemetry.Metrics, name string, log *slog.Logger, fs faultfs.FS) queue.Options {
	return queue.Options{
		Logger: log,
		FS:     fs,
		Metrics: queue.JournalMetrics{
			CorruptRecords: tm.JournalCorruptRecords.WithLabelValues(name),
			SkippedBytes:   tm.JournalSkippedBytes.WithLabelValues(name),
			WriteErrors:    func(op string) queue.Adder { return tm.JournalWriteErrors.WithLabelValues(name, op) },
			Healthy:        tm.JournalHealthy.WithLabelValues(name),
			Backlog:        tm.JournalBacklog.WithLabelValues(name),
		},
	}
}

func newMetrics(tm *telemetry.Metrics, name string) metrics {
	m := metrics{
		retries:     tm.ExporterRetries.WithLabelValues(name),
		dupTimeout:  tm.ExporterPossibleDup.WithLabelValues(name, "timeout"),
		dupShutdown: tm.ExporterPossibleDup.WithLabelValues(name, "shutdown"),
		duration:    tm.ExporterDuration.WithLabelValues(name),
		concurrency: tm.ExporterConcurrency.WithLabelValues(name),
		qBytes:      tm.QueueSize.WithLabelValues(name),
		qItems:      tm.QueueItems.WithLabelValues(name),
		qCap:        tm.QueueCapacity.WithLabelValues(name),
	}
	for k := range numMalformed {
		m.malformed[k] = tm.ExporterMalformed.WithLabelValues(name, k.String())
	}
	for _, s := range otlpwire.Signals {
		sm := &m.sig[s]
		sm.sent = tm.ExporterSent.WithLabelValues(name, s.String())
		sm.rejected = tm.ExporterRejected.WithLabelValues(name, s.String())
		for r := failedPermanent; r < numReasons; r++ {
			sm.failed[r] = tm.ExporterFailed.WithLabelValues(name, s.String(), r.String())
		}
	}
	return m
}

// Name is the exporter's configured name, its `exporter` label.
func (e *Exporter) Name() string { return e.name }

// Queue is the exporter's queue; the pipeline reserves and pushes into it.
func (e *Exporter) Queue() *queue.Queue { return e.q }

// UpdateGauges copies the queue's fill into queue_size_bytes and
// queue_size_items. Workers call it after every batch; the pipeline should
// call it after pushing, so the gauges also move while workers are busy.
// It is three atomic loads and three gauge stores.
func (e *Exporter) UpdateGauges() {
	e.m.qBytes.Set(float64(e.q.UsedBytes()))
	e.m.qItems.Set(float64(e.q.Items()))
}

// Start launches the workers and returns at once. Calling it again, or
// after Shutdown, does nothing.
func (e *Exporter) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return
	}
	e.started = true
	if e.limit == nil {
		e.m.concurrency.Set(float64(e.workers))
	}
	e.wg.Add(e.workers)
	for range e.workers {
		go e.work()
	}
}

// Shutdown closes the queue to new pushes and lets the workers deliver
// what is queued until ctx ends. At that deadline it cancels in-flight
// sends and back-off waits, counts every undelivered item under
// exporter_failed_items_total{reason="shutdown"}, and returns an error
// giving their number. Safe without Start and more than once (later calls
// return the first call's result).
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() { e.shutdownErr = e.shutdown(ctx) })
	return e.shutdownErr
}

func (e *Exporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.stopped = true
	started := e.started
	e.mu.Unlock()

	e.q.Close()
	if started {
		done := make(chan struct{})
		go func() {
			e.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			e.cancelRun()
			<-done
		}
	}
	e.cancelRun()
	e.dropQueued()
	closeErr := errors.Join(e.sender.Close(), e.q.CloseJournal())
	if n := e.kept.Load(); n > 0 {
		e.log.Info("persistent queue: keeping undelivered items for the next run", "items", n)
	}
	e.UpdateGauges()
	if closeErr != nil {
		closeErr = fmt.Errorf("exporter[%s]: close: %w", e.name, closeErr)
	}
	if n := e.lost.Load(); n > 0 {
		return errors.Join(fmt.Errorf("exporter[%s]: shutdown deadline passed with %d items undelivered", e.name, n), closeErr)
	}
	return closeErr
}

// dropQueued counts what no worker will send any more as lost, or, for a
// persistent queue, as kept for the next run. The queue is closed, so Next
// hands out what is left without waiting.
func (e *Exporter) dropQueued() {
	var buf []queue.Entry
	for {
		batch, ok := e.q.Next(context.Background(), buf[:0], 0, 0, 0)
		if !ok {
			return
		}
		if e.q.Persistent() {
			for _, en := range batch {
				e.kept.Add(int64(en.Items))
			}
			e.q.Keep(batch)
			clear(batch)
			buf = batch
			continue
		}
		for _, en := range batch {
			e.m.sig[en.Sig].failed[failedShutdown].Add(float64(en.Items))
			e.lost.Add(int64(en.Items))
		}
		e.q.Done(batch)
		clear(batch)
		buf = batch
	}
}

// worker holds one worker's state between batches, and its attempt and
// notice functions bound once, so a batch costs no closure allocations.
type worker struct {
	e       *Exporter
	sig     otlpwire.Signal
	body    []byte
	parts   [][]byte       // set instead of body when the sender takes parts
	owners  []*bufpool.Buf // parts[i]'s pooled buffer (nil: not pooled)
	items   int
	attempt func(context.Context) (Partial, error)
	notice  retryNotice
	// uncertain is set when an attempt of the current batch ended without
	// an answer (timed out or cancelled in flight): the upstream may hold
	// the batch, so sending it again may duplicate it.
	uncertain bool
}

func (e *Exporter) work() {
	defer e.wg.Done()
	w := &worker{e: e}
	w.attempt = w.send
	w.notice = w.retrying
	entries := make([]queue.Entry, 0, 16)
	for {
		batch, ok := e.q.Next(e.runCtx, entries[:0], e.batch.MaxItems, int(e.batch.MaxBytes), e.batch.Timeout)
		if !ok {
			return
		}
		if reason := w.export(batch); reason == failedShutdown && e.q.Persistent() {
			if w.uncertain {
				e.m.dupShutdown.Add(float64(w.items))
			}
			e.q.Keep(batch) // for the next run
		} else {
			e.q.Done(batch)
		}
		clear(batch) // let delivered requests be collected
		entries = batch
		e.UpdateGauges()
	}
}

// export sends one same-signal batch. Several entries make one request:
// an Export*ServiceRequest is one repeated top-level field, so appended
// encodings are a valid request holding them all. Senders that can write
// the entries one after the other get them as parts; the rest get them
// concatenated into a pooled buffer.
func (w *worker) export(batch []queue.Entry) failReason {
	e := w.e
	w.sig = batch[0].Sig
	w.items = 0
	w.uncertain = false
	size := 0
	for _, en := range batch {
		w.items += en.Items
		size += len(en.Req)
	}
	var pooled *[]byte
	_, byParts := e.sender.(PartsSender)
	switch {
	case byParts:
		for _, en := range batch {
			w.parts = append(w.parts, en.Req)
			w.owners = append(w.owners, en.Buf)
		}
	case len(batch) == 1:
		w.body = batch[0].Req
	default:
		pooled = getBuf(size)
		b := (*pooled)[:0]
		for _, en := range batch {
			b = append(b, en.Req...)
		}
		*pooled = b
		w.body = b
	}
	p, reason, err := e.retry.do(e.runCtx, w.attempt, w.notice)
	w.body = nil
	clear(w.parts)
	w.parts = w.parts[:0]
	clear(w.owners)
	w.owners = w.owners[:0]
	if pooled != nil {
		putBuf(pooled)
	}
	e.account(w.sig, w.items, p, reason, err)
	return reason
}

func (w *worker) send(ctx context.Context) (Partial, error) {
	l := w.e.limit
	if l != nil {
		if err := l.acquire(ctx); err != nil {
			return Partial{}, err
		}
	}
	start := time.Now()
	// An attempt begun after the shutdown deadline never leaves: it is no
	// possible duplicate (workers still take what is queued then).
	live := ctx.Err() == nil
	var p Partial
	var err error
	if len(w.parts) > 0 {
		p, err = w.e.sender.(PartsSender).SendParts(ctx, w.sig, w.parts, w.owners, w.items)
	} else {
		p, err = w.e.sender.Send(ctx, w.sig, w.body, w.items)
	}
	took := time.Since(start)
	w.e.m.duration.Observe(took.Seconds())
	if err != nil && live && unanswered(err) {
		w.uncertain = true
	}
	if l != nil {
		outcome := attemptOK
		if err != nil {
			outcome = attemptOther
			if retryable, _ := IsRetryable(err); retryable {
				outcome = attemptOverload
			}
		}
		l.release(outcome, took)
	}
	return p, err
}

func (w *worker) retrying(retry int, wait time.Duration, err error) {
	e := w.e
	e.m.retries.Inc()
	if unanswered(err) {
		e.m.dupTimeout.Add(float64(w.items))
	}
	e.log.Debug("export failed, retrying", "signal", w.sig.String(), "items", w.items, "retry", retry, "wait", wait, "error", err)
	if suppressed, ok := e.retryLog.allow(); ok {
		e.log.Warn("upstream failing, retrying with back-off", "signal", w.sig.String(), "retry", retry, "wait", wait, "error", err, "similar_suppressed", suppressed)
	}
}

// unanswered reports whether a failed attempt ended for want of an answer
// (our attempt timeout, or a cancellation) rather than by one: the request
// may have reached the upstream whole, and repeating it may deliver it
// twice. An answer (a status or an HTTP code) or a refused connection
// means it was not taken.
func unanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// account counts a finished batch. Items the upstream rejected in a
// partial success are counted as rejected, not sent, so that sent +
// rejected + failed adds up to what was queued.
func (e *Exporter) account(sig otlpwire.Signal, items int, p Partial, reason failReason, err error) {
	sm := &e.m.sig[sig]
	if reason == failedShutdown && e.q.Persistent() {
		e.kept.Add(int64(items)) // not lost: on disk for the next run
		return
	}
	if reason != delivered {
		sm.failed[reason].Add(float64(items))
		if reason == failedShutdown {
			e.lost.Add(int64(items))
		}
		if suppressed, ok := e.failLog.allow(); ok {
			e.log.Error("export failed, items dropped", "signal", sig.String(), "items", items, "reason", reason.String(), "error", err, "similar_suppressed", suppressed)
		}
		return
	}
	rejected := min(max(p.Rejected, 0), int64(items))
	sm.sent.Add(float64(int64(items) - rejected))
	if rejected > 0 {
		sm.rejected.Add(float64(rejected))
	}
	if rejected > 0 || p.Message != "" {
		if suppressed, ok := e.partialLog.allow(); ok {
			e.log.Warn("upstream reported partial success", "signal", sig.String(), "items", items, "rejected", p.Rejected, "message", p.Message, "similar_suppressed", suppressed)
		}
	}
}

// logEvery lets one log line through per interval and counts the rest.
type logEvery struct {
	every      time.Duration
	next       atomic.Int64 // UnixNano before which lines are suppressed
	suppressed atomic.Int64
}

func (l *logEvery) allow() (suppressed int64, ok bool) {
	now := time.Now().UnixNano()
	n := l.next.Load()
	if now < n || !l.next.CompareAndSwap(n, now+int64(l.every)) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}

// maxPooledBuf keeps an outsized batch's buffer from staying in the pool.
const maxPooledBuf = 16 << 20

var bufPool sync.Pool // *[]byte, shared by every exporter's workers

func getBuf(n int) *[]byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return p
		}
		*p = make([]byte, 0, n)
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

func putBuf(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		return
	}
	*p = (*p)[:0]
	bufPool.Put(p)
}

// Lost is how many items the exporter gave up at the shutdown deadline
// (exporter_failed_items_total{reason="shutdown"}); final once Shutdown
// has returned.
func (e *Exporter) Lost() int64 { return e.lost.Load() }
