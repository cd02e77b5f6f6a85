package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A journal makes a queue crash-safe (queue.persistent.directory): Push
// writes each entry to disk, and returns only once it is on stable storage
// (fsync), before the receiver acknowledges the request; Done marks
// entries delivered; a queue opened on the same directory after a crash
// or a stop takes back every entry not marked, in order, streamed from
// where it lies (see replayer).
//
// Layout: DIR/INSTANCE/ per queue instance (a reload's new exporter and
// the old one draining beside it each have their own), holding a lock
// file, segment files NNNNNNNN.wal and their delivery marks NNNNNNNN.ack
// (formats in segment.go; marks are written without fsync: a mark lost in
// a crash only means that entry is sent again). Segments roll over at
// segmentSize. Delivery is at least once: an entry delivered just before
// a crash, whose mark did not reach the disk, is sent again.
//
// Storage faults. A write or fsync that fails refuses the entries it
// carried (Push reports false: nothing is acknowledged that is not
// durable) and makes the journal unhealthy (StorageError) until an append
// is written and synced again; every append tries, so the journal heals
// by itself when space returns. A segment is deleted as soon as the
// records counted in memory are all delivered or given up: deletion never
// waits on a mark being written, so a full disk cannot pin delivered
// segments, and refused entries are never counted as waiting. After a
// failed fsync a segment is sealed (what the kernel kept of it is
// unknowable) and the next append starts a new one.
type journal struct {
	dir  string // this instance's directory
	lock *os.File
	fs   fileSystem
	log  *slog.Logger
	m    JournalMetrics

	mu      sync.Mutex
	cond    *sync.Cond // signals the end of a sync
	active  *segment   // nil after a failed roll: the next append retries
	segs    map[uint32]*segment
	nextSeg uint32
	written uint64 // bytes written to segments, ever
	synced  uint64 // of which durable, or known failed (see bad)
	bad     []span // byte ranges whose fsync failed, newest last
	syncing bool
	err     error  // the storage error of the current burst; nil when healthy
	errs    int    // failures in the current burst
	fails   uint64 // failures ever: heals only an append written after the last
	markErr bool   // writing marks is failing (logged once per burst)
	// storageErr is err, readable without j.mu (which a write or fsync
	// holds): readiness must not wait on a slow disk.
	storageErr atomic.Pointer[error]
	buf        []byte
}

// span is a byte range (lo, hi] of the journal's appends.
type span struct{ lo, hi uint64 }

// maxBad bounds the failed-sync ranges kept: an append whose sync failed
// reads them as soon as it holds the lock again, long before 64 more
// fsyncs can fail.
const maxBad = 64

type segment struct {
	id      uint32
	f       journalFile // nil once closed (not active)
	ack     journalFile // nil when marks cannot be written to it any more
	size    int64
	ackSize int64
	records uint32 // records counted: written and not refused
	acked   uint32 // of which delivered or given up
	sealed  bool   // takes no more records
}

// segmentSize is where a segment rolls over.
var segmentSize int64 = 16 << 20 // a variable for tests

// JournalMetrics are the persistent queue's counters and gauge (the
// gateway passes its otlpgw_queue_journal_* metrics, labelled with the
// exporter); a nil field counts nothing.
type JournalMetrics struct {
	// CorruptRecords counts records recovery could not read (damaged or
	// cut short) and skipped; SkippedBytes the bytes that held them.
	CorruptRecords, SkippedBytes Adder
	// WriteErrors is the counter of failed file operations for op:
	// "write", "sync", "create" (a new segment), "mark" (a delivery mark).
	WriteErrors func(op string) Adder
	// Healthy is 1 while appends are written and synced, 0 while they fail.
	Healthy Setter
	// Backlog is the bytes earlier instances hold on disk that are not
	// yet in the queue (see replayer): the segments not yet read, then
	// the unmarked records of the one being handed over.
	Backlog Setter
}

// Adder is a counter (a prometheus.Counter is one).
type Adder interface{ Add(float64) }

// Setter is a gauge (a prometheus.Gauge is one).
type Setter interface{ Set(float64) }

func (m JournalMetrics) add(a Adder, n int) {
	if a != nil && n > 0 {
		a.Add(float64(n))
	}
}

