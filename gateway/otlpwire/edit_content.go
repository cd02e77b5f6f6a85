package otlpwire

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"regexp"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/otlpgw/otlpgw/gateway/otlpwire/internal/detect"
	"github.com/otlpgw/otlpgw/gateway/otlpwire/internal/match"
	"google.golang.org/protobuf/encoding/protowire"
)

// The bulk edits here read what items and values hold: DROP_MATCH,
// SAMPLE and DROP_SEVERITY decide drops on names, bodies, attributes,
// trace IDs and severities; HASH_VALUES and MASK_VALUES rewrite values.
// They exist so that a filter whose rules are declarative (the stock drop
// and redact filters, and any filter author's) reads nothing in the guest:
// the per-item and per-byte work runs here, natively, once per batch.

// Conditions of DROP_MATCH: a kind byte, then one length-prefixed field
// (uvarint length), then a second for kinds CondAttrString and above.
const (
	CondName       = 1 // pattern: the item's name
	CondBody       = 2 // pattern: a log record's string body; never matches elsewhere
	CondAttrExists = 3 // key
	CondAttrString = 4 // key, value: a string value equal to value
	CondAttrNumber = 5 // key, 8-byte float64: an int or double value equal to it
	CondAttrBool   = 6 // key, 1 byte 0 or 1
	CondAttrMatch  = 7 // key, pattern: a string value that matches
)

// MASK_VALUES's Arg: the low byte numbers the detector (0, a pattern in
// A; 1 credit_card, 2 email, 3 bearer_token, 4 jwt); MaskExceptKeys makes
// its key list the keys not to mask.
const (
	MaskDetector   = 0xff
	MaskExceptKeys = 1 << 8
)

// MaxPatternSize is the longest pattern DROP_MATCH and MASK_VALUES accept,
// in bytes: it bounds what compiling a guest's pattern can cost.
const MaxPatternSize = 1024

// maxCachedPatterns bounds the compiled-pattern cache. Filters send the
// same few patterns with every batch. A full cache starts over, so a guest
// that sends new ones each time costs compiles, not memory, and cannot
// keep the other filters' patterns out for good.
const maxCachedPatterns = 256

var patternCache = struct {
	sync.RWMutex
	m map[string]*match.Matcher
}{m: map[string]*match.Matcher{}}

// compiled returns pattern p compiled, from the cache when it is there.
func compiled(p []byte) (*match.Matcher, error) {
	patternCache.RLock()
	m := patternCache.m[string(p)]
	patternCache.RUnlock()
	if m != nil {
		return m, nil
	}
	m, err := match.Compile(string(p))
	if err != nil {
		return nil, err
	}
	patternCache.Lock()
	if len(patternCache.m) >= maxCachedPatterns {
		clear(patternCache.m)
	}
	patternCache.m[string(p)] = m
	patternCache.Unlock()
	return m, nil
}

func checkPattern(p []byte) string {
	switch {
	case len(p) == 0:
		return "empty pattern"
	case len(p) > MaxPatternSize:
		return fmt.Sprintf("pattern of %d bytes exceeds %d", len(p), MaxPatternSize)
	case !utf8.Valid(p):
		return "pattern is not valid UTF-8"
	}
	if _, err := compiled(p); err != nil {
		return "pattern: " + err.Error()
	}
	return ""
}

// view is b as a string, without copying, for matchers and detectors
// that read strings; it must not outlive b.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// lenPrefixed splits a uvarint-length-prefixed field off b.
func lenPrefixed(b []byte) (field, rest []byte, ok bool) {
	n, k := protowire.ConsumeVarint(b)
	if k < 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n) : k+int(n)], b[k+int(n):], true
}

// cond is one decoded DROP_MATCH condition.
type cond struct {
	kind   byte
	f1, f2 []byte
	m      *match.Matcher // CondName, CondBody, CondAttrMatch
}

// nextCond splits the first condition off a (which is not empty).
func nextCond(a []byte) (c cond, rest []byte, ok bool) {
	c.kind = a[0]
	if c.f1, rest, ok = lenPrefixed(a[1:]); !ok {
		return c, nil, false
	}
	if c.kind >= CondAttrString {
		c.f2, rest, ok = lenPrefixed(rest)
	}
	return c, rest, ok
}

