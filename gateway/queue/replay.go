package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// A replayer streams what earlier instances of a persistent queue left
// undelivered into the queue, instead of loading it all at start: a
// backlog many times the memory limit (an upstream down for hours) is
// read from disk one segment at a time and handed to the queue within a
// bounded window of bytes, topped up as workers deliver. The earlier
// instances stay where they are, locked: a delivered entry is marked in
// its own segment's .ack file, a segment is deleted once all its records
// are delivered, and an instance's directory once all its segments are.
// A crash during the replay therefore sends again only what was in flight.
//
// The window is reserved out of the queue's capacity while the replay
// runs (held in q.used, whether the window is filled or not), so new data
// keeps the rest and receivers accept it meanwhile, and the queue's bytes
// never pass capacity (save for one record larger than the window, which
// is let in alone).
type replayer struct {
	q      *Queue
	fs     fileSystem
	log    *slog.Logger
	m      JournalMetrics
	window int64

	mu   sync.Mutex
	cond *sync.Cond // room in the window, or stopped
	// inMem is the bytes of replayed entries in the queue (waiting or in
	// flight); held is the part of the window reserved in q.used beyond
	// them. While active, held+inMem = max(window, inMem).
	inMem, held int64
	active      bool // the window is reserved: records are left to hand over
	stopped     bool // the queue closed: hand over nothing more
	backlog     int64
	segs        map[uint32]*oldSeg // by replay id: segments with entries outstanding
	nextID      uint32

	// The reader's state, touched only by whoever feeds (NewPersistentWith,
	// then the feeding goroutine).
	insts []*oldInst // earlier instances with segments not yet read
	all   []*oldInst // every instance locked, for close
	cur   *oldSeg    // the segment being handed over
	recs  []record   // its unmarked records; payloads alias buf
	pos   int
	buf   []byte

	fed chan struct{} // closed when the feeding goroutine ends
}

func replayed(e Entry) bool { return e.jseg >= replayBase }

// replayBase marks an entry's jseg as a replayed one: jseg is replayBase |
// the replayer's id for its segment. A live segment number never gets
// there (2^31 segments of 16 MiB).
const replayBase = 1 << 31

// oldInst is an earlier instance being replayed.
type oldInst struct {
	dir   string
	lock  *os.File
	wals  []string // segments not yet read, oldest first
	sizes []int64  // their sizes when listed, for the backlog
	// Under r.mu:
	open   int  // segments read whose records are not all delivered
	loaded bool // every segment read
	keep   bool // a segment could not be read: the directory stays
}

// oldSeg is a segment of an earlier instance whose records are being
// handed over.
type oldSeg struct {
	id    uint32
	inst  *oldInst
	base  string // the path without .wal
	v1    bool
	ack   journalFile // opened at the first mark; nil if that failed
	tried bool        // the mark file was opened (or failed to)
	left  int         // records not yet delivered
	read  bool        // every record handed over
}

// replayWindow is the bytes of a backlog the queue holds at once:
// enough batches to keep every worker busy, a bounded share of memory,
// and half the capacity at most, so new data always has the other half.
func replayWindow(capacity int64) int64 {
	return max(min(capacity/2, 64<<20), 1)
}

// newReplayer locks the earlier instances under dir (all but the one
// this journal writes, inst) and lists their segments. An instance that
// cannot be locked or listed is left for a later start.
func newReplayer(q *Queue, dir, inst string, o Options) (*replayer, error) {
	r := &replayer{q: q, fs: o.FS, log: o.Logger, m: o.Metrics, window: replayWindow(q.capacity), segs: map[uint32]*oldSeg{}}
	r.cond = sync.NewCond(&r.mu)
	olds, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("persistent queue: %w", err)
	}
	for _, d := range olds {
		old := filepath.Join(dir, d.Name())
		if !d.IsDir() || old == inst {
			continue
		}
		l, err := lockDir(old)
		if err != nil {
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				// Not a live instance (a draining exporter, which is
				// skipped silently) but one this process cannot open.
				r.log.Error("persistent queue: cannot open an earlier instance; leaving it for a later start", "directory", old, "error", err)
			}
			continue
		}
		wals, err := filepath.Glob(filepath.Join(old, "*.wal"))
		if err != nil {
			l.Close()
			r.log.Error("persistent queue: cannot read an earlier instance; leaving it for a later start", "directory", old, "error", err)
			continue
		}
		slices.Sort(wals)
		oi := &oldInst{dir: old, lock: l, wals: wals, sizes: make([]int64, len(wals))}
		for i, w := range wals {
			if st, err := os.Stat(w); err == nil {
				oi.sizes[i] = st.Size()
				r.backlog += st.Size()
			}
		}
		r.insts = append(r.insts, oi)
		r.all = append(r.all, oi)
	}
	r.setBacklog()
	if len(r.insts) > 0 {
		r.active = true
		r.held = r.window
		q.used.Add(r.window)
	}
	return r, nil
}

