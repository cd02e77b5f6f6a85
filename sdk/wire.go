package sdk

import (
	"math"
	"unsafe"
)

// The host has validated the request before the guest sees it, so these
// readers trust the wire format; a malformed request would be a host bug and
// ends in an index panic, which traps the instance.

func le32(b []byte, i int) uint32 {
	p := b[i : i+4 : i+4]
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

func le64(b []byte, i int) uint64 {
	p := b[i : i+8 : i+8]
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

func uvarint(b []byte, i int) (uint64, int) {
	if c := b[i]; c < 0x80 {
		return uint64(c), i + 1
	}
	var v uint64
	for s := uint(0); s < 64; s += 7 {
		c := b[i]
		i++
		v |= uint64(c&0x7f) << s
		if c < 0x80 {
			return v, i
		}
	}
	panic("otlpgw sdk: varint overflows 64 bits")
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// maxField is the highest field number fields records: 16 covers every
// scalar of Span, LogRecord, the data points, InstrumentationScope, Status,
// Metric and its data messages.
const maxField = 16

// fields is one walk of a message's top-level fields: for each field number
// up to maxField, where its last occurrence's value sits and how often it
// occurs. Proto3 keeps the last of repeated scalar occurrences, so "last" is
// what a decoder would read.
type fields struct {
	item int32 // the item walked, for (*batch).item's cache; -1 none
	// off[n]..end[n]: the value of field n's last occurrence: the body of a
	// length-delimited field, the bytes of a varint, fixed64 or fixed32.
	off, end [maxField + 1]int32
	n        [maxField + 1]int32
}

// walk records the fields of the entry at req[off:end], which includes the
// entry's own tag and length.
func (f *fields) walk(req []byte, off, end int32) {
	f.off, f.end, f.n = [maxField + 1]int32{}, [maxField + 1]int32{}, [maxField + 1]int32{}
	_, i := uvarint(req, int(off)) // tag
	_, i = uvarint(req, i)         // length
	f.walkBody(req, i, int(end))
}

func (f *fields) walkBody(req []byte, i, end int) {
	for i < end {
		tag, j := uvarint(req, i)
		vs, ve := fieldValue(req, j, tag)
		if num := tag >> 3; num <= maxField {
			f.off[num], f.end[num] = int32(vs), int32(ve)
			f.n[num]++
		}
		i = ve
	}
}

// fieldValue returns the bounds of the value of the field whose tag (read
// already) ends at req[j]: the body of a length-delimited field, the bytes
// of a varint, fixed64 or fixed32; an empty range after a skipped group.
func fieldValue(req []byte, j int, tag uint64) (vs, ve int) {
	switch tag & 7 {
	case 0:
		_, ve = uvarint(req, j)
		return j, ve
	case 1:
		return j, j + 8
	case 2:
		l, vs := uvarint(req, j)
		return vs, vs + int(l)
	case 5:
		return j, j + 4
	case 3:
		ve = skipGroup(req, j, tag>>3)
		return ve, ve
	}
	// An end-group with no start, or a reserved type: the host's
	// validation rules these out.
	panic("otlpgw sdk: bad wire type in request")
}

// skipGroup steps over a (deprecated, unknown) group field whose start tag
// for field num ended at req[i], returning the index after its end tag.
func skipGroup(req []byte, i int, num uint64) int {
	for {
		tag, j := uvarint(req, i)
		if tag&7 == 4 {
			if tag>>3 == num {
				return j
			}
			panic("otlpgw sdk: mismatched end-group in request")
		}
		_, i = fieldValue(req, j, tag)
	}
}

// item walks item i's fields, remembering the last item walked: a filter
// reading several lazy fields of one span walks it once.
func (b *batch) item(i int32) *fields {
	if b.scan.item != i {
		b.scan.walk(b.req, b.itm(i, iOff), b.itm(i, iEnd))
		b.scan.item = i
	}
	return &b.scan
}

// fixed64 is field num of f as a fixed64, 0 when absent.
func (b *batch) fixed64(f *fields, num int) uint64 {
	if f.n[num] == 0 || f.end[num]-f.off[num] != 8 {
		return 0
	}
	return le64(b.req, int(f.off[num]))
}

// varint is field num of f as a varint, 0 when absent.
func (b *batch) varint(f *fields, num int) uint64 {
	if f.n[num] == 0 || f.end[num] == f.off[num] {
		return 0
	}
	v, _ := uvarint(b.req, int(f.off[num]))
	return v
}

// fixed32 is field num of f as a fixed32, 0 when absent.
func (b *batch) fixed32(f *fields, num int) uint32 {
	if f.n[num] == 0 || f.end[num]-f.off[num] != 4 {
		return 0
	}
	return le32(b.req, int(f.off[num]))
}

// id8 is field num of f as an 8-byte ID, zero when absent.
func (b *batch) id8(f *fields, num int) (id [8]byte) {
	if f.end[num]-f.off[num] == 8 {
		copy(id[:], b.req[f.off[num]:f.end[num]])
	}
	return id
}

// packedFixed64 counts the elements of repeated fixed64/double field num
// in the entry at req[off:end] (packed or not, possibly in several runs), and
// returns element k when k is in range.
func (b *batch) packedFixed64(off, end int32, num uint64, k int) (n int, v uint64) {
	_, i := uvarint(b.req, int(off))
	_, i = uvarint(b.req, i)
	for i < int(end) {
		tag, j := uvarint(b.req, i)
		vs, ve := fieldValue(b.req, j, tag)
		if tag>>3 == num {
			switch tag & 7 {
			case 1:
				if n == k {
					v = le64(b.req, vs)
				}
				n++
			case 2:
				c := (ve - vs) / 8
				if k >= n && k < n+c {
					v = le64(b.req, vs+(k-n)*8)
				}
				n += c
			}
		}
		i = ve
	}
	return n, v
}

func float64frombits(v uint64) float64 { return math.Float64frombits(v) }
