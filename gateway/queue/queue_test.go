package queue

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

func entry(sig otlpwire.Signal, size, items int) Entry {
	return Entry{Sig: sig, Req: make([]byte, size), Items: items}
}

func TestReserveRefusesPastCapacity(t *testing.T) {
	q := New(100)
	if !q.Reserve(60) {
		t.Fatal("first reservation of 60/100 refused")
	}
	if q.Reserve(41) {
		t.Fatal("reservation past capacity accepted")
	}
	if !q.Reserve(40) {
		t.Fatal("reservation up to capacity refused")
	}
	q.Unreserve(40)
	if got := q.UsedBytes(); got != 60 {
		t.Fatalf("UsedBytes after Unreserve = %d, want 60", got)
	}
}

func TestBytesHeldUntilDone(t *testing.T) {
	q := New(100)
	if !q.Reserve(50) || !q.Push(entry(otlpwire.Traces, 50, 5)) {
		t.Fatal("push refused")
	}
	b, ok := q.Next(context.Background(), nil, 0, 0, 0)
	if !ok || len(b) != 1 {
		t.Fatalf("Next = %d entries, %v", len(b), ok)
	}
	if q.Reserve(51) {
		t.Fatal("bytes being exported were released before Done")
	}
	if got := q.Items(); got != 5 {
		t.Fatalf("Items in flight = %d, want 5", got)
	}
	q.Done(b)
	if got := q.UsedBytes(); got != 0 {
		t.Fatalf("UsedBytes after Done = %d, want 0", got)
	}
	if got := q.Items(); got != 0 {
		t.Fatalf("Items after Done = %d, want 0", got)
	}
}

func TestNextBatchesOneSignalWithinLimits(t *testing.T) {
	q := New(1 << 20)
	push := func(e Entry) {
		if !q.Reserve(int64(len(e.Req))) || !q.Push(e) {
			t.Fatal("push refused")
		}
	}
	push(entry(otlpwire.Traces, 10, 4))
	push(entry(otlpwire.Logs, 10, 1))
	push(entry(otlpwire.Traces, 10, 4))
	push(entry(otlpwire.Traces, 10, 4))

	b, ok := q.Next(context.Background(), nil, 8, 0, 0)
	if !ok || len(b) != 2 || b[0].Sig != otlpwire.Traces || b[1].Sig != otlpwire.Traces {
		t.Fatalf("first batch = %+v, want two trace entries (8 items)", b)
	}
	b, _ = q.Next(context.Background(), b[:0], 8, 0, 0)
	if len(b) != 1 || b[0].Sig != otlpwire.Logs {
		t.Fatalf("second batch = %+v, want the logs entry (oldest remaining)", b)
	}
	b, _ = q.Next(context.Background(), b[:0], 8, 15, 0)
	if len(b) != 1 || b[0].Sig != otlpwire.Traces {
		t.Fatalf("third batch = %+v, want one trace entry", b)
	}
}

func TestNextHandsOutOversizedEntryAlone(t *testing.T) {
	q := New(1 << 20)
	q.Reserve(100)
	q.Push(entry(otlpwire.Metrics, 100, 50))
	b, ok := q.Next(context.Background(), nil, 10, 10, 0)
	if !ok || len(b) != 1 || b[0].Items != 50 {
		t.Fatalf("oversized entry not handed out alone: %+v", b)
	}
}

func TestNextLingersForMoreThenReturnsPartial(t *testing.T) {
	q := New(1 << 20)
	q.Reserve(10)
	q.Push(entry(otlpwire.Traces, 10, 1))
	start := time.Now()
	b, ok := q.Next(context.Background(), nil, 100, 0, 30*time.Millisecond)
	if !ok || len(b) != 1 {
		t.Fatalf("Next = %+v %v", b, ok)
	}
	if waited := time.Since(start); waited < 25*time.Millisecond {
		t.Fatalf("returned a partial batch after %v, before the 30ms linger", waited)
	}
}

func TestNextReturnsFullBatchWithoutLinger(t *testing.T) {
	q := New(1 << 20)
	for range 3 {
		q.Reserve(10)
		q.Push(entry(otlpwire.Traces, 10, 5))
	}
	// A hang net, generous for a loaded machine: the batch is there at once.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A linger far beyond the context deadline: only a full batch can come back.
	b, ok := q.Next(ctx, nil, 10, 0, time.Hour)
	if !ok || len(b) != 2 {
		t.Fatalf("full batch not returned at once: %+v %v", b, ok)
	}
}

