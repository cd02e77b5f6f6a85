package procs

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// TestPolicy walks the policy through a load that rises, dips briefly,
// then stays low: up at once, down only after Down quiet samples.
func TestPolicy(t *testing.T) {
	p := Policy{Up: 0.6, Low: 0.35, Down: 3}
	s := state{procs: 4}
	steps := []struct {
		cores float64
		want  int
	}{
		{0.2, 4}, {0.2, 4}, {0.2, 1}, // three quiet samples: one P
		{0.5, 1},           // between the thresholds: stay
		{0.7, 4},           // near saturation: all at once
		{0.2, 4}, {0.5, 4}, // a dip that does not last resets the count
		{0.2, 4}, {0.2, 4}, {0.1, 1},
		{0.59, 1}, {0.6, 4},
	}
	for i, st := range steps {
		s = p.next(s, 4, st.cores)
		if s.procs != st.want {
			t.Fatalf("step %d (%.2f cores): GOMAXPROCS %d, want %d", i, st.cores, s.procs, st.want)
		}
	}
}

// TestRunRestores: Run keeps an idle process on one P and puts the
// starting value back when it stops.
func TestRunRestores(t *testing.T) {
	start := runtime.GOMAXPROCS(0)
	if start < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(start)
		start = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Up above any possible load: it stays on one P.
		Run(ctx, Policy{Interval: time.Millisecond, Up: 1e9, Low: 1e9, Down: 2}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("GOMAXPROCS never went down to 1")
		}
		runtime.Gosched()
	}
	cancel()
	<-done
	if got := runtime.GOMAXPROCS(0); got != start {
		t.Fatalf("GOMAXPROCS %d after Run stopped, want %d restored", got, start)
	}
}

// TestBusyRaises: while a Busy hold is out the controller keeps every
// core, whatever the load; after release it may go down again.
func TestBusyRaises(t *testing.T) {
	start := runtime.GOMAXPROCS(0)
	if start < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(start)
		start = 2
	}
	// Without a controller, Busy leaves GOMAXPROCS alone.
	release := Busy()
	if got := runtime.GOMAXPROCS(0); got != start {
		t.Fatalf("Busy without a controller set GOMAXPROCS %d, want %d", got, start)
	}
	release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Policy{Interval: time.Millisecond, Up: 1e9, Low: 1e9, Down: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() { cancel(); <-done }()
	waitProcs(t, 1)
	release = Busy()
	if got := runtime.GOMAXPROCS(0); got != start {
		t.Fatalf("GOMAXPROCS %d while busy, want %d", got, start)
	}
	// The controller's samples (idle load) must not lower it meanwhile:
	// wait for some to pass.
	for range 20 {
		time.Sleep(time.Millisecond) // lets ticks fire; what is checked is the value after them
		if got := runtime.GOMAXPROCS(0); got != start {
			t.Fatalf("GOMAXPROCS %d while busy, after a sample; want %d", got, start)
		}
	}
	release()
	waitProcs(t, 1)
}

func waitProcs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS %d, never %d", runtime.GOMAXPROCS(0), want)
		}
		runtime.Gosched()
	}
}