func checkConds(a []byte) string {
	if len(a) == 0 {
		return "no conditions"
	}
	for n := 0; len(a) > 0; n++ {
		c, rest, ok := nextCond(a)
		if !ok {
			return fmt.Sprintf("condition %d is cut short", n)
		}
		var r string
		switch c.kind {
		case CondName, CondBody:
			r = checkPattern(c.f1)
		case CondAttrExists:
			r = validKey(c.f1)
		case CondAttrString:
			r = validKey(c.f1) // the value is compared as bytes
		case CondAttrNumber:
			if r = validKey(c.f1); r == "" && len(c.f2) != 8 {
				r = fmt.Sprintf("number is %d bytes, want 8", len(c.f2))
			}
		case CondAttrBool:
			if r = validKey(c.f1); r == "" && (len(c.f2) != 1 || c.f2[0] > 1) {
				r = "boolean is not one byte 0 or 1"
			}
		case CondAttrMatch:
			r = firstOf(validKey(c.f1), checkPattern(c.f2))
		default:
			r = fmt.Sprintf("unknown kind %d", c.kind)
		}
		if r != "" {
			return fmt.Sprintf("condition %d: %s", n, r)
		}
		a = rest
	}
	return ""
}

// maskArgs splits MASK_VALUES's A into its pattern and key list.
func maskArgs(a []byte) (pattern, keys []byte, ok bool) {
	pattern, keys, ok = lenPrefixed(a)
	return
}

func checkMask(arg uint32, a []byte) string {
	if r := flags(arg, MaskDetector|MaskExceptKeys); r != "" {
		return r
	}
	pattern, keys, ok := maskArgs(a)
	if !ok {
		return "a: pattern is cut short"
	}
	d := int(arg & MaskDetector)
	switch {
	case d == 0:
		if r := checkPattern(pattern); r != "" {
			return r
		}
	case detect.Get(d) == nil:
		return fmt.Sprintf("detector %d, want 0 (pattern) or 1..%d", d, len(detect.Names)-1)
	case len(pattern) > 0:
		return "a detector takes no pattern"
	}
	for n := 0; len(keys) > 0; n++ {
		var k []byte
		if k, keys, ok = lenPrefixed(keys); !ok {
			return fmt.Sprintf("key %d is cut short", n)
		}
		if r := validKey(k); r != "" {
			return fmt.Sprintf("key %d: %s", n, r)
		}
	}
	return ""
}

// dropped says whether an earlier edit dropped item i.
func (s *editScratch) dropped(i int) bool {
	m := s.itemMark[i]
	return m != 0 && s.items[m-1].drop
}

// drop drops item i for edit ed, counting it for ed's list, and reports
// whether it was not dropped already.
func (s *editScratch) drop(ix *Index, i int, ed *Edit, segDrops []int, segReasons [][]byte, reason []byte) bool {
	st := &s.items[s.touchItem(ix, int32(i))]
	if st.drop {
		return false
	}
	st.drop = true
	segDrops[ed.seg]++
	s.countDrop(ed.seg, reason)
	if segReasons[ed.seg] == nil && len(reason) > 0 {
		segReasons[ed.seg] = reason
	}
	return true
}

// body is log record i's string body, found once per Apply.
func (s *editScratch) body(ix *Index, req []byte, i int) ([]byte, bool) {
	if len(s.bodyOK) != len(ix.ItemsAt) {
		s.bodies = append(s.bodies[:0], make([]span32, len(ix.ItemsAt))...)
		s.bodyOK = append(s.bodyOK[:0], make([]uint8, len(ix.ItemsAt))...)
	}
	if s.bodyOK[i] == 0 {
		s.bodyOK[i] = 2
		if off, end, ok := logBody(req, &ix.ItemsAt[i]); ok {
			s.bodies[i], s.bodyOK[i] = span32{int32(off), int32(end)}, 1
		}
	}
	b := s.bodies[i]
	return req[b.off:b.end], s.bodyOK[i] == 1
}