func (r *replayer) setBacklog() {
	if r.m.Backlog != nil {
		r.m.Backlog.Set(float64(r.backlog))
	}
}

// feed hands records to the queue until the window is full (when !wait)
// or the backlog is empty, and reports the items it handed over and
// whether records are left.
func (r *replayer) feed(wait bool) (items int, more bool) {
	for {
		rec, seg, ok := r.next()
		if !ok {
			r.finish()
			return items, false
		}
		n := int64(len(rec.payload))
		r.mu.Lock()
		for !r.stopped && r.inMem > 0 && r.inMem+n > r.window {
			if !wait {
				r.mu.Unlock()
				r.pos-- // hand it over later
				return items, true
			}
			r.cond.Wait()
		}
		if r.stopped {
			r.mu.Unlock()
			return items, false
		}
		r.moveLocked(n)
		r.backlog -= n
		r.setBacklog()
		r.mu.Unlock()
		e := Entry{Sig: rec.sig, Req: bytes.Clone(rec.payload), Items: rec.items, jseg: replayBase | seg.id, jrec: rec.rec}
		if !r.q.enqueue([]Entry{e}) {
			// Closed meanwhile; enqueue took the entry's bytes out of
			// q.used. The record stays on disk, unmarked.
			r.mu.Lock()
			r.inMem -= n
			r.stopped = true
			r.mu.Unlock()
			r.finish()
			return items, false
		}
		items += rec.items
	}
}

// moveLocked lets n more bytes of the backlog into the queue: they come
// out of the reserved window, or, for a record larger than what the
// window has left (let in alone), are added to q.used.
func (r *replayer) moveLocked(n int64) {
	from := min(n, r.held)
	r.held -= from
	r.inMem += n
	if n > from {
		r.q.used.Add(n - from)
	}
}

// next is the next unmarked record to hand over, reading segments as it
// goes; false once every earlier instance is read.
func (r *replayer) next() (record, *oldSeg, bool) {
	for {
		if r.cur != nil && r.pos < len(r.recs) {
			r.pos++
			return r.recs[r.pos-1], r.cur, true
		}
		if r.cur != nil {
			r.mu.Lock()
			r.cur.read = true
			r.settleLocked(r.cur)
			r.mu.Unlock()
			r.cur, r.recs, r.pos = nil, r.recs[:0], 0
		}
		if !r.load() {
			return record{}, nil, false
		}
	}
}

// load reads the next segment into r.buf and its unmarked records into
// r.recs; false when there is none left.
func (r *replayer) load() bool {
	for len(r.insts) > 0 {
		oi := r.insts[0]
		if len(oi.wals) == 0 {
			r.insts = r.insts[1:]
			r.mu.Lock()
			oi.loaded = true
			r.instDoneLocked(oi)
			r.mu.Unlock()
			continue
		}
		name, size := oi.wals[0], oi.sizes[0]
		oi.wals, oi.sizes = oi.wals[1:], oi.sizes[1:]
		b, v1, recs, err := r.read(name)
		r.mu.Lock()
		r.backlog -= size
		if err != nil {
			oi.keep = true
			r.setBacklog()
			r.mu.Unlock()
			r.log.Error("persistent queue: cannot read a journal segment; leaving it for a later start", "segment", name, "error", err)
			continue
		}
		r.buf = b
		s := &oldSeg{id: r.nextID, inst: oi, base: strings.TrimSuffix(name, ".wal"), v1: v1, left: len(recs)}
		r.nextID = (r.nextID + 1) % replayBase
		r.segs[s.id] = s
		oi.open++
		for _, rec := range recs {
			r.backlog += int64(len(rec.payload))
		}
		r.setBacklog()
		r.mu.Unlock()
		r.cur, r.recs, r.pos = s, recs, 0
		return true
	}
	return false
}

// read reads a segment and returns its unmarked intact records, whose
// payloads lie in the returned buffer (r.buf, reused). Damaged records
// are skipped, counted and logged once per segment.
func (r *replayer) read(name string) ([]byte, bool, []record, error) {
	b, err := readInto(r.fs, name, r.buf[:0])
	if err != nil {
		return r.buf, false, nil, err
	}
	marks, err := readInto(r.fs, strings.TrimSuffix(name, ".wal")+".ack", nil)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return b, false, nil, err
	}
	var all []record
	st, v1 := scanSegment(b, func(rec record) { all = append(all, rec) })
	acked := parseMarks(marks, v1)
	recs := r.recs[:0]
	for _, rec := range all {
		if !acked[rec.rec] {
			recs = append(recs, rec)
		}
	}
	if st.skippedBytes > 0 {
		r.m.add(r.m.CorruptRecords, st.corruptRecords)
		r.m.add(r.m.SkippedBytes, st.skippedBytes)
		r.log.Warn("persistent queue: skipped damaged records in a journal segment", "segment", name, "records", st.corruptRecords, "bytes", st.skippedBytes, "intact", len(all))
	}
	return b, v1, recs, nil
}

