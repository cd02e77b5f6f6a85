package exporter

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// failReason says why a batch was given up; its label value is the
// `reason` of exporter_failed_items_total.
type failReason uint8

const (
	delivered failReason = iota
	failedPermanent
	failedRetriesExhausted
	failedShutdown
	numReasons
)

func (r failReason) String() string {
	switch r {
	case failedPermanent:
		return "permanent"
	case failedRetriesExhausted:
		return "retries_exhausted"
	case failedShutdown:
		return "shutdown"
	}
	return "delivered"
}

// retrier repeats one export attempt with exponential back-off and jitter.
// The random source, the sleep and the clock are fields so tests can run
// the schedule without waiting.
type retrier struct {
	cfg   config.Retry
	rand  func() float64 // uniform in [0, 1)
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// fallbackInterval replaces a non-positive InitialInterval, which would
// otherwise make a failing upstream a busy loop. Config validation should
// have refused it already.
const fallbackInterval = 100 * time.Millisecond

func newRetrier(cfg config.Retry) retrier {
	if cfg.InitialInterval <= 0 {
		cfg.InitialInterval = fallbackInterval
	}
	return retrier{cfg: cfg, rand: rand.Float64, sleep: sleepCtx, now: time.Now}
}

// sleepCtx waits d, or less when ctx ends first (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryNotice is what the caller hears about each retry, before its wait.
type retryNotice func(retry int, wait time.Duration, err error)

// do runs attempt until it succeeds, fails permanently, runs out of time or
// ctx ends, and reports which. The back-off interval starts at
// InitialInterval, grows by Multiplier up to MaxInterval, and each wait is
// drawn uniformly from interval·(1±Jitter). An upstream's own delay
// (RetryableError.After) is waited in full when longer. A wait that would
// end past MaxElapsedTime (counted from the first attempt; 0 means no
// limit) is not started: the batch is given up at once. With Enabled false
// there is exactly one attempt.
func (r *retrier) do(ctx context.Context, attempt func(context.Context) (Partial, error), notice retryNotice) (Partial, failReason, error) {
	start := r.now()
	interval := r.cfg.InitialInterval
	for retry := 1; ; retry++ {
		p, err := attempt(ctx)
		if err == nil {
			return p, delivered, nil
		}
		if ctx.Err() != nil {
			return p, failedShutdown, err
		}
		retryable, after := IsRetryable(err)
		if !retryable {
			return p, failedPermanent, err
		}
		if !r.cfg.Enabled {
			return p, failedRetriesExhausted, err
		}
		wait := r.jittered(interval)
		if after > wait {
			wait = after
		}
		// Written as a difference: elapsed+wait overflows for an upstream
		// delay near the largest Duration (a Retry-After date centuries
		// ahead), and the wait would then be started, not given up.
		if r.cfg.MaxElapsedTime > 0 && wait > r.cfg.MaxElapsedTime-r.now().Sub(start) {
			return p, failedRetriesExhausted, err
		}
		if notice != nil {
			notice(retry, wait, err)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			return p, failedShutdown, errors.Join(err, serr)
		}
		interval = r.grow(interval)
	}
}

func (r *retrier) jittered(interval time.Duration) time.Duration {
	j := r.cfg.Jitter
	if j <= 0 {
		return interval
	}
	if j > 1 {
		j = 1
	}
	return time.Duration(float64(interval) * (1 + j*(2*r.rand()-1)))
}

func (r *retrier) grow(interval time.Duration) time.Duration {
	m := r.cfg.Multiplier
	if m < 1 {
		m = 1
	}
	next := time.Duration(float64(interval) * m)
	if r.cfg.MaxInterval > 0 && next > r.cfg.MaxInterval {
		next = r.cfg.MaxInterval
	}
	return next
}
