package exporter

import (
	"context"
	"math"
	"sync"
	"time"
)

// limiter is adaptive concurrency (concurrency.mode: adaptive): it finds
// how many requests the upstream sustains in flight, between 1 and max,
// from what each attempt shows.
//
//   - It starts at min(4, max) and, until the first sign of overload,
//     grows by one per success (doubling per round trip: slow start).
//   - After that it grows by 1/limit per success whose latency stays
//     within latencyTolerance of the best recently seen (about +1 per
//     round trip), and holds while latency is higher: the upstream is
//     queueing, more in flight would only wait longer.
//   - An overload (a retryable failure: UNAVAILABLE, RESOURCE_EXHAUSTED
//     with RetryInfo, 429, 503, timeouts, refused connections) halves it, at most once per
//     round trip (twice the best recent latency), since the requests
//     already in flight when the upstream tipped over fail together.
//
// Workers acquire a slot for each attempt, not for the back-off between
// attempts, so a batch waiting to retry holds no concurrency.
type limiter struct {
	max int

	mu       sync.Mutex
	limit    float64
	inflight int
	slow     bool          // slow start: no overload seen yet
	minRTT   time.Duration // the best latency in the current window
	windowAt time.Time     // when minRTT's window started
	cutAt    time.Time     // the last decrease
	wake     chan struct{} // closed (and replaced) when a slot may be free
	now      func() time.Time
	onChange func(limit int)
}

const (
	// latencyTolerance is how much slower than the best recent latency a
	// success may be and still count as "not queueing".
	latencyTolerance = 2.0
	// rttWindow is how long the best latency is remembered: the upstream's
	// speed changes (other clients, autoscaling), so an old best would
	// hold the limit down for good.
	rttWindow = 30 * time.Second
	// decreaseCooldown spaces decreases out while no success has shown
	// the round trip yet.
	decreaseCooldown = 100 * time.Millisecond
	// initialLimit is where a limiter starts (less when max is smaller).
	initialLimit = 4
)

func newLimiter(max int, onChange func(int)) *limiter {
	l := &limiter{max: max, limit: float64(min(initialLimit, max)), slow: true, wake: make(chan struct{}), now: time.Now, onChange: onChange}
	if onChange != nil {
		onChange(int(l.limit))
	}
	return l
}

// acquire waits for a free slot, or for ctx to end.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inflight < int(l.limit) {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Outcomes of an attempt, for release.
const (
	attemptOK       = iota // delivered (partial success included)
	attemptOverload        // a retryable failure
	attemptOther           // a permanent failure: says nothing about load
)

// release frees the slot of an attempt that took rtt and ended in outcome,
// and adapts the limit.
func (l *limiter) release(outcome int, rtt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	before := int(l.limit)
	now := l.now()
	switch outcome {
	case attemptOK:
		if l.minRTT == 0 || rtt < l.minRTT || now.Sub(l.windowAt) > rttWindow {
			l.minRTT, l.windowAt = rtt, now
		}
		switch {
		case l.slow:
			l.limit++
		case float64(rtt) <= latencyTolerance*float64(l.minRTT):
			l.limit += 1 / l.limit
		}
		l.limit = math.Min(l.limit, float64(l.max))
	case attemptOverload:
		cooldown := decreaseCooldown
		if l.minRTT > 0 {
			cooldown = 2 * l.minRTT
		}
		if l.slow || now.Sub(l.cutAt) >= cooldown {
			l.slow = false
			l.cutAt = now
			l.limit = math.Max(1, math.Floor(l.limit/2))
		}
	}
	if after := int(l.limit); after != before && l.onChange != nil {
		l.onChange(after)
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// current is the limit now, rounded down.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}
