package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/wasmhost/internal/pool"
)

// Result is a filter's verdict on one batch.
type Result struct {
	// Req, when not nil, replaces the request: freshly allocated, owned by
	// the caller. nil means the filter kept the batch as it was.
	Req []byte
	// Dropped is how many items the filter removed (for a REPLACE: how many
	// fewer items the replacement holds). Reason is the first drop reason
	// the filter gave, for the client's partial-success message.
	Dropped int
	Reason  string
	// Drops splits Dropped by the reasons the filter gave (ABI.md §4), at
	// most otlpwire.MaxReasonDrops of them and OtherReasons for the rest;
	// empty for a REPLACE.
	Drops []Drop
	// Reject, when not empty, is the filter's reason for refusing the whole
	// batch (its REJECT edit); Req is then nil. The pipeline refuses the
	// request with INVALID_ARGUMENT / 400.
	Reject string
}

// Drop is how many items a filter dropped for one reason.
type Drop struct {
	Reason string
	Items  int
}

// OtherReasons stands for the reasons past otlpwire.MaxReasonDrops in
// one batch.
const OtherReasons = "(other reasons)"

// Filter is one loaded module and its pool of instances. Its methods are
// safe for concurrent use; each instance runs one call at a time.
type Filter struct {
	name     string
	onError  string
	timeout  time.Duration
	memLimit uint64
	config   []byte
	host     HostEnv
	log      *slog.Logger
	rt       *Runtime

	wr            wazero.Runtime
	compiled      wazero.CompiledModule
	hasInitialize bool
	handles       [otlpwire.NumSignals]bool
	signals       []otlpwire.Signal
	// bulkOnly: the module declared it never reads a batch (ABI.md §1);
	// it gets an empty one and may return bulk edits only. haveFirst is
	// set, with bulkOnly, once the first instance is made (before the pool
	// starts making the others).
	bulkOnly  bool
	haveFirst bool

	pool *pool.Pool[*instance]

	// Close waits for calls in flight; closed refuses new ones.
	life      sync.RWMutex
	closed    bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// insts finds the instance behind a host function's caller.
	instMu sync.RWMutex
	insts  map[api.Module]*instance

	// Module-defined metrics: ids index metrics; defining is rare and
	// locked, updating reads one atomic pointer.
	metricMu sync.Mutex
	metricID map[string]int32
	metrics  [maxMetrics]atomic.Pointer[moduleMetric]

	// The guest's own health report.
	reportMu     sync.Mutex
	reportStatus int
	reportMsg    string

	failing atomic.Bool // for logging the first failure and the recovery only
}

// Name returns the filter's name.
func (f *Filter) Name() string { return f.name }

// Signals returns the signals the filter runs on.
func (f *Filter) Signals() []otlpwire.Signal { return append([]otlpwire.Signal(nil), f.signals...) }

// Handles reports whether the filter runs on sig; Process keeps batches of
// other signals as they are.
func (f *Filter) Handles(sig otlpwire.Signal) bool {
	return int(sig) < len(f.handles) && f.handles[sig]
}

// OnError returns the filter's on_error: OnErrorPass, OnErrorDrop or
// OnErrorReject.
func (f *Filter) OnError() string { return f.onError }

// Process runs one indexed batch through the filter and returns its
// verdict. It neither keeps nor modifies req and ix. A batch of a signal
// the filter does not handle comes back unchanged at once.
//
// It waits at most the filter's timeout for a free instance, and the call
// itself gets the same timeout again, both bounded by ctx. If the filter
// fails (trap, timeout, memory limit, bad output) the error is a
// *FailureError, the instance is discarded and a replacement is made in
// the background. If ctx ends first, the error wraps ctx.Err() and is not
// counted against the filter.
func (f *Filter) Process(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index) (Result, error) {
	return f.process(ctx, sig, req, ix, nil)
}

// BulkOnly says whether the module declared, after its init, that it never
// reads a batch (sdk.BulkOnly; ABI.md §1). Its edit lists then hold bulk
// edits only, which mean the same on any batch of the signal: they can be
// deferred and applied together with other filters' (ProcessBulk).
func (f *Filter) BulkOnly() bool { return f.bulkOnly }

// ProcessBulk calls a bulk-only filter for one batch of sig without
// giving it the batch, checks its edit list, and appends the list, as the
// ABI encodes it, to *pending, for the caller to decode and apply with
// otlpwire.Edits.DecodeMore. A REJECT comes back in Result.Reject, with
// nothing appended. Failures and ctx are as for Process. It is an error
// to call it on a filter that is not bulk-only.
func (f *Filter) ProcessBulk(ctx context.Context, sig otlpwire.Signal, pending *[]byte) (Result, error) {
	if !f.bulkOnly {
		return Result{}, fmt.Errorf("filter[%s]: ProcessBulk on a filter that reads batches", f.name)
	}
	return f.process(ctx, sig, nil, &emptyIndexes[sig], pending)
}