func (m JournalMetrics) writeError(op string) {
	if m.WriteErrors != nil {
		if a := m.WriteErrors(op); a != nil {
			a.Add(1)
		}
	}
}

func (m JournalMetrics) healthy(ok bool) {
	if m.Healthy != nil {
		v := 0.0
		if ok {
			v = 1
		}
		m.Healthy.Set(v)
	}
}

// Options are what the gateway injects into a persistent queue.
type Options struct {
	Logger  *slog.Logger // default: discard
	Metrics JournalMetrics
	// FS is where the journal writes; nil is the real file system. Tests
	// inject storage faults through it (faultfs.Faulty).
	FS fileSystem
}

// openJournal takes a new instance directory under dir. What earlier
// instances there left undelivered is replayed from where it lies (see
// replayer). Only a directory that cannot be created or locked fails it:
// a journal that cannot write now (a full disk) still opens, unhealthy.
func openJournal(dir string, o Options) (*journal, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("persistent queue: %w", err)
	}
	inst := filepath.Join(dir, strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(inst, 0o750); err != nil {
		return nil, fmt.Errorf("persistent queue: %w", err)
	}
	lock, err := lockDir(inst)
	if err != nil {
		return nil, err
	}
	j := &journal{dir: inst, lock: lock, fs: o.FS, log: o.Logger, m: o.Metrics, segs: map[uint32]*segment{}}
	j.cond = sync.NewCond(&j.mu)
	j.m.healthy(true)
	j.mu.Lock()
	_ = j.roll() // a failure makes the journal unhealthy; appends retry
	j.mu.Unlock()
	return j, nil
}