func TestCloseDrainsThenStops(t *testing.T) {
	q := New(1 << 20)
	q.Reserve(10)
	q.Push(entry(otlpwire.Logs, 10, 1))
	q.Close()
	if q.Reserve(10) && q.Push(entry(otlpwire.Logs, 10, 1)) {
		t.Fatal("push after Close accepted")
	}
	if got := q.UsedBytes(); got != 10 {
		t.Fatalf("refused push kept its reservation: used %d, want 10", got)
	}
	b, ok := q.Next(context.Background(), nil, 0, 0, time.Hour)
	if !ok || len(b) != 1 {
		t.Fatalf("queued entry not drained after Close: %+v %v", b, ok)
	}
	if _, ok := q.Next(context.Background(), nil, 0, 0, 0); ok {
		t.Fatal("Next on a closed, empty queue returned a batch")
	}
}

// TestEveryFullBatchFindsAWorker: a push wakes one waiting worker, not
// all of them, so work left behind must still reach the others. Full
// batches pushed together, with a linger no test outlives, must all be
// taken by the workers waiting for them.
func TestEveryFullBatchFindsAWorker(t *testing.T) {
	const workers = 4
	q := New(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan int, workers)
	for range workers {
		go func() {
			b, ok := q.Next(ctx, nil, 2, 0, time.Hour)
			if !ok {
				got <- 0
				return
			}
			got <- len(b)
		}()
	}
	waitForWaiting(t, q, workers)
	for range 2 * workers {
		q.Reserve(10)
		q.Push(entry(otlpwire.Traces, 10, 1))
	}
	for range workers {
		if n := <-got; n != 2 {
			t.Fatalf("a worker got %d entries, want a full batch of 2 (a lost wake-up ends in the context deadline)", n)
		}
	}
}

// waitForWaiting returns once n workers wait in Next.
func waitForWaiting(t *testing.T, q *Queue, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.waiting.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers waiting after 10 s", q.waiting.Load(), n)
		}
		runtime.Gosched()
	}
}

// TestCloseWakesEveryWorker: Close ends every worker's wait, not just one.
func TestCloseWakesEveryWorker(t *testing.T) {
	const workers = 4
	q := New(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan bool, workers)
	for range workers {
		go func() {
			_, ok := q.Next(ctx, nil, 0, 0, time.Hour)
			got <- ok && ctx.Err() == nil
		}()
	}
	waitForWaiting(t, q, workers)
	q.Close()
	for range workers {
		if <-got {
			t.Fatal("Next returned a batch from a closed, empty queue")
		}
	}
	if ctx.Err() != nil {
		t.Fatal("a worker waited until the context deadline after Close")
	}
}

func TestNextStopsOnContext(t *testing.T) {
	q := New(100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() {
		_, ok := q.Next(ctx, nil, 0, 0, 0)
		done <- ok
	}()
	cancel()
	if <-done {
		t.Fatal("Next returned a batch from an empty queue")
	}
}

// TestHammer checks the books balance under concurrent producers and workers.
func TestHammer(t *testing.T) {
	q := New(4096)
	const producers, perProducer = 4, 500
	var wg sync.WaitGroup
	var pushed, refused int64
	var mu sync.Mutex
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				e := entry(otlpwire.Signal(i%3), 64, 2)
				ok := q.Reserve(64) && q.Push(e)
				mu.Lock()
				if ok {
					pushed += 2
				} else {
					refused += 2
				}
				mu.Unlock()
			}
		}()
	}
	var got int64
	var wwg sync.WaitGroup
	for range 3 {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			var buf []Entry
			for {
				b, ok := q.Next(context.Background(), buf[:0], 10, 0, 0)
				if !ok {
					return
				}
				sig := b[0].Sig
				n := 0
				for _, e := range b {
					if e.Sig != sig {
						t.Errorf("batch mixes signals")
					}
					n += e.Items
				}
				mu.Lock()
				got += int64(n)
				mu.Unlock()
				q.Done(b)
				buf = b
			}
		}()
	}
	wg.Wait()
	q.Close()
	wwg.Wait()
	if got != pushed {
		t.Fatalf("workers got %d items, producers pushed %d", got, pushed)
	}
	if pushed+refused != producers*perProducer*2 {
		t.Fatalf("books do not balance: pushed %d + refused %d", pushed, refused)
	}
	if q.UsedBytes() != 0 || q.Items() != 0 {
		t.Fatalf("queue not empty after drain: %d bytes, %d items", q.UsedBytes(), q.Items())
	}
}
