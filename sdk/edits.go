package sdk

// Edit list opcodes (ABI.md §4).
const (
	opDropItem     uint8 = 1
	opDeleteAttr   uint8 = 2
	opSetAttr      uint8 = 3
	opTruncateAttr uint8 = 4
	opRenameAttr   uint8 = 5
	opSetName      uint8 = 6
	opSetStatus    uint8 = 7
	opSetFixed64   uint8 = 8
	opReject       uint8 = 9
	opReplace      uint8 = 10
)

const editHeaderSize = 20

// editList is the encoded edit list of the current call. Its buffer is
// reused across calls: after the first few batches, recording an edit does
// not allocate.
type editList struct {
	buf   []byte
	n     int  // records
	final bool // a REJECT or REPLACE is recorded: it must stay the only record
}

func (e *editList) reset() {
	e.buf, e.n, e.final = e.buf[:0], 0, false
}

// header appends a record header for len_a = la and len_b = lb; the caller
// appends a and b and then calls pad. It returns false, appending nothing,
// once the batch is rejected or replaced.
func (e *editList) header(op, owner uint8, target, arg uint32, la, lb int) bool {
	if e.final {
		return false
	}
	e.n++
	e.buf = append(e.buf, op, owner, 0, 0)
	e.buf = appendLE32(e.buf, target)
	e.buf = appendLE32(e.buf, arg)
	e.buf = appendLE32(e.buf, uint32(la))
	e.buf = appendLE32(e.buf, uint32(lb))
	return true
}

// pad zero-pads the record just written to a multiple of 4 bytes. Every
// record starts 4-aligned, so the buffer's length is what to align.
func (e *editList) pad() {
	for len(e.buf)%4 != 0 {
		e.buf = append(e.buf, 0)
	}
}

// add records an edit whose a is s and whose b is empty.
func (e *editList) add(op, owner uint8, target, arg uint32, s string) {
	if e.header(op, owner, target, arg, len(s), 0) {
		e.buf = append(e.buf, s...)
		e.pad()
	}
}

// addFixed64 records SET_FIXED64 of field num of item to v.
func (e *editList) addFixed64(item int32, num uint32, v uint64) {
	if e.header(opSetFixed64, 0, uint32(item), num, 8, 0) {
		e.buf = appendLE64(e.buf, v)
	}
}

// whole records REJECT (with reason s) or REPLACE (with request p): the only
// record of the list, whatever came before or comes after.
func (e *editList) whole(op uint8, s string, p []byte) {
	e.reset()
	e.header(op, 0, 0, 0, len(s)+len(p), 0)
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, p...)
	e.pad()
	e.final = true
}

func appendLE32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func appendLE64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24),
		byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// The batch-wide edits, shared by Traces, Metrics and Logs.

func (b *batch) reject(reason string) { b.ed.whole(opReject, reason, nil) }
func (b *batch) replace(req []byte)   { b.ed.whole(opReplace, "", req) }

func (b *batch) drop(item int32, reason string) {
	b.ed.add(opDropItem, 0, uint32(item), 0, reason)
}