// dropMatching applies DROP_MATCH ed and returns how many items it dropped.
func (s *editScratch) dropMatching(ix *Index, req []byte, ed *Edit, segDrops []int, segReasons [][]byte) int {
	s.conds = s.conds[:0]
	for a := ed.A; len(a) > 0; {
		c, rest, _ := nextCond(a)
		switch c.kind {
		case CondName, CondBody:
			c.m, _ = compiled(c.f1) // Decode compiled it
		case CondAttrMatch:
			c.m, _ = compiled(c.f2)
		}
		s.conds = append(s.conds, c)
		a = rest
	}
	n := 0
	for i := range ix.ItemsAt {
		if !s.dropped(i) && s.meets(ix, req, i) && s.drop(ix, i, ed, segDrops, segReasons, ed.B) {
			n++
		}
	}
	return n
}

// meets says whether item i meets every condition in s.conds.
func (s *editScratch) meets(ix *Index, req []byte, i int) bool {
	it := &ix.ItemsAt[i]
	for k := range s.conds {
		c := &s.conds[k]
		switch c.kind {
		case CondName:
			if !c.m.Match(view(req[it.NameOff:it.NameEnd])) {
				return false
			}
		case CondBody:
			if ix.Signal != Logs {
				return false
			}
			if b, ok := s.body(ix, req, i); !ok || !c.m.Match(view(b)) {
				return false
			}
		default:
			vt, p, ok := s.itemAttr(ix, req, i, c.f1)
			if !ok || !valueMeets(c, vt, p) {
				return false
			}
		}
	}
	return true
}

func valueMeets(c *cond, vt ValueType, p []byte) bool {
	switch c.kind {
	case CondAttrString:
		return vt == ValueString && string(p) == string(c.f2)
	case CondAttrNumber:
		want := math.Float64frombits(binary.LittleEndian.Uint64(c.f2))
		switch vt {
		case ValueInt:
			v, _ := protowire.ConsumeVarint(p)
			return float64(int64(v)) == want
		case ValueDouble:
			return len(p) == 8 && math.Float64frombits(binary.LittleEndian.Uint64(p)) == want
		}
		return false
	case CondAttrBool:
		v, _ := protowire.ConsumeVarint(p)
		return vt == ValueBool && (v != 0) == (c.f2[0] == 1)
	case CondAttrMatch:
		return vt == ValueString && c.m.Match(view(p))
	}
	return true // CondAttrExists
}

// itemAttr is the value of item i's first attribute with key, as the edits
// so far leave the item's attributes (appended ones included).
func (s *editScratch) itemAttr(ix *Index, req []byte, i int, key []byte) (ValueType, []byte, bool) {
	it := &ix.ItemsAt[i]
	for a := it.AttrStart; a < it.AttrEnd; a++ {
		at := &ix.Attrs[a]
		if int(at.KeyEnd-at.KeyOff) != len(key) && s.attrMark[a] == 0 {
			continue
		}
		if k, live := s.liveKey(ix, req, a); live && string(k) == string(key) {
			vt, p, _ := s.currentValue(ix, req, a)
			return vt, p, true
		}
	}
	if m := s.itemMark[i]; m != 0 {
		for k := s.items[m-1].addHead; k >= 0; k = s.adds[k].next {
			if ad := &s.adds[k]; !ad.deleted && string(ad.key) == string(key) {
				vt, p := ad.val.value()
				return vt, p, true
			}
		}
	}
	return 0, nil, false
}

// sample applies SAMPLE ed: OpenTelemetry's consistent probability
// sampling, which decides on the low 56 bits of the trace ID (random by
// W3C Trace Context level 2), so every gateway and SDK that samples a trace
// at the same threshold keeps or drops all of it.
func (s *editScratch) sample(ix *Index, req []byte, ed *Edit, segDrops []int, segReasons [][]byte) int {
	threshold := binary.LittleEndian.Uint64(ed.A)
	n := 0
	for i := range ix.ItemsAt {
		off := int(ix.ItemsAt[i].TraceIDOff)
		if off == 0 || off+16 > len(req) || s.dropped(i) {
			continue
		}
		id := req[off : off+16]
		r := uint64(id[9])<<48 | uint64(id[10])<<40 | uint64(id[11])<<32 |
			uint64(id[12])<<24 | uint64(id[13])<<16 | uint64(id[14])<<8 | uint64(id[15])
		// An all-zero (invalid) trace ID says nothing about the trace: keep.
		if r < threshold && !allZero(id) && s.drop(ix, i, ed, segDrops, segReasons, ed.B) {
			n++
		}
	}
	return n
}

