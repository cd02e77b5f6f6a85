package queue

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

func openFaulty(t *testing.T, dir string, fs *faultfs.Faulty) (*Queue, *probe) {
	t.Helper()
	p := newProbe()
	q, _, err := NewPersistentWith(1<<20, dir, p.options(fs))
	if err != nil {
		t.Fatal(err)
	}
	return q, p
}

func tryPush(q *Queue, i int) bool {
	e := Entry{Sig: otlpwire.Traces, Req: big(i), Items: 1}
	if !q.Reserve(200) {
		return false
	}
	return q.Push(e)
}

func wals(t *testing.T, q *Queue) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(q.j.dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestFullDiskIsNotAPermanentOutage: on a full disk the journal refuses
// new entries (never acknowledging one it could not write), keeps
// delivering what it holds, frees every delivered segment although no
// mark can be written, and takes new entries again by itself once space
// returns. Before the fix the first error stuck (every later Push was
// refused until a restart), and the records of a refused write were
// counted as waiting, so their segment was never deleted.
func TestFullDiskIsNotAPermanentOutage(t *testing.T) {
	old := segmentSize
	segmentSize = 1024
	defer func() { segmentSize = old }()
	fs := faultfs.New()
	fs.SetQuota(6000)
	q, p := openFaulty(t, t.TempDir(), fs)
	defer q.CloseJournal()
	accepted := 0
	for i := 0; ; i++ {
		if !tryPush(q, i) {
			break
		}
		accepted++
		if i > 1000 {
			t.Fatal("the quota never filled")
		}
	}
	if q.StorageError() == nil || !errors.Is(q.StorageError(), syscall.ENOSPC) {
		t.Fatalf("StorageError %v after a refused push on a full disk, want ENOSPC", q.StorageError())
	}
	if p.healthy.get() != 0 || p.writeErrors("write")+p.writeErrors("create") == 0 {
		t.Errorf("healthy gauge %v, write errors %v/%v", p.healthy.get(), p.writeErrors("write"), p.writeErrors("create"))
	}
	// More refusals in the same burst: one log line for all of them.
	for i := range 20 {
		if tryPush(q, 1000+i) {
			t.Fatal("a push succeeded on a full disk")
		}
	}
	if k := p.logCount("cannot write the journal"); k != 1 {
		t.Errorf("%d log lines for one burst of storage errors, want 1", k)
	}
	if q.Items() != int64(accepted) {
		t.Errorf("%d items queued, want the %d accepted", q.Items(), accepted)
	}
	// The upstream is back: everything stored is delivered, while the
	// disk is still full (nothing else freed space).
	q.Done(takeAll(q))
	if n := wals(t, q); n > 1 {
		t.Errorf("%d segments left after delivering everything on a full disk, want at most the active one", n)
	}
	// Space came back with the deleted segments: pushes are accepted
	// again, without a restart.
	if !tryPush(q, 2000) {
		t.Fatalf("push refused after the disk emptied: %v", q.StorageError())
	}
	if q.StorageError() != nil || p.healthy.get() != 1 {
		t.Errorf("after recovery: StorageError %v, healthy %v", q.StorageError(), p.healthy.get())
	}
	if k := p.logCount("the journal is writable again"); k != 1 {
		t.Errorf("%d recovery log lines, want 1", k)
	}
	// The refused writes left nothing waiting in the segment they failed
	// in: once it rolls over and its entries are delivered, it goes.
	for i := range 10 {
		if !tryPush(q, 3000+i) {
			t.Fatalf("push refused: %v", q.StorageError())
		}
	}
	q.Done(takeAll(q))
	if n := wals(t, q); n > 1 {
		t.Errorf("%d segments left after delivering everything, want at most the active one: refused writes pin a segment", n)
	}
}

// After a full disk and a crash, the next start takes back exactly what
// was acknowledged and not delivered: none of it is lost, and nothing a
// refused (torn) write left on disk comes back.
func TestFullDiskThenCrashLosesNothingAcknowledged(t *testing.T) {
	old := segmentSize
	segmentSize = 1024
	defer func() { segmentSize = old }()
	dir := t.TempDir()
	fs := faultfs.New()
	fs.SetQuota(5000)
	q, _ := openFaulty(t, dir, fs)
	var acked []int
	for i := 0; i < 200; i++ {
		if tryPush(q, i) {
			acked = append(acked, i)
		}
		if i == 100 {
			fs.SetQuota(-1) // space back for a while, then full again
			fs.FillUp()
			fs.SetQuota(fs.Used() + 3000)
		}
	}
	if len(acked) == 0 || len(acked) == 200 {
		t.Fatalf("%d of 200 pushes accepted; the test needs some refused", len(acked))
	}
	b := takeAll(q)
	q.Done(b[:len(b)/2])
	q.Keep(b[len(b)/2:])
	want := acked[len(acked)/2:]
	q.j.abandon()

	q2, _ := openPersistent(t, dir)
	defer q2.CloseJournal()
	var got []int
	for _, e := range takeAll(q2) {
		got = append(got, int(e.Req[0]))
	}
	wantB := make([]int, len(want))
	for i, v := range want {
		wantB[i] = int(byte(v))
	}
	if !equalInts(got, wantB) {
		t.Errorf("recovered %v,\nwant the acknowledged, undelivered %v", got, wantB)
	}
}

// An fsync that fails refuses the entries it covered; the next push
// starts a new segment and succeeds; the refused entry is not sent again
// after a restart (it was given up and marked), and its segment is freed
// once the rest of it is delivered.
func TestFailedSyncRefusesAndHeals(t *testing.T) {
	dir := t.TempDir()
	fs := faultfs.New()
	q, p := openFaulty(t, dir, fs)
	if !tryPush(q, 0) {
		t.Fatal("push refused")
	}
	fs.FailSyncs(syscall.EIO, 3)
	for i := 1; i <= 3; i++ {
		if tryPush(q, i) {
			t.Fatalf("push %d acknowledged although its fsync failed", i)
		}
	}
	if !errors.Is(q.StorageError(), syscall.EIO) || p.writeErrors("sync") != 3 || p.healthy.get() != 0 {
		t.Errorf("StorageError %v, sync errors %v, healthy %v", q.StorageError(), p.writeErrors("sync"), p.healthy.get())
	}
	if !tryPush(q, 4) {
		t.Fatalf("push refused after the fault ended: %v", q.StorageError())
	}
	if q.StorageError() != nil || p.healthy.get() != 1 {
		t.Errorf("not healed: %v", q.StorageError())
	}
	if a, b := p.logCount("cannot write the journal"), p.logCount("writable again"); a != 1 || b != 1 {
		t.Errorf("%d failure and %d recovery log lines for one burst, want 1 and 1", a, b)
	}
	got := takeAll(q)
	if len(got) != 2 || got[0].Req[0] != 0 || got[1].Req[0] != 4 {
		t.Fatalf("queued %d entries, want 0 and 4", len(got))
	}
	q.Done(got[:1])
	// Entry 0's segment was sealed by the failed sync; delivering 0
	// leaves nothing in it.
	if n := wals(t, q); n != 1 {
		t.Errorf("%d segments, want only the active one", n)
	}
	q.Keep(got[1:])
	q.j.abandon()
	q2, _ := openPersistent(t, dir)
	defer q2.CloseJournal()
	back := takeAll(q2)
	if len(back) != 1 || back[0].Req[0] != 4 {
		t.Errorf("recovered %d entries, want only 4 (the refused 1..3 not again)", len(back))
	}
}

// Concurrent pushes while writes and fsyncs fail now and then: every
// push acknowledged comes back after a crash, and the journal ends
// healthy.
func TestConcurrentPushesUnderStorageFaults(t *testing.T) {
	old := segmentSize
	segmentSize = 2048
	defer func() { segmentSize = old }()
	dir := t.TempDir()
	fs := faultfs.New()
	q, _ := openFaulty(t, dir, fs)
	var mu sync.Mutex
	ok := map[int]bool{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				id := w*60 + i
				switch id % 17 {
				case 5:
					fs.FailSyncs(syscall.EIO, 1)
				case 11:
					fs.FailWrites(syscall.ENOSPC, 1)
				}
				if tryPush(q, id%256) {
					mu.Lock()
					ok[id%256] = true // ids below 256 are distinct
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if !tryPush(q, 250) {
		t.Fatalf("not healthy after the faults: %v", q.StorageError())
	}
	ok[250] = true
	q.j.abandon()
	q2, _ := openPersistent(t, dir)
	defer q2.CloseJournal()
	back := map[int]bool{}
	for _, e := range takeAll(q2) {
		back[int(e.Req[0])] = true
	}
	for id := range ok {
		if !back[id] {
			t.Errorf("acknowledged entry %d lost", id)
		}
	}
}

// A full disk at start does not stop the queue: what earlier runs left
// is recovered into memory and delivered, and the earlier instance goes
// once it is.
func TestFullDiskAtStart(t *testing.T) {
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	pushN(t, q, 0, 5)
	q.j.abandon()
	fs := faultfs.New()
	fs.SetQuota(0)
	q2, p := openFaulty(t, dir, fs)
	defer q2.CloseJournal()
	if q2.StorageError() == nil || p.healthy.get() != 0 {
		t.Errorf("StorageError %v on a full disk", q2.StorageError())
	}
	got := takeAll(q2)
	if len(got) != 5 {
		t.Fatalf("recovered %d entries, want 5", len(got))
	}
	if d := instances(t, dir); len(d) != 2 {
		t.Errorf("instances %v, want the earlier one kept beside the new one", d)
	}
	q2.Done(got)
	if d := instances(t, dir); len(d) != 1 {
		t.Errorf("instances %v after delivering, want only the new one", d)
	}
}

// An earlier instance this process cannot open (another user's, a lock
// that is not a file) is left alone, said so, and does not stop the start.
func TestUnopenableInstanceIsLeftForLater(t *testing.T) {
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	pushN(t, q, 0, 3)
	inst := q.j.dir
	q.j.abandon()
	// Root opens everything whatever its mode: a directory where the lock
	// file should be fails for every user.
	lock := filepath.Join(inst, "lock")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lock, 0o500); err != nil {
		t.Fatal(err)
	}
	p := newProbe()
	q2, items, err := NewPersistentWith(1<<20, dir, p.options(nil))
	if err != nil {
		t.Fatalf("refused to start: %v", err)
	}
	defer q2.CloseJournal()
	if items != 0 || p.logCount("cannot open an earlier instance") != 1 {
		t.Errorf("recovered %d items; log:\n%s", items, p.logs.String())
	}
	if _, err := os.Stat(filepath.Join(inst, "00000000.wal")); err != nil {
		t.Errorf("the instance's segment is gone: %v", err)
	}
}

// An fsync that fails also fails the appends written while it ran, which
// wait for the next one: after a failed fsync, Linux may report the next
// one successful for pages it has dropped.
func TestFailedSyncFailsWhatItsSegmentHeld(t *testing.T) {
	fs := faultfs.New()
	q, _ := openFaulty(t, t.TempDir(), fs)
	defer q.CloseJournal()
	started, release := fs.HoldSyncs()
	a, b := make(chan bool), make(chan bool)
	go func() { a <- tryPush(q, 1) }()
	<-started // A leads a sync, which hangs
	go func() { b <- tryPush(q, 2) }()
	for { // B has written, and waits on A's sync
		q.j.mu.Lock()
		n := q.j.active.records
		q.j.mu.Unlock()
		if n == 2 {
			break
		}
		runtime.Gosched()
	}
	fs.FailSyncs(syscall.EIO, 1)
	release()
	if <-a {
		t.Error("A acknowledged although its fsync failed")
	}
	if <-b {
		t.Error("B acknowledged: it was written to the segment whose fsync failed")
	}
	if !tryPush(q, 3) {
		t.Errorf("not healed: %v", q.StorageError())
	}
}

// A disk that fills before the active segment reaches segmentSize: the
// segment the write failed in must still go once what it holds is
// delivered, or its delivered records keep the disk full for good (the
// gateway then refused every request until a restart); and the journal
// finds by itself, with no new push, that it can write again.
func TestFullDiskWithinOneSegmentHealsOnceDelivered(t *testing.T) {
	fs := faultfs.New()
	fs.SetQuota(6000) // far below segmentSize: everything lands in one segment
	q, p := openFaulty(t, t.TempDir(), fs)
	defer q.CloseJournal()
	accepted := 0
	for i := 0; tryPush(q, i); i++ {
		accepted++
		if i > 1000 {
			t.Fatal("the quota never filled")
		}
	}
	if accepted == 0 || q.StorageError() == nil {
		t.Fatalf("accepted %d, StorageError %v: the test needs a full disk after some pushes", accepted, q.StorageError())
	}
	q.Done(takeAll(q))
	// Healthy again before any new push: nothing else would tell a load
	// balancer that this replica takes data again.
	if q.StorageError() != nil || p.healthy.get() != 1 {
		t.Errorf("after delivery, before any push: StorageError %v, healthy %v", q.StorageError(), p.healthy.get())
	}
	if !tryPush(q, 2000) {
		t.Fatalf("push refused after everything stored was delivered: %v", q.StorageError())
	}
	if q.StorageError() != nil || p.healthy.get() != 1 {
		t.Errorf("after delivery: StorageError %v, healthy %v", q.StorageError(), p.healthy.get())
	}
}
