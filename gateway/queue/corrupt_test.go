package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// counter is an Adder and a Setter for tests.
type counter struct {
	mu sync.Mutex
	v  float64
}

func (c *counter) Add(v float64) { c.mu.Lock(); c.v += v; c.mu.Unlock() }
func (c *counter) Set(v float64) { c.mu.Lock(); c.v = v; c.mu.Unlock() }
func (c *counter) get() float64  { c.mu.Lock(); defer c.mu.Unlock(); return c.v }

// probe collects what a journal reports: metrics and log lines.
type probe struct {
	corrupt, skipped, healthy, backlog counter
	mu                                 sync.Mutex
	writeErrs                          map[string]*counter
	logs                               bytes.Buffer
}

func newProbe() *probe { return &probe{writeErrs: map[string]*counter{}} }

func (p *probe) options(fs fileSystem) Options {
	return Options{
		Logger: slog.New(slog.NewTextHandler(&syncWriter{p: p}, nil)),
		Metrics: JournalMetrics{
			CorruptRecords: &p.corrupt, SkippedBytes: &p.skipped, Healthy: &p.healthy, Backlog: &p.backlog,
			WriteErrors: func(op string) Adder {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.writeErrs[op] == nil {
					p.writeErrs[op] = &counter{}
				}
				return p.writeErrs[op]
			},
		},
		FS: fs,
	}
}

func (p *probe) writeErrors(op string) float64 {
	p.mu.Lock()
	c := p.writeErrs[op]
	p.mu.Unlock()
	if c == nil {
		return 0
	}
	return c.get()
}

// logCount is how many log lines hold msg.
func (p *probe) logCount(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Count(p.logs.String(), msg)
}

type syncWriter struct{ p *probe }

func (w *syncWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.logs.Write(b)
}

// big is entry i's body in the damage tests: 200 bytes of i, so a 4 KiB
// hole spans many records.
func big(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 200) }

const bigRecord = recordHeader + 200

// at is where record i of a segment of big records starts.
func at(i int) int64 { return int64(len(segHeader) + i*bigRecord) }

// TestRecoveryResynchronisesAfterDamage: whatever is damaged in a segment
// (a cut, a flipped byte, a zeroed block, a zeroed tail), recovery brings
// back exactly the records the damage did not touch, before and after it,
// and counts the rest. Before the fix, recovery stopped at the first bad
// record: everything after it was lost.
func TestRecoveryResynchronisesAfterDamage(t *testing.T) {
	const n = 60
	flip := func(off int64) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0xff; return b }
	}
	zero := func(lo, hi int64) func([]byte) []byte {
		return func(b []byte) []byte { clear(b[lo:min(hi, int64(len(b)))]); return b }
	}
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
		lo, hi int64 // the damaged bytes; hi < 0: to the end
	}{
		{"cut mid-record", func(b []byte) []byte { return b[:at(n-1)+100] }, at(n - 1), -1},
		{"cut mid-header", func(b []byte) []byte { return b[:at(n-1)+7] }, at(n - 1), -1},
		{"flipped payload byte mid-segment", flip(at(30) + recordHeader + 50), at(30) + recordHeader + 50, at(30) + recordHeader + 51},
		{"flipped length byte mid-segment", flip(at(30) + 5), at(30) + 5, at(30) + 6},
		{"flipped magic byte mid-segment", flip(at(30)), at(30), at(30) + 1},
		{"flipped byte in the first record", flip(at(0) + 30), at(0) + 30, at(0) + 31},
		{"4 KiB of zeros mid-segment", zero(2000, 2000+4096), 2000, 2000 + 4096},
		{"zero-filled tail", func(b []byte) []byte { clear(b[at(50)+3:]); return append(b, make([]byte, 4096)...) }, at(50) + 3, -1},
		{"damaged segment header", flip(2), -1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			q, _ := openPersistent(t, dir)
			for i := range n {
				e := Entry{Sig: otlpwire.Signal(i % int(otlpwire.NumSignals)), Req: big(i), Items: i + 1}
				if !q.Reserve(200) || !q.Push(e) {
					t.Fatal("push refused")
				}
			}
			wal := filepath.Join(q.j.dir, "00000000.wal")
			q.j.abandon()
			b, err := os.ReadFile(wal)
			if err != nil {
				t.Fatal(err)
			}
			size := int64(len(b))
			if err := os.WriteFile(wal, c.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			var want []int
			lost, skipped := 0, int64(0)
			for i := range n {
				lo, hi := at(i), at(i+1)
				if c.lo >= 0 && hi > c.lo && (c.hi < 0 || lo < c.hi) {
					lost++
					skipped += bigRecord
					continue
				}
				want = append(want, i)
			}
			switch {
			case c.lo < 0: // the header: 8 bytes, no record
				skipped = int64(len(segHeader))
			case c.hi < 0: // a damaged tail is one stretch: at least one record, the bytes that are left
				lost = 1
				skipped = int64(len(c.damage(bytes.Repeat([]byte{1}, int(size))))) - at(want[len(want)-1]+1)
			}

			p := newProbe()
			q2, items, err := NewPersistentWith(1<<20, dir, p.options(nil))
			if err != nil {
				t.Fatalf("recovery refused to start: %v", err)
			}
			defer q2.CloseJournal()
			got := takeAll(q2)
			var gotIdx []int
			wantItems := 0
			for _, e := range got {
				i := int(e.Req[0])
				if !bytes.Equal(e.Req, big(i)) || e.Items != i+1 || e.Sig != otlpwire.Signal(i%int(otlpwire.NumSignals)) {
					t.Errorf("entry %d came back altered", i)
				}
				gotIdx = append(gotIdx, i)
				wantItems += e.Items
			}
			if !equalInts(gotIdx, want) {
				t.Errorf("recovered records %v,\nwant %v (all but the %d damaged)", gotIdx, want, lost)
			}
			if items != wantItems {
				t.Errorf("NewPersistent reports %d items, the entries hold %d", items, wantItems)
			}
			if g := p.corrupt.get(); g != float64(lost) && !(c.lo < 0 && g == 0) {
				t.Errorf("corrupt records counted: %v, want %d", g, lost)
			}
			if g := p.skipped.get(); g != float64(skipped) {
				t.Errorf("skipped bytes counted: %v, want %d", g, skipped)
			}
			if k := p.logCount("skipped damaged records"); k != 1 {
				t.Errorf("%d log lines about the damaged segment, want 1:\n%s", k, p.logs.String())
			}
		})
	}
}