func (f *Filter) process(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index, pending *[]byte) (Result, error) {
	if !f.Handles(sig) {
		return Result{}, nil
	}
	if ix.Signal != sig {
		return Result{}, fmt.Errorf("filter[%s] signal[%s]: the index is of %s", f.name, sig, ix.Signal)
	}
	// A call under a finished context would only cost an instance.
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("filter[%s] signal[%s]: %w", f.name, sig, err)
	}
	if !f.enter() {
		return Result{}, fmt.Errorf("filter[%s]: %w", f.name, ErrClosed)
	}
	defer f.inflight.Done()

	inst, err := f.pool.Get(ctx, f.timeout)
	if err != nil {
		switch {
		case errors.Is(err, pool.ErrNoInstance):
			msg := fmt.Sprintf("no instance became free within %v", f.timeout)
			if fails, next, _ := f.pool.State(); !next.IsZero() {
				msg += fmt.Sprintf(" (crash loop: %d consecutive failures, next instance at %s)", fails, next.Format(time.RFC3339Nano))
			}
			return Result{}, f.failure(sig, KindTimeout, msg, err)
		case errors.Is(err, pool.ErrClosed):
			return Result{}, fmt.Errorf("filter[%s]: %w", f.name, ErrClosed)
		}
		return Result{}, fmt.Errorf("filter[%s] signal[%s]: waiting for an instance: %w", f.name, sig, err)
	}

	res, err := inst.run(ctx, sig, req, ix, pending)
	if err == nil {
		if inst.mod.IsClosed() {
			// Close closed the instance as the call returned: the answer
			// is whole but the instance is gone.
			f.pool.Discard(inst, nil)
		} else {
			f.pool.Put(inst)
		}
		if f.failing.Load() && f.failing.CompareAndSwap(true, false) {
			f.log.Info("filter recovered")
		}
		return res, nil
	}
	var fe *FailureError
	if errors.As(err, &fe) {
		fails := f.pool.Discard(inst, fe)
		if f.failing.CompareAndSwap(false, true) {
			f.log.Warn("filter failed; instance replaced", slog.String("kind", fe.Kind), slog.String("error", fe.Msg))
		}
		if fails == crashLoop.Threshold {
			f.log.Error("filter is crash-looping; backing off", slog.Int64("consecutive_failures", fails), slog.String("kind", fe.Kind), slog.String("error", fe.Msg))
		}
		return Result{}, err
	}
	f.pool.Discard(inst, nil)
	return Result{}, err
}

func (f *Filter) enter() bool {
	f.life.RLock()
	defer f.life.RUnlock()
	if f.closed {
		return false
	}
	f.inflight.Add(1)
	return true
}

func (f *Filter) failure(sig otlpwire.Signal, kind, msg string, err error) *FailureError {
	return &FailureError{Filter: f.name, Signal: sig, Kind: kind, OnError: f.onError, Msg: msg, Err: err}
}

// Health is the filter's state for /readyz: StatusUnhealthy while it is
// crash-looping (5 or more consecutive failures), StatusDegraded after a
// failure until the next success, otherwise what the module itself last
// reported through health_report (StatusHealthy if nothing).
func (f *Filter) Health() (status int, msg string) {
	fails, next, last := f.pool.State()
	switch {
	case fails >= crashLoop.Threshold:
		msg = fmt.Sprintf("crash loop: %d consecutive failures, last: %v", fails, last)
		if !next.IsZero() {
			msg += fmt.Sprintf("; next instance in %v", time.Until(next).Round(time.Millisecond))
		}
		return StatusUnhealthy, msg
	case fails > 0:
		return StatusDegraded, fmt.Sprintf("%d consecutive failures, last: %v", fails, last)
	}
	f.reportMu.Lock()
	defer f.reportMu.Unlock()
	return f.reportStatus, f.reportMsg
}

// Close stops the filter: new calls get ErrClosed, calls in flight finish
// (or, once ctx ends, are stopped), and every instance and the filter's
// wazero runtime are closed. It returns ctx's error if calls had to be
// stopped. Safe to call twice.
func (f *Filter) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		f.life.Lock()
		f.closed = true
		f.life.Unlock()
		done := make(chan struct{})
		go func() {
			f.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			f.closeErr = fmt.Errorf("filter[%s]: close: calls still running: %w", f.name, ctx.Err())
			// Closing the runtime closes every instance; a running guest
			// stops at its next deadline tick (within a fraction of a
			// millisecond), and a sleeping one wakes at its deadline.
			_ = f.wr.Close(context.Background())
			<-done
		}
		f.pool.Close()
		_ = f.wr.Close(context.Background())
		f.rt.remove(f)
	})
	return f.closeErr
}

// newInstance makes one instance; the pool calls it from the background.
func (f *Filter) newInstance(ctx context.Context) (*instance, error) {
	return newInstance(ctx, f)
}

// destroy closes an instance for good.
func (f *Filter) destroy(inst *instance) {
	f.instMu.Lock()
	delete(f.insts, inst.mod)
	f.instMu.Unlock()
	inst.flushOutput()
	_ = inst.mod.Close(context.Background())
}

func (f *Filter) track(inst *instance) {
	f.instMu.Lock()
	f.insts[inst.mod] = inst
	f.instMu.Unlock()
}

func (f *Filter) lookup(mod api.Module) *instance {
	f.instMu.RLock()
	inst := f.insts[mod]
	f.instMu.RUnlock()
	return inst
}

func (f *Filter) instantiateFailed(fails int64, err error) {
	f.log.Warn("could not make a filter instance", slog.Int64("consecutive_failures", fails), slog.Any("error", err))
}