// dropSeverity applies DROP_SEVERITY ed. Severity 0 (unspecified) is
// kept: unknown is not low.
func (s *editScratch) dropSeverity(ix *Index, req []byte, ed *Edit, segDrops []int, segReasons [][]byte) int {
	n := 0
	var f itemFields
	for i := range ix.ItemsAt {
		if s.dropped(i) || !scanItem(req, &ix.ItemsAt[i], mLogRecord, &f) {
			continue
		}
		if f.severity >= 1 && f.severity <= int64(ed.Arg) && s.drop(ix, i, ed, segDrops, segReasons, ed.B) {
			n++
		}
	}
	return n
}

// isValueOp says whether op changes attributes one at a time, each
// independently of the others: a run of such records is applied in one
// pass over the attributes (valueOps), which is what makes a filter with a
// dozen keys and mask rules cost one walk, not a dozen.
func isValueOp(op Op) bool {
	return op == OpDeleteKey || op == OpHashValues || op == OpMaskValues
}

// valueOp is one record of such a run, ready to apply.
type valueOp struct {
	ed   *Edit
	fold bool
	mask masker // MASK_VALUES
}

// valueOps applies run, consecutive DELETE_KEY, HASH_VALUES and
// MASK_VALUES records, as if one after the other: each attribute goes
// through the records in order, each seeing what the ones before left.
// Attributes of items an earlier edit dropped are skipped.
func (s *editScratch) valueOps(ix *Index, req []byte, run []Edit) {
	s.vops = s.vops[:0]
	s.maskKeys = s.maskKeys[:0]
	var keyEnds [64]int // where each MASK_VALUES's keys end in maskKeys
	for k := range run {
		ed := &run[k]
		op := valueOp{ed: ed, fold: ed.Arg&1 != 0}
		if ed.Op == OpMaskValues {
			pattern, keys, _ := maskArgs(ed.A)
			op.mask = masker{find: detect.Get(int(ed.Arg & MaskDetector)), repl: ed.B, except: ed.Arg&MaskExceptKeys != 0}
			if op.mask.find == nil {
				m, _ := compiled(pattern) // Decode compiled it
				op.mask.re = m.Regexp()
			}
			for len(keys) > 0 {
				var key []byte
				key, keys, _ = lenPrefixed(keys)
				s.maskKeys = append(s.maskKeys, key)
			}
		}
		if k < len(keyEnds) {
			keyEnds[k] = len(s.maskKeys)
		}
		s.vops = append(s.vops, op)
	}
	if len(run) > len(keyEnds) {
		// Rare: apply longer runs in pieces, which means the same.
		s.valueOps(ix, req, run[:len(keyEnds)])
		s.valueOps(ix, req, run[len(keyEnds):])
		return
	}
	// maskKeys is complete, so slicing it is now safe.
	from := 0
	for k := range s.vops {
		s.vops[k].mask.keys = s.maskKeys[from:keyEnds[k]:keyEnds[k]]
		from = keyEnds[k]
	}
	for a := range ix.Attrs {
		at := &ix.Attrs[a]
		if at.Owner == OwnerItem && s.dropped(int(at.Parent)) {
			continue
		}
		bit := ownerBit(at.Owner)
		// The key changes only by deletion, which ends the attribute's
		// run; the value only by this loop's own rewrites.
		key, live := s.liveKey(ix, req, int32(a))
		if !live {
			continue
		}
		vt, p, _ := s.currentValue(ix, req, int32(a))
		for k := range s.vops {
			op := &s.vops[k]
			if op.ed.Owner&bit == 0 {
				continue
			}
			s.seg = op.ed.seg // a run may hold several lists' records
			if op.ed.Op == OpDeleteKey {
				if sameKey(key, op.ed.A, op.fold) {
					s.attrs[s.touchAttr(ix, int32(a))].deleted = true
					break
				}
				continue
			}
			if !s.covers(op, key) {
				continue
			}
			if v, ok := s.rewrite(op, vt, p); ok {
				st := &s.attrs[s.touchAttr(ix, int32(a))]
				st.val = v
				vt, p = st.val.value()
			}
		}
	}
	// Attributes earlier edits appended count too, as they would once the
	// request were re-indexed.
	for k := range s.adds {
		ad := &s.adds[k]
		bit := ownerBit(ad.owner)
		for j := range s.vops {
			op := &s.vops[j]
			if ad.deleted || op.ed.Owner&bit == 0 {
				continue
			}
			s.seg = op.ed.seg
			switch {
			case op.ed.Op == OpDeleteKey:
				if ad.deleted = sameKey(ad.key, op.ed.A, op.fold); ad.deleted {
					s.mark()
				}
			case s.covers(op, ad.key):
				vt, p := ad.val.value()
				if v, ok := s.rewrite(op, vt, p); ok {
					ad.val = v
					s.mark()
				}
			}
		}
	}
}

