package sdk

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

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
	opDeleteKey    uint8 = 11
	opTruncateVals uint8 = 12
	opDropNamed    uint8 = 13
	opSetDefault   uint8 = 14
	opCapAttrs     uint8 = 15
	opClampFuture  uint8 = 16
	opDropInvalid  uint8 = 17
	opDropMatch    uint8 = 18
	opSample       uint8 = 19
	opDropSeverity uint8 = 20
	opHashValues   uint8 = 21
	opMaskValues   uint8 = 22
	opNormalizeKey uint8 = 23
)

// dropNamedBody is DROP_NAMED's arg flag that matches log bodies.
const dropNamedBody = 1

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

// record appends one record for len_a = la and len_b = lb, padding
// included, and returns the la+lb bytes for the caller to fill with a then
// b. It returns nil, appending nothing, once the batch is rejected or
// replaced.
func (e *editList) record(op, owner uint8, target, arg uint32, la, lb int) []byte {
	if e.final {
		return nil
	}
	e.n++
	// One capacity check for the whole record, then plain stores: appending
	// byte by byte costs a check per byte, and the guest is slow at that.
	n, size := len(e.buf), (editHeaderSize+la+lb+3)&^3
	e.buf = slices.Grow(e.buf, size)[:n+size]
	r := e.buf[n : n+size : n+size]
	r[0], r[1], r[2], r[3] = op, owner, 0, 0
	putLE32(r[4:8], target)
	putLE32(r[8:12], arg)
	putLE32(r[12:16], uint32(la))
	putLE32(r[16:20], uint32(lb))
	for i := editHeaderSize + la + lb; i < size; i++ {
		r[i] = 0 // the buffer is reused: padding may hold old bytes
	}
	return r[editHeaderSize : editHeaderSize+la+lb]
}

func putLE32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// put copies s to the start of dst and returns its length. Short strings,
// the common case (keys, reasons, names), are copied by a loop, which in
// the guest beats a call to memmove.
func put(dst []byte, s string) int {
	if len(s) > 16 {
		return copy(dst, s)
	}
	dst = dst[:len(s)]
	for i := range dst {
		dst[i] = s[i]
	}
	return len(s)
}

// add records an edit whose a is s and whose b is empty.
func (e *editList) add(op, owner uint8, target, arg uint32, s string) {
	s = validUTF8(s)
	if w := e.record(op, owner, target, arg, len(s), 0); w != nil {
		put(w, s)
	}
}

// validUTF8 returns s with each invalid UTF-8 sequence replaced by U+FFFD.
// Keys, names, reasons and status messages become protobuf strings, so
// the host refuses an edit list holding invalid ones, and the whole list
// with it: a redaction filter would then let the batch through untouched.
// Strings read from the request can be invalid (the host does not check
// UTF-8 on the way in), so the SDK mends them rather than lose every edit.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// addFixed64 records SET_FIXED64 of field num of item to v.
func (e *editList) addFixed64(item int32, num uint32, v uint64) {
	if w := e.record(opSetFixed64, 0, uint32(item), num, 8, 0); w != nil {
		putLE64(w, v)
	}
}

// whole records REJECT (with reason s) or REPLACE (with request p): the only
// record of the list, whatever came before or comes after.
func (e *editList) whole(op uint8, s string, p []byte) {
	e.reset()
	s = validUTF8(s)
	w := e.record(op, 0, 0, 0, len(s)+len(p), 0)
	copy(w[copy(w, s):], p)
	e.final = true
}

func putLE64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

