package queue

import (
	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"

	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// idEntry is entry id of a backlog test: size bytes, the id in front.
func idEntry(id, size int) Entry {
	b := bytes.Repeat([]byte{byte(id)}, size)
	binary.LittleEndian.PutUint64(b, uint64(id))
	return Entry{Sig: otlpwire.Signal(id % int(otlpwire.NumSignals)), Req: b, Items: 1}
}

func idOf(e Entry) int { return int(binary.LittleEndian.Uint64(e.Req)) }

// fillBacklog leaves n entries of size bytes undelivered in dir, as a
// crash would, in several segments.
func fillBacklog(t *testing.T, dir string, n, size int) {
	t.Helper()
	q, _, err := NewPersistent(int64(n*size)+1<<20, dir)
	if err != nil {
		t.Fatal(err)
	}
	per := max(1, min(256, int(segmentSize)/size/2)) // several segments
	for i := 0; i < n; i += per {
		batch := make([]Entry, 0, per)
		for k := i; k < min(i+per, n); k++ {
			batch = append(batch, idEntry(k, size))
		}
		if !q.Reserve(bytesOf(batch)) || !q.Push(batch...) {
			t.Fatal("push refused")
		}
	}
	q.r.close()
	q.j.abandon()
}

func smallSegments(t *testing.T, size int64) {
	old := segmentSize
	segmentSize = size
	t.Cleanup(func() { segmentSize = old })
}

// TestReplayStreamsALargeBacklogWithinCapacity: a backlog 16 times the
// replay window comes back from disk within the queue's capacity (the
// queue's bytes never pass it, the replayed ones never the window), every
// entry delivered once, while new data is accepted beside it; then the
// earlier instance is gone and the backlog gauge reads 0.
func TestReplayStreamsALargeBacklogWithinCapacity(t *testing.T) {
	smallSegments(t, 256<<10)
	dir := t.TempDir()
	const n, size = 8192, 4096 // 32 MiB
	fillBacklog(t, dir, n, size)
	const capacity = 4 << 20 // window 2 MiB
	p := newProbe()
	q, _, err := NewPersistentWith(capacity, dir, p.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer q.CloseJournal()
	if q.BacklogBytes() <= 0 || p.backlog.get() <= 0 {
		t.Fatalf("backlog %d (gauge %v) after opening on 32 MiB", q.BacklogBytes(), p.backlog.get())
	}
	// New data is accepted while the backlog waits.
	newID := 1 << 20
	if e := idEntry(newID, size); !q.Reserve(int64(size)) || !q.Push(e) {
		t.Fatal("new data refused during the replay")
	}
	newID++

	var over, overWindow atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if u := q.UsedBytes(); u > capacity {
				over.Store(u)
			}
			q.r.mu.Lock()
			if q.r.inMem > q.r.window {
				overWindow.Store(q.r.inMem)
			}
			q.r.mu.Unlock()
			runtime.Gosched()
		}
	}()
	var mu sync.Mutex
	seen := map[int]int{}
	var delivered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				b, ok := q.Next(ctx, nil, 64, 256<<10, 0)
				if !ok {
					return
				}
				mu.Lock()
				for _, e := range b {
					seen[idOf(e)]++
				}
				mu.Unlock()
				delivered.Add(int64(len(b)))
				q.Done(b)
			}
		}()
	}
	newAccepted := 1
	for q.BacklogBytes() > 0 {
		if e := idEntry(newID, size); q.Reserve(int64(size)) {
			if !q.Push(e) {
				t.Fatal("push refused after its reservation")
			}
			newID++
			newAccepted++
		}
		runtime.Gosched()
	}
	want := int64(n + newAccepted)
	testwait.Until(t, func() string { return fmt.Sprintf("%d of %d delivered", delivered.Load(), want) },
		func() bool { return delivered.Load() == want })
	cancel()
	workers.Wait()
	close(stop)
	sampler.Wait()
	if u := over.Load(); u > 0 {
		t.Errorf("the queue held %d bytes, over its capacity %d", u, capacity)
	}
	if u := overWindow.Load(); u > 0 {
		t.Errorf("the replay held %d bytes, over its window %d", u, q.r.window)
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("backlog entry %d delivered %d times", i, seen[i])
		}
	}
	if len(seen) != int(want) {
		t.Errorf("%d distinct entries delivered, want %d", len(seen), want)
	}
	if newAccepted < 2 {
		t.Errorf("only %d new entries accepted during the replay", newAccepted)
	}
	if d := instances(t, dir); len(d) != 1 {
		t.Errorf("instances %v after the replay, want only the new one", d)
	}
	if g := p.backlog.get(); g != 0 {
		t.Errorf("backlog gauge %v after the replay, want 0", g)
	}
	if u := q.UsedBytes(); u != 0 {
		t.Errorf("%d bytes still counted used with everything delivered", u)
	}
}