// covers says whether HASH_VALUES or MASK_VALUES op applies to key.
func (s *editScratch) covers(op *valueOp, key []byte) bool {
	if op.ed.Op == OpHashValues {
		return sameKey(key, op.ed.A, op.fold)
	}
	return op.mask.covers(key)
}

// rewrite returns the value HASH_VALUES or MASK_VALUES op gives a value,
// or false when it leaves it.
func (s *editScratch) rewrite(op *valueOp, vt ValueType, p []byte) (valueState, bool) {
	if op.ed.Op == OpHashValues {
		return s.hashed(op.ed.B, vt, p), true
	}
	return s.masked(&op.mask, vt, p)
}

// hashed is the value HASH_VALUES gives a value of type vt and payload p:
// the lower-case hex SHA-256 of salt followed by the value's text.
func (s *editScratch) hashed(salt []byte, vt ValueType, p []byte) valueState {
	if s.sha == nil {
		s.sha = sha256.New()
	}
	s.text = appendText(s.text[:0], vt, p, true)
	s.sha.Reset()
	s.sha.Write(salt)
	s.sha.Write(s.text)
	sum := s.sha.Sum(s.sum[:0])
	start := len(s.vals)
	s.vals = append(s.vals, anyStringTag, 2*sha256.Size)
	s.vals = hex.AppendEncode(s.vals, sum)
	return valueState{set: true, data: s.vals[start:len(s.vals):len(s.vals)]}
}

// anyStringTag is AnyValue.string_value's tag.
const anyStringTag = 1<<3 | byte(protowire.BytesType)

// appendText appends the text HASH_VALUES hashes for a value: at the top
// level a string's or bytes' own bytes; inside an array or map those
// quoted; a bool, int or double as strconv formats it; an array as
// [a,b], a map as {"k":v}; an empty value as null. The stock redact
// filter's README documents the same rendering, so that users can compute
// a hash to look for.
func appendText(b []byte, vt ValueType, p []byte, top bool) []byte {
	switch vt {
	case ValueString, ValueBytes:
		if top {
			return append(b, p...)
		}
		return strconv.AppendQuote(b, view(p))
	case ValueBool:
		v, _ := protowire.ConsumeVarint(p)
		return strconv.AppendBool(b, v != 0)
	case ValueInt, ValueStrindex:
		v, _ := protowire.ConsumeVarint(p)
		return strconv.AppendInt(b, int64(v), 10)
	case ValueDouble:
		if len(p) == 8 {
			return strconv.AppendFloat(b, math.Float64frombits(binary.LittleEndian.Uint64(p)), 'g', -1, 64)
		}
	case ValueArray:
		b = append(b, '[')
		first := true
		eachListValue(p, false, func(_ []byte, vt ValueType, e []byte) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendText(b, vt, e, false)
		})
		return append(b, ']')
	case ValueKvlist:
		b = append(b, '{')
		first := true
		eachListValue(p, true, func(k []byte, vt ValueType, e []byte) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendQuote(b, view(k))
			b = append(b, ':')
			b = appendText(b, vt, e, false)
		})
		return append(b, '}')
	}
	return append(b, "null"...)
}