// lockDir takes the instance's lock, or fails when another instance,
// in this process or another, holds it.
func lockDir(inst string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(inst, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("persistent queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("persistent queue: %s is in use: %w", inst, err)
	}
	return f, nil
}

// roll starts a new active segment; the old one stays open for its marks
// until it is deleted. Called with j.mu held.
func (j *journal) roll() error {
	if a := j.active; a != nil {
		for j.syncing {
			j.cond.Wait()
		}
		if j.active != a {
			return nil // another append rolled while this one waited
		}
		// Every append syncs its own records; this is for the appends
		// still waiting on a sync.
		j.syncLocked(a)
		a.f.Close()
		a.f = nil
		a.sealed = true
		j.active = nil
		j.collect(a)
	}
	base := filepath.Join(j.dir, fmt.Sprintf("%08d", j.nextSeg))
	f, err := j.fs.OpenFile(base+".wal", os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return j.failed("create", err)
	}
	if _, err := f.Write([]byte(segHeader)); err != nil {
		f.Close()
		_ = j.fs.Remove(base + ".wal")
		return j.failed("create", err)
	}
	ack, err := j.fs.OpenFile(base+".ack", os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		f.Close()
		_ = j.fs.Remove(base + ".wal")
		return j.failed("create", err)
	}
	// The new files' names must survive a crash too.
	if d, err := os.Open(j.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	s := &segment{id: j.nextSeg, f: f, ack: ack, size: int64(len(segHeader))}
	j.segs[s.id] = s
	j.active = s
	j.nextSeg++
	return nil
}

// syncLocked syncs the active segment a for everything written so far,
// holding j.mu (roll and close; appends sync without it).
func (j *journal) syncLocked(a *segment) {
	if j.synced >= j.written {
		return
	}
	lo, hi := j.synced, j.written
	if err := a.f.Sync(); err != nil {
		j.syncFailed(a, lo, hi, err)
	}
	j.synced = hi
}

// syncFailed seals the segment and fails the appends in (lo, hi], which
// must reach j.written: the segment takes nothing more.
func (j *journal) syncFailed(a *segment, lo, hi uint64, err error) {
	a.sealed = true
	j.bad = append(j.bad, span{lo, hi})
	if len(j.bad) > maxBad {
		j.bad = j.bad[len(j.bad)-maxBad:]
	}
	j.failed("sync", err)
}

// failed records a storage error: counted always, logged once per burst.
func (j *journal) failed(op string, err error) error {
	j.m.writeError(op)
	j.errs++
	j.fails++
	if j.err == nil {
		j.log.Warn("persistent queue: cannot write the journal; refusing new data until it can (what is stored is still delivered)", "op", op, "error", err)
		j.m.healthy(false)
	}
	j.err = fmt.Errorf("persistent queue: %s: %w", op, err)
	e := j.err
	j.storageErr.Store(&e)
	return j.err
}

// healed ends a burst of storage errors: an append was written and synced.
func (j *journal) healed() {
	if j.err != nil {
		j.log.Info("persistent queue: the journal is writable again", "failures", j.errs, "last_error", j.err.Error())
		j.err, j.errs = nil, 0
		j.storageErr.Store(nil)
		j.m.healthy(true)
	}
}

// append writes entries and returns once they are on stable storage,
// setting each one's place in the journal. Concurrent appends share one
// fsync (group commit). On an error none of the entries waits in the
// journal (their places are cleared): the caller must refuse them.
func (j *journal) append(entries []Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	a := j.active
	for a == nil || a.sealed || a.size >= segmentSize {
		// roll may find that another append rolled meanwhile: look again.
		if err := j.roll(); err != nil {
			return err
		}
		a = j.active
	}
	first := a.records
	b := j.buf[:0]
	for i := range entries {
		e := &entries[i]
		b = appendRecord(b, a.records, e.Sig, e.Items, e.Req)
		e.jseg, e.jrec = a.id+1, a.records
		a.records++
	}
	j.buf = b[:0]
	n, err := a.f.Write(b)
	if err != nil {
		// Take the records back: they are refused, and must not keep the
		// segment waiting for their delivery. A torn tail is cut off
		// (should that fail too, recovery skips the torn record). The
		// segment takes nothing more: the next append starts a new one,
		// and this one is deleted as soon as what it holds is delivered.
		// Left active, it would never be deleted, so on a disk that
		// filled before the segment reached segmentSize its delivered
		// records would keep the disk full for good.
		a.records = first
		for i := range entries {
			entries[i].jseg = 0
		}
		if n > 0 {
			_ = a.f.Truncate(a.size)
		}
		a.sealed = true
		return j.failed("write", err)
	}
	a.size += int64(n)
	j.written += uint64(n)
	target := j.written
	// Only an append written after the burst's last failure ends it: one
	// written before, whose fsync merely finished later, says nothing
	// about the disk now (and would split one burst into many).
	fails := j.fails
	for j.synced < target {
		if j.syncing {
			j.cond.Wait()
			continue
		}
		// Lead a sync for everyone written so far.
		j.syncing = true
		lo, upTo, seg := j.synced, j.written, j.active
		if seg == nil || seg.f == nil {
			break // cannot happen: a segment is closed only after its sync
		}
		j.mu.Unlock()
		err := seg.f.Sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			// Everything written to the segment so far fails, also what
			// was written during this sync: after a failed fsync a later
			// one may report success for pages the kernel dropped.
			upTo = j.written
			j.syncFailed(seg, lo, upTo, err)
		}
		if upTo > j.synced {
			j.synced = upTo
		}
		j.cond.Broadcast()
	}
	for _, s := range j.bad {
		if s.lo < target && target <= s.hi {
			// Written but perhaps not durable: refused, so given up at
			// once (a mark, if one can be written, stops a later start
			// sending it).
			j.ackLocked(entries)
			for i := range entries {
				entries[i].jseg = 0
			}
			if j.err != nil {
				return j.err
			}
			return errors.New("persistent queue: sync failed")
		}
	}
	if j.fails == fails {
		j.healed()
	}
	return nil
}

// ack marks delivered entries, one write per segment they lie in; a
// segment whose every record is delivered, and which takes no more, is
// deleted.
func (j *journal) ack(entries []Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := len(j.segs)
	j.ackLocked(entries)
	if j.err != nil && len(j.segs) < n {
		j.probe()
	}
}

// spaceFreed probes the disk when the journal is failing: the replayer
// deleted a delivered segment of an earlier instance.
func (j *journal) spaceFreed() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		j.probe()
	}
}

