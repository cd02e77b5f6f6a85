package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// A journal makes a queue crash-safe (queue.persistent.directory): Push
// writes each entry to disk, and returns only once it is on stable storage
// (fsync), before the receiver acknowledges the request; Done marks
// entries delivered; a queue opened on the same directory after a crash
// or a stop takes back every entry not marked, in order.
//
// Layout: DIR/INSTANCE/ per queue instance (a reload's new exporter and
// the old one draining beside it each have their own), holding a lock
// file, segment files NNNNNNNN.wal and their delivery marks NNNNNNNN.ack.
// A segment is a sequence of records:
//
//	u32 payload length | u32 CRC-32C of the rest | u8 signal | u32 items | payload
//
// and its .ack file a sequence of u32 record numbers (written without
// fsync: a mark lost in a crash only means that entry is sent again).
// Segments roll over at segmentSize; one whose records are all marked is
// deleted. Delivery is therefore at least once: an entry delivered just
// before a crash, whose mark did not reach the disk, is sent again.
type journal struct {
	dir  string // this instance's directory
	lock *os.File

	mu      sync.Mutex
	cond    *sync.Cond // signals the end of a sync
	active  *segment
	segs    map[uint32]*segment
	nextSeg uint32
	written uint64 // bytes written to segments, ever
	synced  uint64 // of which known to be on stable storage
	syncing bool
	err     error // the first write or sync error: the journal then refuses appends
	buf     []byte
}

type segment struct {
	id      uint32
	f       *os.File // nil once closed (not active)
	ack     *os.File
	size    int64
	records uint32
	acked   uint32
}

// segmentSize is where a segment rolls over.
var segmentSize int64 = 16 << 20 // a variable for tests

const recordHeader = 13