// putVarint writes v at the start of b and returns its length.
func putVarint(b []byte, v uint64) int {
	i := 0
	for v >= 0x80 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
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

func (b *batch) deleteKey(key string, where Owners, fold bool) {
	if key == "" {
		panic("sdk: DeleteKey with an empty key")
	}
	var arg uint32
	if fold {
		arg = 1
	}
	b.ed.add(opDeleteKey, uint8(where.mask()), 0, arg, key)
}

func (b *batch) dropInvalid(c Validity) {
	var checks uint32
	for bit, on := range [...]bool{c.IDs, c.Timestamps, c.Names, c.Histograms, c.Severity} {
		if on {
			checks |= 1 << bit
		}
	}
	r := &c.Reasons
	reasons := [...]string{r.TraceID, r.SpanID, r.EmptyName, r.MissingTime, r.OldTime, r.FutureTime, r.StartAfterEnd, r.BucketCounts, r.HistogramCount, r.Severity}
	n := 0
	for i, s := range reasons {
		reasons[i] = validUTF8(strings.ReplaceAll(s, "\x00", ""))
		n += len(reasons[i]) + 1
	}
	if w := b.ed.record(opDropInvalid, 0, 0, checks, 16, n); w != nil {
		putLE64(w, c.MinTime)
		putLE64(w[8:], c.MaxTime)
		k := 16
		for _, s := range reasons {
			k += put(w[k:], s)
			w[k] = 0
			k++
		}
	}
}

func (b *batch) clampFuture(limit, now uint64) {
	if w := b.ed.record(opClampFuture, 0, 0, 0, 16, 0); w != nil {
		putLE64(w, limit)
		putLE64(w[8:], now)
	}
}

func (b *batch) capAttributes(n int, where Owners) {
	if n < 0 {
		n = 0
	}
	b.ed.add(opCapAttrs, uint8(where.mask()), 0, uint32(min(n, 1<<31-1)), "")
}

func (b *batch) truncateValues(n int, where Owners) {
	if n < 0 {
		n = 0
	}
	b.ed.add(opTruncateVals, uint8(where.mask()), 0, uint32(min(n, 1<<31-1)), "")
}

func (b *batch) dropNamed(name, reason string, arg uint32) {
	if name == "" {
		panic("sdk: DropNamed or DropBody with an empty name")
	}
	name, reason = validUTF8(name), validUTF8(reason)
	if w := b.ed.record(opDropNamed, 0, 0, arg, len(name), len(reason)); w != nil {
		put(w[put(w, name):], reason)
	}
}

func (b *batch) setDefaultStr(key, value string, where Owners) {
	if key == "" {
		panic("sdk: SetDefaultStr with an empty key")
	}
	key, value = validUTF8(key), validUTF8(value)
	// The value is an AnyValue body holding string_value (field 1).
	n := 1 + varintLen(uint64(len(value))) + len(value)
	if w := b.ed.record(opSetDefault, uint8(where.mask()), 0, 0, len(key), n); w != nil {
		k := put(w, key)
		w[k] = 0x0a
		k++
		k += putVarint(w[k:], uint64(len(value)))
		put(w[k:], value)
	}
}

// dropWhere copies the conditions Where encoded: nothing is encoded per
// batch.
func (b *batch) dropWhere(c Conditions, reason string) {
	if c.enc == "" {
		panic("sdk: DropWhere with zero Conditions (build them with Where)")
	}
	reason = validUTF8(reason)
	if w := b.ed.record(opDropMatch, 0, 0, 0, len(c.enc), len(reason)); w != nil {
		put(w[copy(w, c.enc):], reason)
	}
}

func (b *batch) sample(threshold uint64, reason string) {
	reason = validUTF8(reason)
	if w := b.ed.record(opSample, 0, 0, 0, 8, len(reason)); w != nil {
		putLE64(w, threshold)
		put(w[8:], reason)
	}
}

func (b *batch) dropSeverity(max Severity, reason string) {
	if max < 1 || max > 24 {
		panic("sdk: DropSeverityUpTo with severity " + strconv.Itoa(int(max)) + ", want 1..24")
	}
	reason = validUTF8(reason)
	if w := b.ed.record(opDropSeverity, 0, 0, uint32(max), 0, len(reason)); w != nil {
		put(w, reason)
	}
}

func (b *batch) hashValues(key string, where Owners, fold bool, salt string) {
	if key == "" {
		panic("sdk: HashValues with an empty key")
	}
	key = validUTF8(key)
	var arg uint32
	if fold {
		arg = 1
	}
	// The salt is hashed, not read as text: its bytes go as they are.
	if w := b.ed.record(opHashValues, uint8(where.mask()), 0, arg, len(key), len(salt)); w != nil {
		copy(w[put(w, key):], salt)
	}
}

// maskValues copies the rule NewMask encoded: nothing is encoded per
// batch.
func (b *batch) maskValues(m Mask, where Owners) {
	if m.a == "" {
		panic("sdk: MaskValues with a zero Mask (build it with NewMask)")
	}
	if w := b.ed.record(opMaskValues, uint8(where.mask()), 0, m.arg, len(m.a), len(m.b)); w != nil {
		copy(w[copy(w, m.a):], m.b)
	}
}

func (b *batch) setDefault(key string, v Scalar, where Owners) {
	if key == "" {
		panic("sdk: SetDefault with an empty key")
	}
	if v.body == "" {
		panic("sdk: SetDefault with a zero Scalar (build it with StrValue, IntValue, DoubleValue or BoolValue)")
	}
	key = validUTF8(key)
	if w := b.ed.record(opSetDefault, uint8(where.mask()), 0, 0, len(key), len(v.body)); w != nil {
		copy(w[put(w, key):], v.body)
	}
}

func (b *batch) normalizeKey(key string, where Owners) {
	if key == "" {
		panic("sdk: NormalizeKey with an empty key")
	}
	b.ed.add(opNormalizeKey, uint8(where.mask()), 0, 0, validUTF8(key))
}

func (b *batch) drop(item int32, reason string) {
	b.ed.add(opDropItem, 0, uint32(item), 0, reason)
}