// readInto reads a whole file into buf, growing it as needed.
func readInto(fs fileSystem, name string, buf []byte) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 64<<10))
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// release takes the replayed entries of a batch out of the window (Done
// and Keep), before Keep takes their bytes out of q.used: while the
// replay is active the window stays reserved.
func (r *replayer) release(batch []Entry) {
	var n int64
	for _, e := range batch {
		if e.jseg >= replayBase {
			n += int64(len(e.Req))
		}
	}
	if n == 0 {
		return
	}
	r.mu.Lock()
	r.inMem -= n
	if r.active {
		if add := min(n, r.window-r.held-r.inMem); add > 0 {
			r.held += add
			r.q.used.Add(add)
		}
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// mark records the replayed entries of a delivered batch in their own
// segments' mark files, one write per run of a segment, and deletes what
// is fully delivered; freed says whether it deleted a segment.
func (r *replayer) mark(batch []Entry) (freed bool) {
	if !slices.ContainsFunc(batch, replayed) {
		return false // live entries only: the journal marks them
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	segs := len(r.segs)
	defer func() { freed = len(r.segs) < segs }()
	var b []byte
	var cur *oldSeg
	flush := func() {
		if cur != nil && len(b) > 0 {
			r.writeMarks(cur, b)
			r.settleLocked(cur)
		}
		b = b[:0]
	}
	for _, e := range batch {
		if e.jseg < replayBase {
			continue
		}
		s := r.segs[e.jseg&^replayBase]
		if s == nil {
			continue
		}
		if s != cur {
			flush()
			cur = s
		}
		if s.v1 {
			b = binary.LittleEndian.AppendUint32(b, e.jrec)
		} else {
			b = appendMark(b, e.jrec)
		}
		s.left--
	}
	flush()
	return freed
}

// writeMarks appends marks to an earlier segment's mark file. A mark that
// cannot be written costs a duplicate after a restart, nothing more.
func (r *replayer) writeMarks(s *oldSeg, b []byte) {
	if s.read && s.left == 0 {
		return // about to be deleted
	}
	if !s.tried {
		s.tried = true
		f, err := r.fs.OpenFile(s.base+".ack", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			r.m.writeError("mark")
			return
		}
		s.ack = f
	}
	if s.ack == nil {
		return
	}
	if _, err := s.ack.Write(b); err != nil {
		r.m.writeError("mark")
		// A torn mark is skipped by its CRC (version 2) or names a
		// record by a partial number (version 1, a duplicate at worst
		// if it is cut short); either way, stop marking this segment.
		s.ack.Close()
		s.ack = nil
	}
}

// settleLocked deletes a segment all of whose records are handed over
// and delivered, and its instance once that was its last.
func (r *replayer) settleLocked(s *oldSeg) {
	if !s.read || s.left > 0 {
		return
	}
	if s.ack != nil {
		s.ack.Close()
		s.ack = nil
	}
	// The marks go last: a crash in between leaves a fully marked segment.
	_ = r.fs.Remove(s.base + ".wal")
	_ = r.fs.Remove(s.base + ".ack")
	delete(r.segs, s.id)
	s.inst.open--
	r.instDoneLocked(s.inst)
}

// instDoneLocked removes an earlier instance once every segment of it is
// read and delivered, and lets go of its lock.
func (r *replayer) instDoneLocked(oi *oldInst) {
	if !oi.loaded || oi.open > 0 || oi.lock == nil {
		return
	}
	if !oi.keep {
		if err := os.RemoveAll(oi.dir); err != nil {
			r.log.Warn("persistent queue: cannot remove a replayed instance", "directory", oi.dir, "error", err)
		}
	}
	oi.lock.Close()
	oi.lock = nil
}

// finish ends the replay: the window is no longer reserved.
func (r *replayer) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active {
		r.active = false
		r.q.used.Add(-r.held)
		r.held = 0
	}
	// Done or stopped: what is left (unreadable, or not read before the
	// queue closed) is the next start's.
	r.backlog = 0
	r.setBacklog()
}

// start runs the feeding in its own goroutine.
func (r *replayer) start() {
	r.fed = make(chan struct{})
	go func() {
		defer close(r.fed)
		r.feed(true)
	}()
}

// stop makes the feeding end: the queue is closing.
func (r *replayer) stop() {
	r.mu.Lock()
	r.stopped = true
	r.cond.Broadcast()
	r.mu.Unlock()
}

// close stops the replay and lets go of the earlier instances: what is
// not delivered stays on disk for the next start.
func (r *replayer) close() {
	r.stop()
	if r.fed != nil {
		<-r.fed
	}
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.segs {
		if s.ack != nil {
			s.ack.Close()
			s.ack = nil
		}
	}
	r.segs = map[uint32]*oldSeg{}
	for _, oi := range r.all {
		if oi.lock != nil {
			oi.lock.Close()
			oi.lock = nil
		}
	}
	r.insts, r.all, r.cur = nil, nil, nil
}

// backlogBytes is what the earlier instances hold on disk that is not
// yet in the queue.
func (r *replayer) backlogBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backlog
}