// maxRecordSize bounds what recovery believes a record's length field.
const maxRecordSize = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// openJournal takes a new instance directory under dir and recovers every
// entry that earlier instances there left unmarked, whose directories it
// then removes; the recovered entries are rewritten into the new instance
// first, so they stay durable across the hand-over.
func openJournal(dir string) (*journal, []Entry, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("persistent queue: %w", err)
	}
	inst := filepath.Join(dir, strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(inst, 0o750); err != nil {
		return nil, nil, fmt.Errorf("persistent queue: %w", err)
	}
	lock, err := lockDir(inst)
	if err != nil {
		return nil, nil, err
	}
	j := &journal{dir: inst, lock: lock, segs: map[uint32]*segment{}}
	j.cond = sync.NewCond(&j.mu)
	if err := j.roll(); err != nil {
		j.close()
		return nil, nil, err
	}
	olds, err := os.ReadDir(dir)
	if err != nil {
		j.close()
		return nil, nil, fmt.Errorf("persistent queue: %w", err)
	}
	var recovered []Entry
	var done []string
	for _, d := range olds {
		old := filepath.Join(dir, d.Name())
		if !d.IsDir() || old == inst {
			continue
		}
		l, err := lockDir(old)
		if err != nil {
			continue // a live instance (a draining exporter) owns it
		}
		entries, err := recoverInstance(old)
		if err != nil {
			l.Close()
			j.close()
			return nil, nil, err
		}
		recovered = append(recovered, entries...)
		done = append(done, old)
		defer l.Close()
	}
	if len(recovered) > 0 {
		if err := j.append(recovered); err != nil {
			j.close()
			return nil, nil, err
		}
	}
	for _, old := range done {
		if err := os.RemoveAll(old); err != nil {
			j.close()
			return nil, nil, fmt.Errorf("persistent queue: removing a recovered instance: %w", err)
		}
	}
	return j, recovered, nil
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

// recoverInstance reads an instance's unmarked entries, oldest first. A
// record cut short or failing its checksum ends its segment: it is the
// write a crash interrupted, never acknowledged.
func recoverInstance(inst string) ([]Entry, error) {
	names, err := filepath.Glob(filepath.Join(inst, "*.wal"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []Entry
	for _, name := range names {
		acked, err := readAcks(strings.TrimSuffix(name, ".wal") + ".ack")
		if err != nil {
			return nil, err
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("persistent queue: %w", err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		var hdr [recordHeader]byte
		for n := uint32(0); ; n++ {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				break
			}
			size := binary.LittleEndian.Uint32(hdr[0:])
			if size > maxRecordSize {
				break // a length no request has: the rest is garbage
			}
			payload := make([]byte, size)
			if _, err := io.ReadFull(r, payload); err != nil {
				break
			}
			sum := crc32.Update(crc32.Checksum(hdr[8:], crcTable), crcTable, payload)
			sig := otlpwire.Signal(hdr[8])
			if sum != binary.LittleEndian.Uint32(hdr[4:]) || sig >= otlpwire.NumSignals {
				break
			}
			if acked[n] {
				continue
			}
			out = append(out, Entry{Sig: sig, Req: payload, Items: int(binary.LittleEndian.Uint32(hdr[9:]))})
		}
		f.Close()
	}
	return out, nil
}

func readAcks(name string) (map[uint32]bool, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("persistent queue: %w", err)
	}
	acked := make(map[uint32]bool, len(b)/4)
	for i := 0; i+4 <= len(b); i += 4 {
		acked[binary.LittleEndian.Uint32(b[i:])] = true
	}
	return acked, nil
}

// roll starts a new active segment; the old one, synced, stays open for
// its marks until it is deleted.
func (j *journal) roll() error {
	if a := j.active; a != nil {
		for j.syncing {
			j.cond.Wait()
		}
		if j.active != a {
			return nil // another append rolled while this one waited
		}
		if err := a.f.Sync(); err != nil {
			return j.fail(err)
		}
		j.synced = j.written
		a.f.Close()
		a.f = nil
	}
	base := filepath.Join(j.dir, fmt.Sprintf("%08d", j.nextSeg))
	f, err := os.OpenFile(base+".wal", os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return j.fail(err)
	}
	ack, err := os.OpenFile(base+".ack", os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		f.Close()
		return j.fail(err)
	}
	// The new files' names must survive a crash too.
	if d, err := os.Open(j.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	s := &segment{id: j.nextSeg, f: f, ack: ack}
	j.segs[s.id] = s
	j.active = s
	j.nextSeg++
	if old, ok := j.segs[s.id-1]; ok && s.id > 0 {
		j.collect(old)
	}
	return nil
}

func (j *journal) fail(err error) error {
	if j.err == nil {
		j.err = fmt.Errorf("persistent queue: %w", err)
	}
	return j.err
}

// append writes entries and returns once they are on stable storage,
// setting each one's place in the journal. Concurrent appends share one
// fsync (group commit).
func (j *journal) append(entries []Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if j.active.size >= segmentSize {
		if err := j.roll(); err != nil {
			return err
		}
	}
	a := j.active
	b := j.buf[:0]
	for i := range entries {
		e := &entries[i]
		var hdr [recordHeader]byte
		binary.LittleEndian.PutUint32(hdr[0:], uint32(len(e.Req)))
		hdr[8] = byte(e.Sig)
		binary.LittleEndian.PutUint32(hdr[9:], uint32(e.Items))
		binary.LittleEndian.PutUint32(hdr[4:], crc32.Update(crc32.Checksum(hdr[8:], crcTable), crcTable, e.Req))
		b = append(append(b, hdr[:]...), e.Req...)
		e.jseg, e.jrec = a.id+1, a.records
		a.records++
	}
	j.buf = b[:0]
	if _, err := a.f.Write(b); err != nil {
		return j.fail(err)
	}
	a.size += int64(len(b))
	j.written += uint64(len(b))
	target := j.written
	for j.synced < target {
		if j.err != nil {
			return j.err
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		// Lead a sync for everyone written so far.
		j.syncing = true
		upTo, f := j.written, j.active.f
		j.mu.Unlock()
		err := f.Sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.fail(err)
		} else if upTo > j.synced {
			j.synced = upTo
		}
		j.cond.Broadcast()
	}
	return j.err
}

// ack marks delivered entries, one write per segment they lie in; a
// segment whose every record is marked, and which is not the active one,
// is deleted.
func (j *journal) ack(entries []Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b := j.buf[:0]
	var cur *segment
	flush := func() {
		if cur != nil && len(b) > 0 {
			if _, err := cur.ack.Write(b); err != nil {
				j.fail(err)
			}
			j.collect(cur)
		}
		b = b[:0]
	}
	for _, e := range entries {
		if e.jseg == 0 {
			continue
		}
		s := j.segs[e.jseg-1]
		if s == nil {
			continue
		}
		if s != cur {
			flush()
			cur = s
		}
		b = binary.LittleEndian.AppendUint32(b, e.jrec)
		s.acked++
	}
	flush()
	j.buf = b[:0]
}

// collect deletes a fully delivered, inactive segment.
func (j *journal) collect(s *segment) {
	if s == j.active || s.acked < s.records {
		return
	}
	base := filepath.Join(j.dir, fmt.Sprintf("%08d", s.id))
	s.ack.Close()
	// The marks file goes last: a crash in between leaves a segment
	// whose every record is marked, which recovery skips.
	_ = os.Remove(base + ".wal")
	_ = os.Remove(base + ".ack")
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
	left := false
	for _, s := range j.segs {
		if s.f != nil {
			if err := s.f.Sync(); err != nil {
				j.fail(err)
			}
			s.f.Close()
		}
		s.ack.Close()
		left = left || s.acked < s.records
	}
	j.segs = map[uint32]*segment{}
	if !left && j.err == nil {
		_ = os.RemoveAll(j.dir)
	}
	if j.lock != nil {
		j.lock.Close()
		j.lock = nil
	}
	return j.err
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
		s.ack.Close()
	}
	j.segs = map[uint32]*segment{}
	j.lock.Close()
	j.lock = nil
}