// probe tries the disk again once delivered segments were deleted while
// the journal was failing. Without it only a new request would find that
// space has returned, and none may come: a load balancer sends nothing
// to a replica whose /readyz is 503, which would then stay out of
// rotation for good. It starts a new segment and syncs it; success ends
// the burst, a failure counts like any other.
func (j *journal) probe() {
	for j.syncing {
		j.cond.Wait()
	}
	if j.err == nil {
		return // an append healed it meanwhile
	}
	if a := j.active; a == nil || a.sealed {
		if j.roll() != nil {
			return
		}
	}
	a := j.active
	if a == nil || a.f == nil {
		return
	}
	if err := a.f.Sync(); err != nil {
		a.sealed = true
		j.failed("sync", err)
		return
	}
	j.healed()
}

func (j *journal) ackLocked(entries []Entry) {
	b := j.buf[:0]
	var cur *segment
	flush := func() {
		if cur != nil && len(b) > 0 {
			j.mark(cur, b)
			j.collect(cur)
		}
		b = b[:0]
	}
	for _, e := range entries {
		if e.jseg == 0 || e.jseg >= replayBase {
			continue // not journaled, or the replayer's (see replayer.mark)
		}
		s := j.segs[e.jseg-1]
		if s == nil {
			continue
		}
		if s != cur {
			flush()
			cur = s
		}
		b = appendMark(b, e.jrec)
		s.acked++
	}
	flush()
	j.buf = b[:0]
}

// mark writes marks to a segment's mark file. A mark that cannot be
// written costs only a duplicate after a restart: it neither fails the
// journal nor keeps the segment (the counts in memory decide deletion).
func (j *journal) mark(s *segment, b []byte) {
	if s.ack == nil || s.sealed && s.acked >= s.records {
		return // no file, or the segment is about to be deleted anyway
	}
	n, err := s.ack.Write(b)
	if err == nil {
		s.ackSize += int64(n)
		j.markErr = false
		return
	}
	j.m.writeError("mark")
	if !j.markErr {
		j.markErr = true
		j.log.Warn("persistent queue: cannot write delivery marks; delivered entries may be sent again after a restart", "error", err)
	}
	if n > 0 && s.ack.Truncate(s.ackSize) != nil {
		// A torn mark would shift every later one: stop marking here.
		s.ack.Close()
		s.ack = nil
	}
}

// collect deletes a fully delivered segment that takes no more records.
// Deleting needs no space, so a full disk frees what is delivered.
func (j *journal) collect(s *segment) {
	if s == j.active && !s.sealed || s.acked < s.records {
		return
	}
	if s == j.active {
		if j.syncing {
			return // the next roll collects it
		}
		j.active = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.ack != nil {
		s.ack.Close()
		s.ack = nil
	}
	base := filepath.Join(j.dir, fmt.Sprintf("%08d", s.id))
	// The marks file goes last: a crash in between leaves a segment
	// whose every record is marked, which recovery skips.
	_ = j.fs.Remove(base + ".wal")
	_ = j.fs.Remove(base + ".ack")
	delete(j.segs, s.id)
}

// close releases the files. Entries not marked stay on disk for the next
// queue opened on the directory; with none left, the instance directory
// is removed.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.syncing {
		j.cond.Wait()
	}
	var err error
	left := false
	for _, s := range j.segs {
		if s.f != nil {
			if s == j.active && j.synced < j.written {
				if serr := s.f.Sync(); serr != nil {
					err = j.failed("sync", serr)
				}
			}
			s.f.Close()
		}
		if s.ack != nil {
			s.ack.Close()
		}
		left = left || s.acked < s.records
	}
	j.segs = map[uint32]*segment{}
	j.active = nil
	if !left && err == nil {
		_ = os.RemoveAll(j.dir)
	}
	if j.lock != nil {
		j.lock.Close()
		j.lock = nil
	}
	return err
}

// abandon drops the journal's files as a crash would: nothing synced,
// closed or removed beyond what the kernel does for a dead process. For
// tests.
func (j *journal) abandon() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.segs {
		if s.f != nil {
			s.f.Close()
		}
		if s.ack != nil {
			s.ack.Close()
		}
	}
	j.segs = map[uint32]*segment{}
	j.active = nil
	j.lock.Close()
	j.lock = nil
}