func equalInts(a, b []int) bool {
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

// A missing segment file, a garbage .wal among the segments and stray
// files and directories beside the instances: recovery takes back every
// record of every segment still there, and starts.
func TestRecoverySurvivesMissingAndGarbageFiles(t *testing.T) {
	old := segmentSize
	segmentSize = 1024
	defer func() { segmentSize = old }()
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	for i := range 40 {
		if !q.Reserve(200) || !q.Push(Entry{Sig: otlpwire.Logs, Req: big(i), Items: 1}) {
			t.Fatal("push refused")
		}
	}
	all := takeAll(q)
	seg := map[int]uint32{}
	for _, e := range all {
		seg[int(e.Req[0])] = e.jseg - 1
	}
	q.Keep(all)
	inst := q.j.dir
	q.j.abandon()
	if err := os.Remove(filepath.Join(inst, "00000001.wal")); err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte("not a journal segment\x00\xff"), 300)
	if err := os.WriteFile(filepath.Join(inst, "zz-garbage.wal"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray-file"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := range 40 {
		if seg[i] != 1 {
			want = append(want, i)
		}
	}
	if len(want) == 40 || len(want) < 20 {
		t.Fatalf("segment 1 held %d of 40 records; the test needs several segments", 40-len(want))
	}
	p := newProbe()
	q2, _, err := NewPersistentWith(1<<20, dir, p.options(nil))
	if err != nil {
		t.Fatalf("recovery refused to start: %v", err)
	}
	defer q2.CloseJournal()
	var got []int
	for _, e := range takeAll(q2) {
		got = append(got, int(e.Req[0]))
	}
	if !equalInts(got, want) {
		t.Errorf("recovered %v, want %v", got, want)
	}
	if g := p.skipped.get(); g != float64(len(garbage)) {
		t.Errorf("skipped bytes %v, want the garbage file's %d", g, len(garbage))
	}
}

// A torn or zero-filled mark file marks nothing: with 4-byte marks, zeros
// meant "record 0 delivered", losing it.
func TestZeroFilledMarksMarkNothing(t *testing.T) {
	dir := t.TempDir()
	q, _ := openPersistent(t, dir)
	pushN(t, q, 0, 5)
	b := takeAll(q)
	q.Done(b[3:4])
	q.Keep(append(b[:3:3], b[4:]...))
	ack := filepath.Join(q.j.dir, "00000000.ack")
	q.j.abandon()
	f, err := os.OpenFile(ack, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096+3))
	f.Close()
	q2, _ := openPersistent(t, dir)
	defer q2.CloseJournal()
	var got []int
	for _, e := range takeAll(q2) {
		got = append(got, int(e.Req[0]))
	}
	if !equalInts(got, []int{0, 1, 2, 4}) {
		t.Errorf("recovered %v, want 0 1 2 4", got)
	}
}

