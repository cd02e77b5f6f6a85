package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// payload is a distinct request body for entry i.
func payload(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 10+i) }

func openPersistent(t *testing.T, dir string) (*Queue, int) {
	t.Helper()
	q, items, err := NewPersistent(1<<20, dir)
	if err != nil {
		t.Fatal(err)
	}
	return q, items
}

func pushN(t *testing.T, q *Queue, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := Entry{Sig: otlpwire.Signal(i % int(otlpwire.NumSignals)), Req: payload(i), Items: i + 1}
		if !q.Reserve(int64(len(e.Req))) || !q.Push(e) {
			t.Fatalf("push %d refused (err %v)", i, q.Err())
		}
	}
}

// takeAll hands out every queued entry, one per batch, in queue order.
func takeAll(q *Queue) []Entry {
	var out []Entry
	for q.Len() > 0 {
		b, ok := q.Next(context.Background(), nil, 1, 1, 0)
		if !ok {
			break
		}
		out = append(out, b...)
	}
	return out
}

func instances(t *testing.T, dir string) []string {
	t.Helper()
	ds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Name())
	}
	return out
}

// TestPersistentQueueSurvivesACrash: entries pushed and not marked
// delivered come back, with their signal, items and bytes, when a queue
// opens the directory after a crash; delivered ones do not.
func TestPersistentQueueSurvivesACrash(t *testing.T) {
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	pushN(t, q, 0, 10)
	batch := takeAll(q)
	q.Done(batch[:4])  // delivered
	q.Keep(batch[4:6]) // in flight when the process died
	q.j.abandon()      // the crash: no close, no sync, no clean-up

	q2, items := openPersistent(t, dir)
	got := takeAll(q2)
	if len(got) != 6 {
		t.Fatalf("recovered %d entries, want the 6 not delivered", len(got))
	}
	wantItems := 0
	for _, e := range got {
		wantItems += e.Items
	}
	if items != wantItems {
		t.Errorf("NewPersistent reports %d items, the entries hold %d", items, wantItems)
	}
	seen := map[int]bool{}
	for _, e := range got {
		i := int(e.Req[0])
		if !bytes.Equal(e.Req, payload(i)) || e.Items != i+1 || e.Sig != otlpwire.Signal(i%int(otlpwire.NumSignals)) || i < 4 {
			t.Errorf("recovered entry %d: %d bytes, %d items, %s", i, len(e.Req), e.Items, e.Sig)
		}
		seen[i] = true
	}
	if len(seen) != 6 {
		t.Errorf("recovered entries %v, want 4..9 once each", seen)
	}
	if d := instances(t, dir); len(d) != 2 {
		t.Errorf("instance directories after recovery: %v, want the earlier one kept until delivered, and the new one", d)
	}
	// The recovered entries are replayed from where they lie: delivering
	// them removes the earlier instance, and closing leaves nothing.
	q2.Done(got)
	if d := instances(t, dir); len(d) != 1 {
		t.Errorf("instance directories after delivering the recovered entries: %v, want only the new one", d)
	}
	if err := q2.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	if d := instances(t, dir); len(d) != 0 {
		t.Errorf("instance directories after delivering everything: %v, want none", d)
	}
	q3, items := openPersistent(t, dir)
	if items != 0 || q3.Len() != 0 {
		t.Errorf("a third queue recovered %d items", items)
	}
	q3.CloseJournal()
}

// A stop with entries undelivered keeps them for the next run.
func TestPersistentQueueKeepsWhatAStopLeft(t *testing.T) {
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	pushN(t, q, 0, 3)
	q.Close()
	q.Keep(takeAll(q))
	if err := q.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	q2, items := openPersistent(t, dir)
	defer q2.CloseJournal()
	if items != 1+2+3 || q2.Len() != 3 {
		t.Errorf("recovered %d items in %d entries, want 6 in 3", items, q2.Len())
	}
}

// Segments roll over, and one whose entries are all delivered is deleted.
func TestPersistentQueueDeletesDeliveredSegments(t *testing.T) {
	old := segmentSize
	segmentSize = 64
	defer func() { segmentSize = old }()
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	defer q.CloseJournal()
	pushN(t, q, 0, 20)
	wals := func() int {
		m, _ := filepath.Glob(filepath.Join(q.j.dir, "*.wal"))
		return len(m)
	}
	if n := wals(); n < 4 {
		t.Fatalf("%d segments for 20 entries of 64-byte segments, want several", n)
	}
	q.Done(takeAll(q))
	if n := wals(); n != 1 {
		t.Errorf("%d segments after delivering everything, want only the active one", n)
	}
}

// Two queues on one directory at once (a reload's old exporter draining
// beside its successor) do not take each other's entries.
func TestPersistentQueueInUseIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	q1, _ := openPersistent(t, dir)
	pushN(t, q1, 0, 4)
	q2, items := openPersistent(t, dir)
	if items != 0 {
		t.Errorf("the second queue took %d items from the live first", items)
	}
	q1.Done(takeAll(q1))
	q1.CloseJournal()
	q2.CloseJournal()
	if d := instances(t, dir); len(d) != 0 {
		t.Errorf("left behind: %v", d)
	}
}

// Concurrent pushes share fsyncs, and every one of them is on disk when
// Push returns, across many segment roll-overs.
func TestPersistentQueueConcurrentPushes(t *testing.T) {
	old := segmentSize
	segmentSize = 256
	defer func() { segmentSize = old }()
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				e := Entry{Sig: otlpwire.Traces, Req: payload((w*50 + i) % 200), Items: 1}
				if !q.Reserve(int64(len(e.Req))) || !q.Push(e) {
					t.Errorf("push refused: %v", q.Err())
					return
				}
			}
		}()
	}
	wg.Wait()
	q.j.abandon()
	q2, items := openPersistent(t, dir)
	defer q2.CloseJournal()
	if items != 400 {
		t.Errorf("recovered %d items after 400 acknowledged pushes", items)
	}
}

// BenchmarkPersistentPush: concurrent 55 KB pushes (a 100-span request)
// into a persistent queue in the test's temporary directory, each durable
// when Push returns, delivered as they come.
func BenchmarkPersistentPush(b *testing.B) {
	q, _, err := NewPersistent(1<<30, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer q.CloseJournal()
	req := make([]byte, 55<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			batch, ok := q.Next(context.Background(), nil, 1000, 1<<30, 0)
			if !ok {
				return
			}
			q.Done(batch)
		}
	}()
	b.SetBytes(int64(len(req)))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !q.Reserve(int64(len(req))) || !q.Push(Entry{Sig: otlpwire.Traces, Req: req, Items: 100}) {
				b.Errorf("push refused: %v", q.Err())
				return
			}
		}
	})
	q.Close()
	<-done
}
