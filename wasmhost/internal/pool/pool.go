// Package pool keeps a bounded set of interchangeable instances: one user
// at a time per instance, a failed instance is thrown away and a fresh one
// made in the background, and a run of failures backs re-instantiation off
// exponentially (the crash-loop policy).
package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("pool closed")

// ErrNoInstance is returned by Get when no instance became free in time.
var ErrNoInstance = errors.New("no free instance")

// Policy is the crash-loop policy.
type Policy struct {
	// Threshold is how many consecutive failures start the back-off.
	Threshold int64
	// Base is the first back-off delay; each further failure doubles it.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
}

// Delay is how long to wait before making an instance after fails
// consecutive failures.
func (p Policy) Delay(fails int64) time.Duration {
	if fails < p.Threshold {
		return 0
	}
	n := fails - p.Threshold
	if n > 30 {
		return p.Max
	}
	d := p.Base << n
	if d > p.Max || d <= 0 {
		return p.Max
	}
	return d
}

// Pool is a bounded pool of T.
type Pool[T any] struct {
	free    chan T
	newFn   func(ctx context.Context) (T, error)
	destroy func(T)
	policy  Policy
	onFail  func(fails int64, err error)

	ctx    context.Context // ends at Close: stops back-off waits and instantiation
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // replacement goroutines

	fails   atomic.Int64 // consecutive failures, calls and instantiations alike
	lastErr atomic.Pointer[error]
	nextAt  atomic.Int64 // unix nanoseconds of the next instantiation while backing off; 0 otherwise
}

// New returns a pool of size instances holding first and making the other
// size-1 in the background. newFn builds an instance (its ctx ends at
// Close); destroy releases one; onFail, when not nil, hears of every failed
// instantiation with the running count of consecutive failures.
func New[T any](size int, first T, newFn func(ctx context.Context) (T, error), destroy func(T), policy Policy, onFail func(fails int64, err error)) *Pool[T] {
	p := &Pool[T]{
		free:    make(chan T, size),
		newFn:   newFn,
		destroy: destroy,
		policy:  policy,
		onFail:  onFail,
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.free <- first
	for i := 1; i < size; i++ {
		p.wg.Add(1)
		go p.replace(nil)
	}
	return p
}

// Get takes a free instance, waiting at most wait and never past ctx.
func (p *Pool[T]) Get(ctx context.Context, wait time.Duration) (T, error) {
	select {
	case v := <-p.free:
		return v, nil
	default:
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case v := <-p.free:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-p.ctx.Done():
		return zero, ErrClosed
	case <-t.C:
		return zero, ErrNoInstance
	}
}

// Put returns an instance after a successful use; it ends a run of
// failures. After Close it destroys v instead.
func (p *Pool[T]) Put(v T) {
	if p.fails.Load() != 0 { // keep the common path free of shared writes
		p.fails.Store(0)
		p.nextAt.Store(0)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.destroy(v)
		return
	}
	p.free <- v // never blocks: at most size instances exist
	p.mu.Unlock()
}

// Discard throws v away and makes a replacement in the background. A
// non-nil failure counts toward the crash-loop policy; nil means v is
// unusable for a reason that is not its fault (its caller gave up). It
// returns the number of consecutive failures so far.
func (p *Pool[T]) Discard(v T, failure error) int64 {
	n := p.fails.Load()
	if failure != nil {
		n = p.fail(failure)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.destroy(v)
		return n
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.replace(&v)
	return n
}

func (p *Pool[T]) fail(err error) int64 {
	p.lastErr.Store(&err)
	return p.fails.Add(1)
}

func (p *Pool[T]) replace(old *T) {
	defer p.wg.Done()
	if old != nil {
		p.destroy(*old)
	}
	for {
		if d := p.policy.Delay(p.fails.Load()); d > 0 {
			p.nextAt.Store(time.Now().Add(d).UnixNano())
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
		}
		v, err := p.newFn(p.ctx)
		if err == nil {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				p.destroy(v)
				return
			}
			p.free <- v
			p.mu.Unlock()
			return
		}
		if p.ctx.Err() != nil {
			return
		}
		n := p.fail(err)
		if p.onFail != nil {
			p.onFail(n, err)
		}
	}
}

// State reports the run of consecutive failures, when the next instance
// will be made if the pool is backing off (zero otherwise), and the last
// failure.
func (p *Pool[T]) State() (fails int64, next time.Time, last error) {
	fails = p.fails.Load()
	if e := p.lastErr.Load(); e != nil {
		last = *e
	}
	if n := p.nextAt.Load(); n != 0 && p.policy.Delay(fails) > 0 {
		next = time.Unix(0, n)
	}
	return fails, next, last
}

// Close stops making instances, waits for replacements under way (their
// instantiation context is cancelled) and destroys every free instance.
// Instances in use must be returned (Put or Discard) before Close. Safe to
// call twice.
func (p *Pool[T]) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for {
		select {
		case v := <-p.free:
			p.destroy(v)
		default:
			return
		}
	}
}

// Free is how many instances are free right now.
func (p *Pool[T]) Free() int { return len(p.free) }