// eachListValue calls fn for each element of an ArrayValue (kv false) or
// KeyValueList (kv true) body p, with the element's key (kvlist only),
// type and payload. Parse validated p.
func eachListValue(p []byte, kv bool, fn func(key []byte, vt ValueType, payload []byte)) {
	for len(p) > 0 {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			return
		}
		p = p[n:]
		if num != 1 || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, p); n < 0 {
				return
			}
			p = p[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(p)
		if n < 0 {
			return
		}
		p = p[n:]
		var key []byte
		if kv {
			var ok bool
			if key, v, ok = keyValueParts(v); !ok {
				continue
			}
		}
		pr := parser{b: v}
		vt, vs, ve, err := pr.anyValue(0, len(v), 1)
		if err != nil {
			continue
		}
		fn(key, vt, v[vs:ve])
	}
}

// keyValueParts splits a KeyValue body into its key and AnyValue body.
func keyValueParts(b []byte) (key, value []byte, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, false
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, false
			}
			if num == 1 {
				key = v
			} else {
				value = v
			}
			b = b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return nil, nil, false
		}
		b = b[n:]
	}
	return key, value, true
}

// masker is one MASK_VALUES record, ready to run.
type masker struct {
	find   detect.Detector // nil for a pattern
	re     *regexp.Regexp
	repl   []byte
	keys   [][]byte
	except bool
}

func (m *masker) covers(key []byte) bool {
	if len(m.keys) == 0 {
		return true
	}
	for _, k := range m.keys {
		if sameKey(key, k, true) {
			return !m.except
		}
	}
	return m.except
}

// each calls fn with the bounds of every non-empty run m masks in s, in
// order.
func (m *masker) each(s []byte, fn func(start, end int)) {
	if m.find != nil {
		for from := 0; from < len(s); {
			st, en := m.find(view(s), from)
			if st < 0 {
				return
			}
			fn(st, en)
			from = en
		}
		return
	}
	// Match first: it does not allocate, and most values do not match.
	if !m.re.Match(s) {
		return
	}
	for _, r := range m.re.FindAllIndex(s, -1) {
		if r[1] > r[0] { // an empty match hides nothing
			fn(r[0], r[1])
		}
	}
}

func (m *masker) hits(s []byte) bool {
	hit := false
	if m.find != nil {
		st, _ := m.find(view(s), 0)
		return st >= 0
	}
	m.each(s, func(int, int) { hit = true })
	return hit
}

// nestedHit says whether an array or map payload holds, anywhere, a
// string m masks something in.
func (m *masker) nestedHit(vt ValueType, p []byte) bool {
	hit := false
	eachListValue(p, vt == ValueKvlist, func(_ []byte, evt ValueType, e []byte) {
		switch {
		case hit:
		case evt == ValueString:
			hit = m.hits(e)
		case evt == ValueArray || evt == ValueKvlist:
			hit = m.nestedHit(evt, e)
		}
	})
	return hit
}

// masked is the value MASK_VALUES m gives a value, or false when it
// leaves it. A string has each match replaced; an array or map holding a
// match anywhere becomes the replacement as a whole, because a bulk edit
// sets whole values.
func (s *editScratch) masked(m *masker, vt ValueType, p []byte) (valueState, bool) {
	switch vt {
	case ValueString:
		out, last := s.text[:0], 0
		m.each(p, func(st, en int) {
			out = append(append(out, p[last:st]...), m.repl...)
			last = en
		})
		if last == 0 { // every match ends after its start
			return valueState{}, false
		}
		s.text = append(out, p[last:]...)
		return s.stringValue(s.text), true
	case ValueArray, ValueKvlist:
		if m.nestedHit(vt, p) {
			return s.stringValue(m.repl), true
		}
	}
	return valueState{}, false
}

// stringValue stores a string AnyValue body holding p and returns it as a
// set value.
func (s *editScratch) stringValue(p []byte) valueState {
	start := len(s.vals)
	s.vals = append(s.vals, anyStringTag)
	s.vals = protowire.AppendVarint(s.vals, uint64(len(p)))
	s.vals = append(s.vals, p...)
	return valueState{set: true, data: s.vals[start:len(s.vals):len(s.vals)]}
}

// ReasonDrop is how many items one edit list (Segment, numbered as
// Edits.SegmentDrops) dropped for one reason. Other marks the entry that
// counts a list's drops for reasons beyond MaxReasonDrops; its Reason is
// nil.
type ReasonDrop struct {
	Segment int
	Reason  []byte
	Other   bool
	Items   int
}