// TestReplayCrashMidwaySendsOnlyUndelivered: a crash in the middle of a
// replay (nothing closed cleanly, a batch in flight) sends at the next
// start every entry not delivered, and again at most what was in flight.
func TestReplayCrashMidwaySendsOnlyUndelivered(t *testing.T) {
	smallSegments(t, 64<<10)
	dir := t.TempDir()
	const n, size = 2048, 2048 // 4 MiB
	fillBacklog(t, dir, n, size)
	q, _, err := NewPersistent(512<<10, dir) // window 256 KiB
	if err != nil {
		t.Fatal(err)
	}
	done := map[int]bool{}
	for len(done) < n/2 {
		b, ok := q.Next(context.Background(), nil, 16, 64<<10, 0)
		if !ok {
			t.Fatal("queue closed")
		}
		for _, e := range b {
			done[idOf(e)] = true
		}
		q.Done(b)
	}
	inflight, _ := q.Next(context.Background(), nil, 16, 64<<10, 0)
	q.r.close() // the crash: no more marks, locks gone
	q.j.abandon()

	q2, _, err := NewPersistent(64<<20, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.CloseJournal()
	again := map[int]int{}
	for len(again) < n-len(done) || q2.Len() > 0 {
		b, ok := q2.Next(context.Background(), nil, 64, 1<<20, 0)
		if !ok {
			break
		}
		for _, e := range b {
			again[idOf(e)]++
		}
		q2.Done(b)
	}
	dup := 0
	for i := range n {
		switch {
		case again[i] > 1:
			t.Errorf("entry %d sent %d times after the restart", i, again[i])
		case again[i] == 1 && done[i]:
			dup++
		case again[i] == 0 && !done[i]:
			t.Errorf("entry %d lost", i)
		}
	}
	if dup > len(inflight) {
		t.Errorf("%d delivered entries sent again, more than the %d in flight", dup, len(inflight))
	}
	if q2.BacklogBytes() != 0 {
		t.Errorf("backlog %d after taking everything", q2.BacklogBytes())
	}
}

// A segment in the middle of an earlier instance that cannot be read
// (EACCES, injected: tests run as root) and one that disappears while
// the replay runs: every record of the other segments comes back, the
// unreadable one is logged and left on disk, and a later start takes it.
func TestReplaySkipsSegmentsItCannotRead(t *testing.T) {
	smallSegments(t, 32<<10)
	dir := t.TempDir()
	const n, size = 256, 1024
	fillBacklog(t, dir, n, size)
	olds := instances(t, dir)
	if len(olds) != 1 {
		t.Fatalf("instances %v", olds)
	}
	inst := filepath.Join(dir, olds[0])
	wals, _ := filepath.Glob(filepath.Join(inst, "*.wal"))
	if len(wals) < 4 {
		t.Fatalf("%d segments, the test needs 4 or more", len(wals))
	}
	denied, gone := wals[1], wals[len(wals)-1]
	inSeg := func(name string) map[int]bool {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[int]bool{}
		scanSegment(b, func(r record) { ids[int(binary.LittleEndian.Uint64(r.payload))] = true })
		return ids
	}
	deniedIDs, goneIDs := inSeg(denied), inSeg(gone)
	fs := faultfs.New()
	fs.FailOpens(func(name string) error {
		if name == denied {
			return syscall.EACCES
		}
		return nil
	})
	p := newProbe()
	q, _, err := NewPersistentWith(64<<10, dir, p.options(fs)) // window 32 KiB: the last segment is read later
	if err != nil {
		t.Fatalf("refused to start: %v", err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	got := map[int]int{}
	for len(got) < n-len(deniedIDs)-len(goneIDs) || q.BacklogBytes() > 0 || q.Len() > 0 {
		b, ok := q.Next(context.Background(), nil, 16, 64<<10, 0)
		if !ok {
			break
		}
		for _, e := range b {
			got[idOf(e)]++
		}
		q.Done(b)
	}
	q.CloseJournal()
	for i := range n {
		want := 1
		if deniedIDs[i] || goneIDs[i] {
			want = 0
		}
		if got[i] != want {
			t.Errorf("entry %d came back %d times, want %d", i, got[i], want)
		}
	}
	if k := p.logCount("cannot read a journal segment"); k != 2 {
		t.Errorf("%d log lines about unreadable segments, want 2:\n%s", k, p.logs.String())
	}
	if _, err := os.Stat(denied); err != nil {
		t.Fatalf("the unreadable segment is gone: %v", err)
	}
	// Readable again: the next start takes it back.
	q2, _ := openPersistent(t, dir)
	defer q2.CloseJournal()
	back := map[int]bool{}
	for _, e := range takeAll(q2) {
		back[idOf(e)] = true
	}
	if len(back) != len(deniedIDs) {
		t.Errorf("the next start took back %d entries, want the unreadable segment's %d", len(back), len(deniedIDs))
	}
	for i := range deniedIDs {
		if !back[i] {
			t.Errorf("entry %d of the unreadable segment not taken back", i)
		}
	}
}

// FuzzRecoverInstance: whatever an earlier instance's first segment and
// its marks hold, opening the queue neither fails nor panics, the intact
// records of the segment after it all come back once, and every entry is
// well-formed; delivering them all removes the instance.
func FuzzRecoverInstance(f *testing.F) {
	var good []byte
	good = append(good, segHeader...)
	for i := range 3 {
		good = appendRecord(good, uint32(i), otlpwire.Logs, 1, idEntry(1000+i, 64).Req)
	}
	f.Add(good, []byte{})
	f.Add(good[:len(good)-5], appendMark(nil, 1))
	f.Add([]byte{}, make([]byte, 16))
	f.Add(append(bytes.Clone(good[:40]), good...), appendMark(appendMark(nil, 0), 7))
	f.Fuzz(func(t *testing.T, wal, ack []byte) {
		dir := t.TempDir()
		inst := filepath.Join(dir, "old")
		if err := os.Mkdir(inst, 0o750); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(inst, "00000000.wal"), wal, 0o600)
		os.WriteFile(filepath.Join(inst, "00000000.ack"), ack, 0o600)
		os.WriteFile(filepath.Join(inst, "00000001.wal"), good, 0o600)
		q, _, err := NewPersistent(1<<20, dir)
		if err != nil {
			t.Fatalf("refused to open: %v", err)
		}
		got := takeAll(q)
		seen := map[int]int{}
		for _, e := range got {
			if e.Sig >= otlpwire.NumSignals || e.Items < 0 {
				t.Fatalf("malformed entry: signal %d, %d items", e.Sig, e.Items)
			}
			if len(e.Req) == 64 && bytes.Equal(e.Req, idEntry(idOf(e), 64).Req) {
				seen[idOf(e)]++
			}
		}
		for i := range 3 {
			if seen[1000+i] < 1 {
				t.Fatalf("intact record %d of the next segment not recovered", i)
			}
		}
		q.Done(got)
		if err := q.CloseJournal(); err != nil {
			t.Fatal(err)
		}
		if d := instances(t, dir); len(d) != 0 {
			t.Fatalf("instances %v left after delivering everything", d)
		}
	})
}