// Segments an earlier release wrote (format 1: no header, 4-byte marks)
// are still read.
func TestRecoveryReadsVersion1Segments(t *testing.T) {
	dir := t.TempDir()
	inst := filepath.Join(dir, "old-1")
	if err := os.MkdirAll(inst, 0o750); err != nil {
		t.Fatal(err)
	}
	var wal, ack []byte
	for i := range 4 {
		var h [v1RecordHeader]byte
		p := payload(i)
		binary.LittleEndian.PutUint32(h[0:], uint32(len(p)))
		h[8] = byte(otlpwire.Metrics)
		binary.LittleEndian.PutUint32(h[9:], uint32(i+1))
		binary.LittleEndian.PutUint32(h[4:], crc32.Update(crc32.Checksum(h[8:], crcTable), crcTable, p))
		wal = append(append(wal, h[:]...), p...)
	}
	ack = binary.LittleEndian.AppendUint32(ack, 1)
	os.WriteFile(filepath.Join(inst, "00000000.wal"), wal, 0o600)
	os.WriteFile(filepath.Join(inst, "00000000.ack"), ack, 0o600)
	q, items := openPersistent(t, dir)
	defer q.CloseJournal()
	var got []int
	for _, e := range takeAll(q) {
		i := int(e.Req[0])
		if !bytes.Equal(e.Req, payload(i)) || e.Sig != otlpwire.Metrics {
			t.Errorf("entry %d altered", i)
		}
		got = append(got, i)
	}
	if !equalInts(got, []int{0, 2, 3}) || items != 1+3+4 {
		t.Errorf("recovered %v (%d items), want 0 2 3 (8 items)", got, items)
	}
}

// FuzzScanSegment: whatever a segment file holds, the reader neither
// panics nor loops, hands back only records whose checks hold, in
// increasing record order and without overlapping, and accounts for
// every byte it skipped. Recovery of such a file never fails.
func FuzzScanSegment(f *testing.F) {
	dir := f.TempDir()
	q, _, err := NewPersistent(1<<20, dir)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		e := Entry{Sig: otlpwire.Logs, Req: payload(i), Items: 2}
		q.Reserve(int64(len(e.Req)))
		q.Push(e)
	}
	seed, err := os.ReadFile(filepath.Join(q.j.dir, "00000000.wal"))
	if err != nil {
		f.Fatal(err)
	}
	q.CloseJournal()
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add(append(bytes.Clone(seed[:30]), seed...))
	f.Add([]byte{})
	f.Add(append([]byte(segHeader), recMagicBytes...))
	f.Fuzz(func(t *testing.T, wal []byte) {
		var recs []record
		total, last := 0, -1
		st, v1 := scanSegment(wal, func(r record) {
			if r.sig >= otlpwire.NumSignals {
				t.Fatalf("a record of signal %d", r.sig)
			}
			if !v1Check(wal) && int(r.rec) <= last {
				t.Fatalf("record %d after %d", r.rec, last)
			}
			last = int(r.rec)
			total += len(r.payload)
			recs = append(recs, r)
		})
		hdr := recordHeader
		if v1 {
			hdr = v1RecordHeader
		}
		used := total + hdr*len(recs) + st.skippedBytes
		if !v1 && bytes.HasPrefix(wal, []byte(segHeader)) {
			used += len(segHeader)
		}
		if used != len(wal) {
			t.Fatalf("records (%d) and skipped bytes (%d) account for %d of %d bytes", len(recs), st.skippedBytes, used, len(wal))
		}
		dir := t.TempDir()
		inst := filepath.Join(dir, "old")
		if err := os.Mkdir(inst, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inst, "00000000.wal"), wal, 0o600); err != nil {
			t.Fatal(err)
		}
		q, _, err := NewPersistent(1<<20, dir)
		if err != nil {
			t.Fatalf("recovery failed on a damaged segment: %v", err)
		}
		q.Done(takeAll(q))
		q.CloseJournal()
	})
}

// v1Check says whether wal is read as a version 1 segment.
func v1Check(wal []byte) bool {
	_, v1 := scanSegment(wal, func(record) {})
	return v1
}

var _ = context.Background