// MaxReasonDrops bounds the distinct reasons Edits.Drops tells apart in
// one Apply: a guest may give every item its own reason.
const MaxReasonDrops = 32

// countDrop counts one item list seg dropped for reason.
func (s *editScratch) countDrop(seg int32, reason []byte) {
	// Drops come in runs of one reason: try the last entry first.
	if n := len(s.drops); n > 0 {
		if d := &s.drops[n-1]; d.Segment == int(seg) && !d.Other && string(d.Reason) == string(reason) {
			d.Items++
			return
		}
	}
	reasons := 0
	for k := range s.drops {
		d := &s.drops[k]
		if d.Segment == int(seg) && !d.Other && string(d.Reason) == string(reason) {
			d.Items++
			return
		}
		if !d.Other {
			reasons++
		}
	}
	if reasons < MaxReasonDrops {
		s.drops = append(s.drops, ReasonDrop{Segment: int(seg), Reason: reason, Items: 1})
		return
	}
	for k := range s.drops {
		if d := &s.drops[k]; d.Segment == int(seg) && d.Other {
			d.Items++
			return
		}
	}
	s.drops = append(s.drops, ReasonDrop{Segment: int(seg), Other: true, Items: 1})
}

// contentScratch is editScratch's space for the edits in this file.
type contentScratch struct {
	drops    []ReasonDrop
	conds    []cond
	vops     []valueOp
	maskKeys [][]byte
	// vals holds the AnyValue bodies HASH_VALUES and MASK_VALUES set; like
	// times, it only grows into a new array, so earlier values stay put.
	vals []byte
	text []byte
	sha  hash.Hash
	sum  [sha256.Size]byte
}

// normalizeKey applies NORMALIZE_KEY ed to every owner in its mask.
func (s *editScratch) normalizeKey(ix *Index, req []byte, ed *Edit) {
	if ed.Owner&EditOwnersResource != 0 {
		for r := range ix.Resources {
			s.normalizeOn(ix, req, OwnerResource, int32(r), ed.A)
		}
	}
	if ed.Owner&EditOwnersScope != 0 {
		for sc := range ix.Scopes {
			s.normalizeOn(ix, req, OwnerScope, int32(sc), ed.A)
		}
	}
	if ed.Owner&EditOwnersItem != 0 {
		for i := range ix.ItemsAt {
			if !s.dropped(i) {
				s.normalizeOn(ix, req, OwnerItem, int32(i), ed.A)
			}
		}
	}
}

// normalizeOn gives owner t's other spellings of key that key, keeping
// at most one attribute so keyed.
func (s *editScratch) normalizeOn(ix *Index, req []byte, owner AttrOwner, t int32, key []byte) {
	a0, a1 := attrRange(ix, owner, t)
	has, others := false, false
	spelling := func(k []byte) (exact, other bool) {
		if len(k) != len(key) {
			return false, false
		}
		if string(k) == string(key) {
			return true, false
		}
		return false, sameKey(k, key, true)
	}
	for a := a0; a < a1; a++ {
		if at := &ix.Attrs[a]; at.Owner == owner && at.Parent == t {
			if k, live := s.liveKey(ix, req, a); live {
				e, o := spelling(k)
				has, others = has || e, others || o
			}
		}
	}
	for k := s.addHead(owner, t); k >= 0; k = s.adds[k].next {
		if ad := &s.adds[k]; !ad.deleted {
			e, o := spelling(ad.key)
			has, others = has || e, others || o
		}
	}
	if !others {
		return
	}
	for a := a0; a < a1; a++ {
		at := &ix.Attrs[a]
		if at.Owner != owner || at.Parent != t {
			continue
		}
		k, live := s.liveKey(ix, req, a)
		if _, o := spelling(k); !live || !o {
			continue
		}
		st := &s.attrs[s.touchAttr(ix, a)]
		if has {
			st.deleted = true
		} else {
			st.rekey, st.key, has = true, key, true
		}
	}
	for k := s.addHead(owner, t); k >= 0; k = s.adds[k].next {
		ad := &s.adds[k]
		if _, o := spelling(ad.key); ad.deleted || !o {
			continue
		}
		s.mark()
		if has {
			ad.deleted = true
		} else {
			ad.key, has = key, true
		}
	}
}
