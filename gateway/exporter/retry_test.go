package exporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// fakeClock drives a retrier without waiting: sleep advances now.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func testRetrier(cfg config.Retry, r float64) (*retrier, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_000_000, 0)}
	rt := newRetrier(cfg)
	rt.rand = func() float64 { return r }
	rt.sleep = clk.sleep
	rt.now = func() time.Time { return clk.now }
	return &rt, clk
}

// failing returns an attempt that fails with err n times, then succeeds.
func failing(n int, err error) (func(context.Context) (Partial, error), *int) {
	calls := 0
	return func(context.Context) (Partial, error) {
		calls++
		if calls <= n {
			return Partial{}, err
		}
		return Partial{Rejected: 1}, nil
	}, &calls
}

var errDown = Retryable(errors.New("down"), 0)

func TestBackoffSequence(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, Jitter: 0.5, MaxElapsedTime: time.Hour}
	for _, tc := range []struct {
		name string
		rand float64
		want []time.Duration
	}{
		// rand 0.5 is the centre of the jitter window: the plain schedule,
		// doubling and then held at max_interval.
		{"centre", 0.5, []time.Duration{100, 200, 400, 800, 1000, 1000}},
		// rand 0 is the bottom of the window: interval·(1-0.5).
		{"low", 0, []time.Duration{50, 100, 200, 400, 500, 500}},
		// rand 0.75: interval·(1+0.5·0.5).
		{"high", 0.75, []time.Duration{125, 250, 500, 1000, 1250, 1250}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, clk := testRetrier(cfg, tc.rand)
			attempt, calls := failing(len(tc.want), errDown)
			var noticed []time.Duration
			p, reason, err := rt.do(context.Background(), attempt, func(_ int, wait time.Duration, _ error) { noticed = append(noticed, wait) })
			if err != nil || reason != delivered || p.Rejected != 1 {
				t.Fatalf("do = %+v, %v, %v; want delivered", p, reason, err)
			}
			if *calls != len(tc.want)+1 {
				t.Fatalf("attempts = %d, want %d", *calls, len(tc.want)+1)
			}
			for i := range tc.want {
				tc.want[i] *= time.Millisecond
			}
			if !equalDurations(clk.sleeps, tc.want) || !equalDurations(noticed, tc.want) {
				t.Fatalf("waits = %v (noticed %v), want %v", clk.sleeps, noticed, tc.want)
			}
		})
	}
}

func TestBackoffHonoursUpstreamDelay(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Multiplier: 2, MaxElapsedTime: time.Hour}
	rt, clk := testRetrier(cfg, 0.5)
	// The upstream's 5s is longer than max_interval and is waited in full;
	// a shorter upstream delay than the back-off does not shorten it.
	attempt, _ := failing(2, Retryable(errors.New("slow down"), 5*time.Second))
	if _, reason, err := rt.do(context.Background(), attempt, nil); reason != delivered {
		t.Fatalf("reason = %v (%v)", reason, err)
	}
	attempt2, _ := failing(1, Retryable(errors.New("slow down"), time.Millisecond))
	if _, reason, err := rt.do(context.Background(), attempt2, nil); reason != delivered {
		t.Fatalf("reason = %v (%v)", reason, err)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Millisecond}
	if !equalDurations(clk.sleeps, want) {
		t.Fatalf("waits = %v, want %v", clk.sleeps, want)
	}
}

func TestBackoffGivesUpAtMaxElapsed(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, MaxElapsedTime: time.Second}
	rt, clk := testRetrier(cfg, 0.5)
	attempt, calls := failing(100, errDown)
	_, reason, err := rt.do(context.Background(), attempt, nil)
	if reason != failedRetriesExhausted || !errors.Is(err, errDown) {
		t.Fatalf("reason = %v, err = %v; want retries_exhausted wrapping the last error", reason, err)
	}
	// 100+200+400 = 700ms; the next 800ms wait would end past 1s.
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if !equalDurations(clk.sleeps, want) || *calls != 4 {
		t.Fatalf("waits = %v after %d attempts; want %v after 4", clk.sleeps, *calls, want)
	}

	// An upstream delay beyond the budget is not waited out at all.
	rt2, clk2 := testRetrier(cfg, 0.5)
	attempt2, calls2 := failing(1, Retryable(errors.New("come back in a minute"), time.Minute))
	if _, reason, _ := rt2.do(context.Background(), attempt2, nil); reason != failedRetriesExhausted || len(clk2.sleeps) != 0 || *calls2 != 1 {
		t.Fatalf("reason = %v, sleeps = %v, attempts = %d; want immediate retries_exhausted", reason, clk2.sleeps, *calls2)
	}
}

func TestBackoffPermanentAndDisabled(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: time.Millisecond, Multiplier: 2, MaxElapsedTime: time.Hour}
	rt, clk := testRetrier(cfg, 0.5)
	attempt, calls := failing(5, errors.New("bad request"))
	if _, reason, _ := rt.do(context.Background(), attempt, nil); reason != failedPermanent || *calls != 1 || len(clk.sleeps) != 0 {
		t.Fatalf("permanent: reason = %v after %d attempts, sleeps %v", reason, *calls, clk.sleeps)
	}

	cfg.Enabled = false
	rt, clk = testRetrier(cfg, 0.5)
	attempt, calls = failing(5, errDown)
	if _, reason, _ := rt.do(context.Background(), attempt, nil); reason != failedRetriesExhausted || *calls != 1 || len(clk.sleeps) != 0 {
		t.Fatalf("disabled: reason = %v after %d attempts, sleeps %v", reason, *calls, clk.sleeps)
	}
}

func TestBackoffWaitAbortsOnContext(t *testing.T) {
	cfg := config.Retry{Enabled: true, InitialInterval: time.Hour, Multiplier: 2}
	rt := newRetrier(cfg) // the real sleep
	ctx, cancel := context.WithCancel(context.Background())
	attempt := func(context.Context) (Partial, error) { return Partial{}, errDown }
	done := make(chan failReason)
	go func() {
		_, reason, _ := rt.do(ctx, attempt, func(int, time.Duration, error) { cancel() })
		done <- reason
	}()
	select {
	case reason := <-done:
		if reason != failedShutdown {
			t.Fatalf("reason = %v, want shutdown", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an hour-long back-off wait did not end when its context did")
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
