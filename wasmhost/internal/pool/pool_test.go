package pool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyDelay(t *testing.T) {
	p := Policy{Threshold: 5, Base: 100 * time.Millisecond, Max: 30 * time.Second}
	for _, tt := range []struct {
		fails int64
		want  time.Duration
	}{
		{0, 0}, {4, 0}, {5, 100 * time.Millisecond}, {6, 200 * time.Millisecond},
		{13, 25600 * time.Millisecond}, {14, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		if got := p.Delay(tt.fails); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.fails, got, tt.want)
		}
	}
}

// TestPool checks the pool's bookkeeping with plain ints: it fills to its
// size, Get waits and gives up, Discard replaces (counting failures and
// backing off after the threshold), Put ends a run of failures, and Close
// destroys every instance made.
func TestPool(t *testing.T) {
	var made, destroyed atomic.Int64
	var failNext atomic.Bool
	newFn := func(ctx context.Context) (int, error) {
		if failNext.Load() {
			return 0, errors.New("cannot instantiate")
		}
		return int(made.Add(1)), nil
	}
	destroy := func(int) { destroyed.Add(1) }
	var onFail atomic.Int64
	p := New(2, 0, newFn, destroy, Policy{Threshold: 2, Base: 20 * time.Millisecond, Max: time.Second}, func(int64, error) { onFail.Add(1) })

	ctx := context.Background()
	a, err := p.Get(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(ctx, 30*time.Second) // the one made in the background
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, 10*time.Millisecond); !errors.Is(err, ErrNoInstance) {
		t.Fatalf("Get from an empty pool: %v, want ErrNoInstance", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Get(cctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}

	if n := p.Discard(a, errors.New("trap")); n != 1 {
		t.Errorf("Discard returned %d consecutive failures, want 1", n)
	}
	a, err = p.Get(ctx, 30*time.Second) // the replacement, made at once
	if err != nil {
		t.Fatal(err)
	}
	// The back-off starts inside Discard, so it is measured from before
	// it: a lower bound no delay on a loaded machine can break. The wait
	// is a hang net only.
	start := time.Now()
	if n := p.Discard(a, errors.New("trap")); n != 2 {
		t.Errorf("Discard returned %d, want 2", n)
	}
	a, err = p.Get(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("replacement after 2 failures came after %v, want the 20ms back-off", took)
	}
	if fails, _, last := p.State(); fails != 2 || last == nil || last.Error() != "trap" {
		t.Errorf("State() = %d, %v", fails, last)
	}
	p.Put(a)
	if fails, next, _ := p.State(); fails != 0 || !next.IsZero() {
		t.Errorf("State() after Put = %d, next %v; want 0 and no back-off", fails, next)
	}

	// A failing instantiation counts and is retried.
	failNext.Store(true)
	p.Discard(b, nil)
	for onFail.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	failNext.Store(false)
	p.Close()
	p.Close()
	if _, err := p.Get(ctx, time.Millisecond); err == nil {
		t.Error("Get after Close succeeded")
	}
	if made.Load()+1 != destroyed.Load() { // the first instance (0) was not made by newFn
		t.Errorf("made %d (+1 given), destroyed %d", made.Load(), destroyed.Load())
	}
}
