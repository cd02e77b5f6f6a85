package otlpwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// A filter answers each batch with an edit list (sdk/ABI.md §4). Decode
// checks it against the batch's index; Apply then writes the edited request
// in one pass: every resource, scope, metric, item and attribute that no
// edit touches is copied through as a byte range, and only the touched ones
// are re-encoded, with the length prefixes of their enclosing entries fixed.

// Op is an edit list operation (sdk/ABI.md §4).
type Op uint8

// Edit list operations, numbered as in the ABI.
const (
	OpDropItem     Op = 1  // target item; A = reason
	OpDeleteAttr   Op = 2  // target attr
	OpSetAttr      Op = 3  // target owner (Owner 1/2/3); A = key, B = AnyValue body
	OpTruncateAttr Op = 4  // target attr; Arg = max bytes
	OpRenameAttr   Op = 5  // target attr; A = new key
	OpSetName      Op = 6  // target item (Owner 3) or metric (Owner 4); A = name
	OpSetStatus    Op = 7  // target span; Arg = status code; A = message
	OpSetFixed64   Op = 8  // target item; Arg = field number; A = 8 bytes
	OpReject       Op = 9  // A = reason; the only record
	OpReplace      Op = 10 // A = a whole encoded request; the only record
	// Bulk edits: one record covers every indexed attribute of the owners
	// in its Owner mask (EditOwnersResource|Scope|Item), so a filter that
	// deletes a key or caps values everywhere does no per-attribute work.
	OpDeleteKey      Op = 11 // Owner mask; A = key; Arg bit 0 = ASCII case-insensitive
	OpTruncateValues Op = 12 // Owner mask; Arg = max bytes of string and bytes values
	OpDropNamed      Op = 13 // A = name; B = reason; Arg bit 0 = match a log record's string body instead: drop every item so named
	OpSetDefault     Op = 14 // Owner mask; A = key; B = AnyValue body: set the attribute on every owner that lacks the key or has it empty
	OpCapAttrs       Op = 15 // Owner mask; Arg = n: every owner keeps its first n attributes and loses the rest
	OpClampFuture    Op = 16 // A = limit, now (2 × u64): timestamps after limit become now
	OpDropInvalid    Op = 17 // Arg = checks; A = min, max time (2 × u64); B = the reasons: drop items failing a check
	OpDropMatch      Op = 18 // A = conditions (Cond*); B = reason: drop every item meeting them all
	OpSample         Op = 19 // A = threshold (u64); B = reason: drop spans and log records whose trace ID's low 56 bits are below it
	OpDropSeverity   Op = 20 // Arg = max severity; B = reason: drop log records of severity 1..Arg
	OpHashValues     Op = 21 // Owner mask; A = key; B = salt; Arg bit 0 = ASCII case-insensitive: values become hex SHA-256(salt, text)
	OpMaskValues     Op = 22 // Owner mask; Arg = detector | MaskExceptKeys; A = pattern, keys; B = replacement
	OpNormalizeKey   Op = 23 // Owner mask; A = key: other ASCII spellings of it are renamed to it, or deleted where the owner has it
)

// Checks of DROP_INVALID (its Arg).
const (
	CheckIDs        = 1
	CheckTimestamps = 2
	CheckNames      = 4
	CheckHistograms = 8
	CheckSeverity   = 16
	allChecks       = 31
)

// Reasons of DROP_INVALID, in the order its B lists them, each ending in a
// NUL byte.
const (
	reasonTraceID = iota
	reasonSpanID
	reasonEmptyName
	reasonMissingTime
	reasonOldTime
	reasonFutureTime
	reasonStartAfter
	reasonBuckets
	reasonCount
	reasonSeverity
	numInvalidReasons
)

// DropNamedBody is DROP_NAMED's Arg bit that matches a log record's body
// (a string value) instead of its name.
const DropNamedBody = 1

// Owner mask bits of the bulk edits.
const (
	EditOwnersResource = 1
	EditOwnersScope    = 2
	EditOwnersItem     = 4
)

var opNames = [...]string{"", "DROP_ITEM", "DELETE_ATTR", "SET_ATTR", "TRUNCATE_ATTR", "RENAME_ATTR", "SET_NAME", "SET_STATUS", "SET_FIXED64", "REJECT", "REPLACE", "DELETE_KEY", "TRUNCATE_VALUES", "DROP_NAMED", "SET_DEFAULT", "CAP_ATTRS", "CLAMP_FUTURE", "DROP_INVALID", "DROP_MATCH", "SAMPLE", "DROP_SEVERITY", "HASH_VALUES", "MASK_VALUES", "NORMALIZE_KEY"}

// String returns the ABI name, e.g. "SET_ATTR".
func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Edit owners beyond AttrOwner's 1 resource, 2 scope, 3 item: SET_NAME on a
// metric names owner 4.
const EditOwnerMetric = 4

// Edit list limits (sdk/ABI.md §4).
const (
	// MaxEditListSize is the largest edit list Decode accepts, in bytes.
	MaxEditListSize = 64 << 20
	// MaxEditRecords is the most records an edit list may hold.
	MaxEditRecords = 1_000_000
	// MaxBulkEdits is the most bulk edits one list may hold: each walks
	// the whole batch, so they, not the list's size, bound the host's work.
	MaxBulkEdits = 1024
	// MaxPatternBytes bounds the patterns one list may hold (DROP_MATCH
	// conditions and MASK_VALUES patterns, counted by their records' a),
	// so that compiling them stays cheap when none is cached.
	MaxPatternBytes = 64 << 10
	// EditHeaderSize is the size of a record's fixed header, in bytes.
	EditHeaderSize = 20
)

// Edit is one decoded record of an edit list. A and B alias the buffer it
// was decoded from.
type Edit struct {
	Op     Op
	Owner  uint8  // 1 resource, 2 scope, 3 item, 4 metric; 0 for ops that take none
	Target uint32 // index into the table the op names; 0 when unused
	Arg    uint32 // op-specific; 0 when unused
	A, B   []byte
	// seg is the number of the edit list (the filter) the record came
	// from, when several filters' lists are applied together.
	seg int32
}

// IsBulk says whether the op is a bulk edit: one that names no target and
// so means the same on any batch of its signal.
func (o Op) IsBulk() bool {
	return o >= OpDeleteKey && o <= OpNormalizeKey
}

// AppendEdit appends e in the ABI's binary record format, zero padding
// included, to dst and returns it. Guest SDKs have their own encoder; this
// one serves host tests and native harnesses.
func AppendEdit(dst []byte, e Edit) []byte {
	le := binary.LittleEndian
	dst = append(dst, byte(e.Op), e.Owner, 0, 0)
	dst = le.AppendUint32(dst, e.Target)
	dst = le.AppendUint32(dst, e.Arg)
	dst = le.AppendUint32(dst, uint32(len(e.A)))
	dst = le.AppendUint32(dst, uint32(len(e.B)))
	dst = append(dst, e.A...)
	dst = append(dst, e.B...)
	for n := len(e.A) + len(e.B); n%4 != 0; n++ {
		dst = append(dst, 0)
	}
	return dst
}

// Verdict is what an edit list asks of the batch as a whole.
type Verdict uint8

const (
	// VerdictEdit: apply List (which may be empty: keep the batch as is).
	VerdictEdit Verdict = iota
	// VerdictReject: refuse the request; RejectReason says why.
	VerdictReject
	// VerdictReplace: send Replacement instead of the batch.
	VerdictReplace
)

// Edits is a decoded edit list. Reuse one per worker: Decode and Apply keep
// its slices and scratch space, and allocate nothing once they are big
// enough. Every byte slice in it aliases the buffer given to Decode (guest
// memory, for a WASM filter), so finish with it, and copy what must outlive
// it, before that buffer is reused.
type Edits struct {
	Verdict Verdict
	// List holds the records in list order when Verdict is VerdictEdit.
	List []Edit
	// DropReason is the first non-empty DROP_ITEM reason; nil when none.
	DropReason []byte
	// RejectReason is the REJECT record's reason (VerdictReject).
	RejectReason []byte
	// Replacement is the REPLACE record's request (VerdictReplace); Decode
	// has validated it as a request of the batch's signal.
	Replacement []byte
	// ReplaceItems is how many items Replacement holds.
	ReplaceItems int

	// Segments is how many edit lists List holds: 1 after Decode, one more
	// after each DecodeMore. SegmentDrops[k] and SegmentReasons[k] are, per
	// list, the items Apply found it dropped first and its first non-empty
	// drop reason.
	Segments       int
	SegmentDrops   []int
	SegmentReasons [][]byte
	// SegmentChanged[k] says, after Apply, whether list k changed the
	// request as the lists before it left it (a drop, a rewrite, an
	// added attribute): what the filter that wrote it would have changed
	// applied alone after them. Per-filter metrics read it.
	SegmentChanged []bool
	// Drops counts, after Apply, the items each list dropped by reason, in
	// the order reasons first dropped something: at most MaxReasonDrops
	// reasons in all, and past that one Other entry per list for the rest.
	// Reasons alias the edit list, as A and B do.
	Drops []ReasonDrop

	// The index shape Decode checked targets against; Apply refuses another.
	shape indexShape
	sc    editScratch
}

type indexShape struct {
	sig                     Signal
	items                   int
	res, scopes, mets, itms int
	attrs                   int
}

func shapeOf(ix *Index) indexShape {
	return indexShape{ix.Signal, ix.Items, len(ix.Resources), len(ix.Scopes), len(ix.Metrics), len(ix.ItemsAt), len(ix.Attrs)}
}

// EditError is what Decode returns for an edit list that breaks the ABI's
// rules: the filter produced bad output.
type EditError struct {
	// Record is the 0-based number of the offending record; -1 when the list
	// as a whole is at fault.
	Record int
	// Offset is the record's byte offset in the list (the list's length when
	// Record is -1 and the size is at fault).
	Offset int
	// Op is the record's op; 0 when Record is -1 or the header is cut short.
	Op Op
	// Reason says what is wrong, e.g. "target 12 out of range (5 attrs)".
	Reason string
}

// Error reads like "edit list: record 3 (SET_ATTR, byte 60): key is empty".
func (e *EditError) Error() string {
	if e.Record < 0 {
		return "edit list: " + e.Reason
	}
	if e.Op == 0 {
		return fmt.Sprintf("edit list: record %d (byte %d): %s", e.Record, e.Offset, e.Reason)
	}
	return fmt.Sprintf("edit list: record %d (%s, byte %d): %s", e.Record, e.Op, e.Offset, e.Reason)
}

// Decode parses and validates buf, an edit list produced for the request ix
// indexes, into e, reusing e's slices. An empty buf is an empty list.
//
// Beyond the ABI's stated rules (targets in range, owner matching the op,
// TRUNCATE_ATTR's arg, SET_ATTR's key non-empty and value a well-formed
// AnyValue body, REJECT and REPLACE alone, the size and record caps) it
// insists on what makes a record unambiguous: the reserved u16 is 0; fields
// an op does not use (owner, target, arg, a, b) are 0 or empty; padding is
// zero bytes; the records end exactly at the end of buf; keys, names,
// status messages and reasons are valid UTF-8 (they become protobuf
// strings); SET_NAME with owner 3 is refused on metrics (a data point has
// no name: use owner 4); SET_STATUS only targets spans; SET_FIXED64 names a
// singular fixed64 field of the target item's message and carries exactly
// 8 bytes; a REPLACE request is a valid request of the same signal.
// On error the error is an *EditError, and Apply refuses e until the next
// successful Decode.
func (e *Edits) Decode(buf []byte, ix *Index) error {
	if err := e.decode(buf, ix); err != nil {
		e.Verdict, e.List, e.shape = VerdictEdit, e.List[:0], indexShape{sig: NumSignals}
		return err
	}
	return nil
}

func (e *Edits) decode(buf []byte, ix *Index) error {
	e.Verdict = VerdictEdit
	e.List = e.List[:0]
	e.DropReason, e.RejectReason, e.Replacement, e.ReplaceItems = nil, nil, nil, 0
	e.Segments, e.SegmentReasons = 1, append(e.SegmentReasons[:0], nil)
	e.shape = shapeOf(ix)
	return e.decodeSegment(buf, ix, 0)
}

// DecodeMore decodes buf, one more filter's edit list, and appends its
// records to e's as the next segment, so that Apply runs several filters'
// lists in one pass, in order, with each list's drops counted apart.
// Appending is only sound for lists that do not depend on the batch as
// the earlier lists leave it: DecodeMore accepts bulk edits only (see
// Op.IsBulk), after a successful Decode against the same index whose
// verdict is VerdictEdit. On error e is left as Decode leaves it on error.
func (e *Edits) DecodeMore(buf []byte, ix *Index) error {
	err := func() error {
		if e.Verdict != VerdictEdit || e.shape != shapeOf(ix) {
			return &EditError{Record: -1, Reason: "DecodeMore after a failed Decode, a REJECT or REPLACE, or against another index"}
		}
		seg := e.Segments
		e.Segments++
		e.SegmentReasons = append(e.SegmentReasons, nil)
		first := len(e.List)
		if err := e.decodeSegment(buf, ix, seg); err != nil {
			return err
		}
		for k, ed := range e.List[first:] {
			if !ed.Op.IsBulk() {
				return &EditError{Record: k, Op: ed.Op, Reason: "only bulk edits can be applied together with another filter's"}
			}
		}
		return nil
	}()
	if err != nil {
		e.Verdict, e.List, e.shape = VerdictEdit, e.List[:0], indexShape{sig: NumSignals}
	}
	return err
}

// Bulk says whether every record of a decoded VerdictEdit list is a bulk
// edit (true for an empty list).
func (e *Edits) Bulk() bool {
	if e.Verdict != VerdictEdit {
		return false
	}
	for k := range e.List {
		if !e.List[k].Op.IsBulk() {
			return false
		}
	}
	return true
}

// decodeSegment decodes buf's records and appends them to e.List as
// segment seg.
func (e *Edits) decodeSegment(buf []byte, ix *Index, seg int) error {
	if len(buf) > MaxEditListSize {
		return &EditError{Record: -1, Offset: len(buf), Reason: fmt.Sprintf("%d bytes exceeds the %d-byte limit", len(buf), MaxEditListSize)}
	}
	le := binary.LittleEndian
	first := len(e.List)
	n, bulk, patterns := 0, 0, 0
	for off := 0; off < len(buf); n++ {
		if n == MaxEditRecords {
			return &EditError{Record: n, Offset: off, Reason: fmt.Sprintf("more than %d records", MaxEditRecords)}
		}
		if len(buf)-off < EditHeaderSize {
			return &EditError{Record: n, Offset: off, Reason: fmt.Sprintf("%d bytes left, a record header needs %d", len(buf)-off, EditHeaderSize)}
		}
		h := buf[off : off+EditHeaderSize]
		ed := Edit{Op: Op(h[0]), Owner: h[1], Target: le.Uint32(h[4:]), Arg: le.Uint32(h[8:]), seg: int32(seg)}
		la, lb := uint64(le.Uint32(h[12:])), uint64(le.Uint32(h[16:]))
		if r := le.Uint16(h[2:]); r != 0 {
			return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: fmt.Sprintf("reserved field is %d, want 0", r)}
		}
		body := uint64(off + EditHeaderSize)
		padded := (la + lb + 3) &^ 3
		if padded > uint64(len(buf))-body {
			return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: fmt.Sprintf("len_a %d + len_b %d (padded to %d) runs past the list's end (%d bytes left)", la, lb, padded, uint64(len(buf))-body)}
		}
		aEnd, bEnd := body+la, body+la+lb
		ed.A = buf[body:aEnd:aEnd]
		ed.B = buf[aEnd:bEnd:bEnd]
		for _, c := range buf[bEnd : body+padded] {
			if c != 0 {
				return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: "padding is not zero"}
			}
		}
		if ed.Op.IsBulk() {
			if bulk++; bulk > MaxBulkEdits {
				return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: fmt.Sprintf("more than %d bulk edits", MaxBulkEdits)}
			}
			if ed.Op == OpDropMatch || ed.Op == OpMaskValues {
				if patterns += len(ed.A); patterns > MaxPatternBytes {
					return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: fmt.Sprintf("patterns exceed %d bytes", MaxPatternBytes)}
				}
			}
		}
		if reason := e.check(&ed, ix, first+n); reason != "" {
			return &EditError{Record: n, Offset: off, Op: ed.Op, Reason: reason}
		}
		var reason []byte
		switch ed.Op {
		case OpDropItem:
			reason = ed.A
		case OpDropNamed:
			reason = ed.B
		}
		if len(reason) > 0 && e.SegmentReasons[seg] == nil {
			e.SegmentReasons[seg] = reason
			if e.DropReason == nil {
				e.DropReason = reason
			}
		}
		e.List = append(e.List, ed)
		off = int(body + padded)
	}
	if e.Verdict != VerdictEdit {
		e.List = e.List[:0]
	}
	return nil
}

// check validates one record; n is its number. It returns "" or the reason.
func (e *Edits) check(ed *Edit, ix *Index, n int) string {
	if n > 0 && e.Verdict != VerdictEdit {
		return fmt.Sprintf("%s must be the only record", opOf(e.Verdict))
	}
	switch ed.Op {
	case OpDropItem:
		return firstOf(noOwner(ed), inRange(ed.Target, len(ix.ItemsAt), "items"), unused(ed.Arg, nil, ed.B), validUTF8(ed.A, "reason"))
	case OpDeleteAttr:
		return firstOf(noOwner(ed), inRange(ed.Target, len(ix.Attrs), "attrs"), unused(ed.Arg, ed.A, ed.B))
	case OpTruncateAttr:
		return firstOf(noOwner(ed), inRange(ed.Target, len(ix.Attrs), "attrs"), unused(0, ed.A, ed.B))
	case OpRenameAttr:
		return firstOf(noOwner(ed), inRange(ed.Target, len(ix.Attrs), "attrs"), unused(ed.Arg, nil, ed.B), validKey(ed.A))
	case OpSetAttr:
		var r string
		switch ed.Owner {
		case uint8(OwnerResource):
			r = inRange(ed.Target, len(ix.Resources), "resources")
		case uint8(OwnerScope):
			r = inRange(ed.Target, len(ix.Scopes), "scopes")
		case uint8(OwnerItem):
			r = inRange(ed.Target, len(ix.ItemsAt), "items")
		default:
			return fmt.Sprintf("owner %d, want 1 (resource), 2 (scope) or 3 (item)", ed.Owner)
		}
		if r = firstOf(r, unused(ed.Arg, nil, nil), validKey(ed.A)); r != "" {
			return r
		}
		p := parser{b: ed.B}
		if _, _, _, err := p.anyValue(0, len(ed.B), 1); err != nil {
			return "value is not a valid AnyValue body: " + err.Reason
		}
		return ""
	case OpSetName:
		var r string
		switch {
		case ed.Owner == uint8(OwnerItem) && ix.Signal == Metrics:
			return "owner 3 on metrics: a data point has no name of its own; name the metric (owner 4)"
		case ed.Owner == uint8(OwnerItem):
			r = inRange(ed.Target, len(ix.ItemsAt), "items")
		case ed.Owner == EditOwnerMetric && ix.Signal == Metrics:
			r = inRange(ed.Target, len(ix.Metrics), "metrics")
		case ed.Owner == EditOwnerMetric:
			return fmt.Sprintf("owner 4 (metric) on %s", ix.Signal)
		default:
			return fmt.Sprintf("owner %d, want 3 (item) or 4 (metric)", ed.Owner)
		}
		return firstOf(r, unused(ed.Arg, nil, ed.B), validUTF8(ed.A, "name"))
	case OpSetStatus:
		if ix.Signal != Traces {
			return fmt.Sprintf("status is a span field; this batch is %s", ix.Signal)
		}
		if ed.Arg > 2 {
			return fmt.Sprintf("status code %d, want 0 (unset), 1 (ok) or 2 (error)", ed.Arg)
		}
		return firstOf(noOwner(ed), inRange(ed.Target, len(ix.ItemsAt), "items"), unused(0, nil, ed.B), validUTF8(ed.A, "message"))
	case OpSetFixed64:
		if r := firstOf(noOwner(ed), inRange(ed.Target, len(ix.ItemsAt), "items"), unused(0, nil, ed.B)); r != "" {
			return r
		}
		if len(ed.A) != 8 {
			return fmt.Sprintf("value is %d bytes, want 8", len(ed.A))
		}
		m := ix.itemMsg(ed.Target)
		if sch := schemas[m]; ed.Arg >= uint32(len(sch)) || sch[ed.Arg].kind != fkFixed64 {
			return fmt.Sprintf("field %d is not a fixed64 field of %s", ed.Arg, msgNames[m])
		}
		return ""
	case OpDeleteKey:
		return firstOf(ownerMask(ed), unused(ed.Target, nil, ed.B), flags(ed.Arg, 1), validKey(ed.A))
	case OpTruncateValues, OpCapAttrs:
		return firstOf(ownerMask(ed), unused(ed.Target, ed.A, ed.B))
	case OpClampFuture:
		if len(ed.A) != 16 {
			return fmt.Sprintf("a is %d bytes, want 16 (limit and now)", len(ed.A))
		}
		return firstOf(noOwner(ed), unused(ed.Target, nil, ed.B), unused(ed.Arg, nil, nil))
	case OpDropInvalid:
		if len(ed.A) != 16 {
			return fmt.Sprintf("a is %d bytes, want 16 (min and max time)", len(ed.A))
		}
		if n := bytes.Count(ed.B, []byte{0}); n != numInvalidReasons || len(ed.B) == 0 || ed.B[len(ed.B)-1] != 0 {
			return fmt.Sprintf("b holds %d NUL-terminated reasons, want %d", n, numInvalidReasons)
		}
		return firstOf(noOwner(ed), unused(ed.Target, nil, nil), flags(ed.Arg, allChecks), validUTF8(ed.B, "reasons"))
	case OpDropNamed:
		if len(ed.A) == 0 {
			return "empty name"
		}
		if ed.Arg&DropNamedBody != 0 && ix.Signal != Logs {
			return fmt.Sprintf("matching bodies (arg bit 0) is for logs; this batch is %s", ix.Signal)
		}
		return firstOf(noOwner(ed), unused(ed.Target, nil, nil), flags(ed.Arg, DropNamedBody), validUTF8(ed.A, "name"), validUTF8(ed.B, "reason"))
	case OpSetDefault:
		if r := firstOf(ownerMask(ed), unused(ed.Target, nil, nil), unused(ed.Arg, nil, nil), validKey(ed.A)); r != "" {
			return r
		}
		p := parser{b: ed.B}
		if _, _, _, err := p.anyValue(0, len(ed.B), 1); err != nil {
			return "value is not a valid AnyValue body: " + err.Reason
		}
		return ""
	case OpDropMatch:
		return firstOf(noOwner(ed), unused(ed.Target, nil, nil), unused(ed.Arg, nil, nil), checkConds(ed.A), validUTF8(ed.B, "reason"))
	case OpSample:
		if ix.Signal == Metrics {
			return "sampling by trace ID is for traces and logs; this batch is metrics"
		}
		if len(ed.A) != 8 {
			return fmt.Sprintf("a is %d bytes, want 8 (the threshold)", len(ed.A))
		}
		return firstOf(noOwner(ed), unused(ed.Target, nil, nil), unused(ed.Arg, nil, nil), validUTF8(ed.B, "reason"))
	case OpDropSeverity:
		if ix.Signal != Logs {
			return fmt.Sprintf("severity is a log record field; this batch is %s", ix.Signal)
		}
		if ed.Arg < 1 || ed.Arg > 24 {
			return fmt.Sprintf("max severity %d, want 1..24", ed.Arg)
		}
		return firstOf(noOwner(ed), unused(ed.Target, ed.A, nil), validUTF8(ed.B, "reason"))
	case OpHashValues:
		return firstOf(ownerMask(ed), unused(ed.Target, nil, nil), flags(ed.Arg, 1), validKey(ed.A))
	case OpMaskValues:
		return firstOf(ownerMask(ed), unused(ed.Target, nil, nil), checkMask(ed.Arg, ed.A), validUTF8(ed.B, "replacement"))
	case OpNormalizeKey:
		return firstOf(ownerMask(ed), unused(ed.Target, nil, ed.B), unused(ed.Arg, nil, nil), validKey(ed.A))
	case OpReject:
		if n > 0 {
			return "REJECT must be the only record"
		}
		e.Verdict = VerdictReject
		e.RejectReason = ed.A
		return firstOf(noOwner(ed), unused(ed.Target, nil, nil), unused(ed.Arg, nil, ed.B), validUTF8(ed.A, "reason"))
	case OpReplace:
		if n > 0 {
			return "REPLACE must be the only record"
		}
		e.Verdict = VerdictReplace
		e.Replacement = ed.A
		if r := firstOf(noOwner(ed), unused(ed.Target, nil, nil), unused(ed.Arg, nil, ed.B)); r != "" {
			return r
		}
		k, err := CountItems(ix.Signal, ed.A)
		if err != nil {
			return "replacement: " + err.Error()
		}
		e.ReplaceItems = k
		return ""
	}
	return fmt.Sprintf("unknown op %d", uint8(ed.Op))
}

func opOf(v Verdict) Op {
	if v == VerdictReject {
		return OpReject
	}
	return OpReplace
}

func firstOf(rs ...string) string {
	for _, r := range rs {
		if r != "" {
			return r
		}
	}
	return ""
}

func ownerMask(ed *Edit) string {
	if ed.Owner == 0 || ed.Owner > EditOwnersResource|EditOwnersScope|EditOwnersItem {
		return fmt.Sprintf("owner mask %d, want 1..7 (1 resources, 2 scopes, 4 items)", ed.Owner)
	}
	return ""
}

func flags(arg, allowed uint32) string {
	if arg&^allowed != 0 {
		return fmt.Sprintf("arg %#x has unknown flag bits (allowed %#x)", arg, allowed)
	}
	return ""
}

func noOwner(ed *Edit) string {
	if ed.Owner != 0 {
		return fmt.Sprintf("owner %d, want 0 (%s takes no owner)", ed.Owner, ed.Op)
	}
	return ""
}

func inRange(t uint32, n int, what string) string {
	if uint64(t) >= uint64(n) {
		return fmt.Sprintf("target %d out of range (%d %s)", t, n, what)
	}
	return ""
}

// unused checks that fields the op does not take are zero or empty.
func unused(v uint32, a, b []byte) string {
	switch {
	case v != 0:
		return fmt.Sprintf("unused target/arg is %d, want 0", v)
	case len(a) != 0:
		return fmt.Sprintf("unused a has %d bytes, want none", len(a))
	case len(b) != 0:
		return fmt.Sprintf("unused b has %d bytes, want none", len(b))
	}
	return ""
}

func validUTF8(s []byte, what string) string {
	if !utf8.Valid(s) {
		return what + " is not valid UTF-8"
	}
	return ""
}

func validKey(k []byte) string {
	if len(k) == 0 {
		return "key is empty"
	}
	return validUTF8(k, "key")
}

var msgNames = [numMsgs]string{
	mSpan: "Span", mLogRecord: "LogRecord", mNumberDP: "NumberDataPoint", mHistogramDP: "HistogramDataPoint",
	mExpHistogramDP: "ExponentialHistogramDataPoint", mSummaryDP: "SummaryDataPoint",
}

// itemMsg is the message type of item i.
func (ix *Index) itemMsg(i uint32) msgID {
	switch ix.Signal {
	case Traces:
		return mSpan
	case Logs:
		return mLogRecord
	}
	return metricDPMsgs[ix.Metrics[ix.ItemsAt[i].Metric].Type]
}

// Field numbers in item messages; TestItemFieldNumbers checks them against
// the parser's schemas.
var (
	itemAttrField = [numMsgs]protowire.Number{mSpan: 9, mLogRecord: 6, mNumberDP: 7, mHistogramDP: 9, mExpHistogramDP: 1, mSummaryDP: 7}
	itemNameField = [numMsgs]protowire.Number{mSpan: 5, mLogRecord: 12}
	// logBodyField is LogRecord.body.
	logBodyField protowire.Number = 5
)

const (
	spanStatusField   = 15
	statusMessageTag  = 2<<3 | 2
	statusCodeTag     = 3 << 3 // wire type varint
	numberAsDouble    = 4      // NumberDataPoint's value oneof: setting one clears the other
	numberAsInt       = 6
	kvKeyTag          = 1<<3 | 2
	kvValueTag        = 2<<3 | 2
	resourceAttrTag   = 1<<3 | 2 // Resource.attributes
	scopeAttrTag      = 3<<3 | 2 // InstrumentationScope.attributes
	entryFieldOneTag  = 1<<3 | 2 // ResourceX.resource, ScopeX.scope, Metric.name
	metricNameField   = 1
	maxLenPrefixBytes = 5 // a length below 2^31
)

// errApplyVerdict is returned by Apply for a REJECT list: there is nothing
// to apply, the caller refuses the request.
var errApplyVerdict = errors.New("otlpwire: Apply: the edit list rejects the batch; nothing to apply")

// Apply writes the request req, which ix indexes (req must be the bytes ix
// was built from), with the edits e holds (decoded by e.Decode against ix)
// applied, appends it to dst and returns
// it, with the number of distinct items dropped. A VerdictReplace list
// yields its Replacement, and dropped is how many fewer items it holds than
// req (0 if it holds more); a VerdictReject list is an error.
//
// Semantics (sdk/ABI.md §4): edits apply in list order, each seeing the
// effect of the ones before it (a SET_ATTR finds an attribute renamed
// earlier under its new key, and not one deleted earlier); DROP_ITEM wins
// over anything else on its item. SET_ATTR replaces the value of every
// live attribute of the owner with that key, or appends a KeyValue at the
// end of the owner's attributes, creating the Resource or
// InstrumentationScope if the entry has none. SET_STATUS replaces the whole
// Status. SET_FIXED64 replaces every occurrence of the field (or adds it);
// on a NumberDataPoint, setting as_double removes as_int and vice versa (a
// oneof). A TRUNCATE_ATTR that does not shorten its value, or that meets a
// value that is not a string or bytes, changes nothing. After the edits, a
// scope (or metric) that had items and has none left is removed, and so is a
// resource whose scopes were all removed.
//
// Untouched resources, scopes, metrics, items and attributes are copied as
// byte ranges; only the entries on the path to an edit are re-encoded.
// With dst reused and e reused, Apply does not allocate.
func Apply(ix *Index, req []byte, e *Edits, dst []byte) (out []byte, dropped int, err error) {
	out, dropped, changed, err := ApplyChanged(ix, req, e, dst)
	if err == nil && !changed {
		out = append(dst, req...)
	}
	return out, dropped, err
}

// ApplyChanged is Apply for callers that keep req when nothing changes:
// when the edits leave the request as it was (an empty list, or bulk edits
// that match nothing), it returns changed false and dst untouched, without
// copying req. After it, e.SegmentDrops holds each segment's drops.
func ApplyChanged(ix *Index, req []byte, e *Edits, dst []byte) (out []byte, dropped int, changed bool, err error) {
	return applyTo(ix, req, e, dst, nil)
}

// ApplyResources is ApplyChanged that also indexes the edited request at
// the resource level, into outIx (which must not be ix): its Signal, Items
// and, for each resource entry, Off, End and the item range, numbered
// from 0 in order; every other field and table is left empty. That is
// what Split and the item counts need, without a full Parse of the
// output; it is not an index a filter can use. outIx is set only when
// changed is true.
func ApplyResources(ix *Index, req []byte, e *Edits, dst []byte, outIx *Index) (out []byte, dropped int, changed bool, err error) {
	if outIx == ix {
		return dst, 0, false, errors.New("otlpwire: ApplyResources: the output index is the input's")
	}
	return applyTo(ix, req, e, dst, outIx)
}

func applyTo(ix *Index, req []byte, e *Edits, dst []byte, outIx *Index) (out []byte, dropped int, changed bool, err error) {
	e.SegmentChanged = append(e.SegmentChanged[:0], make([]bool, e.Segments)...)
	switch e.Verdict {
	case VerdictReject:
		return dst, 0, false, errApplyVerdict
	case VerdictReplace:
		for k := range e.SegmentChanged {
			e.SegmentChanged[k] = true
		}
		return append(dst, e.Replacement...), max(0, ix.Items-e.ReplaceItems), true, nil
	}
	if e.shape != shapeOf(ix) {
		return dst, 0, false, errors.New("otlpwire: Apply: the edit list was not decoded against this index")
	}
	e.SegmentDrops = append(e.SegmentDrops[:0], make([]int, e.Segments)...)
	e.Drops = e.Drops[:0]
	if len(e.List) == 0 {
		return dst, 0, false, nil
	}
	s := &e.sc
	s.prepare(ix)
	s.drops = s.drops[:0]
	s.changed = e.SegmentChanged
	dropped = s.resolve(ix, req, e.List, e.SegmentDrops, e.SegmentReasons)
	s.changed = nil
	e.Drops = s.drops
	if e.DropReason == nil {
		// DROP_INVALID's reasons are known only now.
		for _, r := range e.SegmentReasons {
			if r != nil {
				e.DropReason = r
				break
			}
		}
	}
	if len(s.owners) == 0 && len(s.metrics) == 0 && len(s.items) == 0 && len(s.attrs) == 0 {
		// Every state is created by an edit that changes something.
		clear(e.SegmentChanged)
		return dst, 0, false, nil
	}
	w := writer{ix: ix, req: req, s: s, dst: slices.Grow(dst, len(req)), out: outIx}
	if outIx != nil {
		outIx.Reset()
		outIx.Signal = ix.Signal
	}
	w.request()
	s.reset()
	return w.dst, dropped, true, nil
}

// editScratch holds what the edits do to each target, for one Apply.
// The mark slices are sized to the index and are all zero between calls: a
// non-zero mark is 1 + the index of the target's state. States are created
// for a target and all its ancestors, so "has a mark" means "re-encode".
type editScratch struct {
	resMark, scopeMark, metricMark, itemMark, attrMark []int32

	// seg is the list (segment) of the record being resolved; changed
	// marks, per segment, that one of its records changed something
	// (Edits.SegmentChanged).
	seg     int32
	changed []bool

	owners  []ownerState // resources and scopes
	metrics []metricState
	items   []itemState
	attrs   []attrState
	adds    []addedAttr
	fixes   []fixedSet

	// times holds the 8-byte values CLAMP_FUTURE sets, for the writer;
	// it only ever grows into a new array, so earlier values stay put.
	times []byte

	// bodies caches each log record's string body (DROP_NAMED by body)
	// for one Apply: bodyOK[i] is 0 unknown, 1 a string at
	// bodies[i], 2 none or not a string.
	bodies []span32
	bodyOK []uint8

	contentScratch
}

// span32 is a byte range of the request.
type span32 struct{ off, end int32 }

// ownerState is a touched resource or scope.
type ownerState struct {
	idx     int32
	scope   bool
	self    bool  // its Resource or InstrumentationScope field changes
	addHead int32 // SET_ATTR appends, -1 when none
	addTail int32
}

type metricState struct {
	idx    int32
	child  bool // a data point changes
	rename bool
	name   []byte
}

type itemState struct {
	idx     int32
	drop    bool
	self    bool // a field other than attributes changes: walk every field
	rename  bool
	status  bool
	code    uint32
	name    []byte
	msg     []byte
	fixHead int32
	addHead int32
	addTail int32
}

type attrState struct {
	idx     int32
	deleted bool
	rekey   bool
	key     []byte
	val     valueState
}

// valueState is an attribute value that changes. With cut, data is the
// payload of a truncated string or bytes value of type vt; otherwise it is
// the new AnyValue body.
type valueState struct {
	set  bool
	cut  bool
	vt   ValueType
	data []byte
}

type addedAttr struct {
	key     []byte
	val     valueState
	next    int32
	owner   AttrOwner
	deleted bool // by a later DELETE_KEY
}

type fixedSet struct {
	field protowire.Number
	clear bool // the field is removed (the other member of a oneof was set)
	val   []byte
	next  int32
}

func growMarks(m []int32, n int) []int32 {
	if cap(m) < n {
		return make([]int32, n)
	}
	return m[:n]
}

func (s *editScratch) prepare(ix *Index) {
	s.bodyOK = s.bodyOK[:0] // bodies are found again for each request
	s.times = s.times[:0]
	s.vals = s.vals[:0]
	s.resMark = growMarks(s.resMark, len(ix.Resources))
	s.scopeMark = growMarks(s.scopeMark, len(ix.Scopes))
	s.metricMark = growMarks(s.metricMark, len(ix.Metrics))
	s.itemMark = growMarks(s.itemMark, len(ix.ItemsAt))
	s.attrMark = growMarks(s.attrMark, len(ix.Attrs))
}

// reset clears exactly the marks this call set, so the cost is the number
// of touched targets, not the size of the index.
func (s *editScratch) reset() {
	for i := range s.owners {
		if st := &s.owners[i]; st.scope {
			s.scopeMark[st.idx] = 0
		} else {
			s.resMark[st.idx] = 0
		}
	}
	for i := range s.metrics {
		s.metricMark[s.metrics[i].idx] = 0
	}
	for i := range s.items {
		s.itemMark[s.items[i].idx] = 0
	}
	for i := range s.attrs {
		s.attrMark[s.attrs[i].idx] = 0
	}
	s.owners, s.metrics, s.items, s.attrs = s.owners[:0], s.metrics[:0], s.items[:0], s.attrs[:0]
	s.adds, s.fixes = s.adds[:0], s.fixes[:0]
}

// mark records that the record being resolved changes something: every
// touch is made by an edit about to change its target.
func (s *editScratch) mark() {
	if int(s.seg) < len(s.changed) {
		s.changed[s.seg] = true
	}
}

func (s *editScratch) touchRes(r int32) int32 {
	s.mark()
	if m := s.resMark[r]; m != 0 {
		return m - 1
	}
	s.owners = append(s.owners, ownerState{idx: r, addHead: -1, addTail: -1})
	s.resMark[r] = int32(len(s.owners))
	return int32(len(s.owners) - 1)
}

func (s *editScratch) touchScope(ix *Index, sc int32) int32 {
	s.mark()
	if m := s.scopeMark[sc]; m != 0 {
		return m - 1
	}
	s.touchRes(ix.Scopes[sc].Resource)
	s.owners = append(s.owners, ownerState{idx: sc, scope: true, addHead: -1, addTail: -1})
	s.scopeMark[sc] = int32(len(s.owners))
	return int32(len(s.owners) - 1)
}

func (s *editScratch) touchMetric(ix *Index, mi int32) int32 {
	s.mark()
	if m := s.metricMark[mi]; m != 0 {
		return m - 1
	}
	s.touchScope(ix, ix.Metrics[mi].Scope)
	s.metrics = append(s.metrics, metricState{idx: mi})
	s.metricMark[mi] = int32(len(s.metrics))
	return int32(len(s.metrics) - 1)
}

func (s *editScratch) touchItem(ix *Index, i int32) int32 {
	s.mark()
	if m := s.itemMark[i]; m != 0 {
		return m - 1
	}
	it := &ix.ItemsAt[i]
	if it.Metric >= 0 {
		s.metrics[s.touchMetric(ix, it.Metric)].child = true
	} else {
		s.touchScope(ix, it.Scope)
	}
	s.items = append(s.items, itemState{idx: i, fixHead: -1, addHead: -1, addTail: -1})
	s.itemMark[i] = int32(len(s.items))
	return int32(len(s.items) - 1)
}

// touchAttr creates attribute a's state and marks its owner for
// re-encoding.
func (s *editScratch) touchAttr(ix *Index, a int32) int32 {
	s.mark()
	if m := s.attrMark[a]; m != 0 {
		return m - 1
	}
	at := &ix.Attrs[a]
	switch at.Owner {
	case OwnerResource:
		s.owners[s.touchRes(at.Parent)].self = true
	case OwnerScope:
		s.owners[s.touchScope(ix, at.Parent)].self = true
	default:
		s.touchItem(ix, at.Parent)
	}
	s.attrs = append(s.attrs, attrState{idx: a})
	s.attrMark[a] = int32(len(s.attrs))
	return int32(len(s.attrs) - 1)
}

// resolve folds the edit list, in order, into per-target states and
// returns the number of distinct items dropped.
func (s *editScratch) resolve(ix *Index, req []byte, list []Edit, segDrops []int, segReasons [][]byte) int {
	dropped := 0
	for k := 0; k < len(list); k++ {
		ed := &list[k]
		s.seg = ed.seg
		t := int32(ed.Target)
		if isValueOp(ed.Op) {
			run := k + 1
			for run < len(list) && isValueOp(list[run].Op) {
				run++
			}
			s.valueOps(ix, req, list[k:run])
			k = run - 1
			continue
		}
		switch ed.Op {
		case OpDropItem:
			if s.drop(ix, int(t), ed, segDrops, segReasons, ed.A) {
				dropped++
			}
		case OpDeleteAttr:
			if m := s.attrMark[t]; m == 0 || !s.attrs[m-1].deleted {
				s.attrs[s.touchAttr(ix, t)].deleted = true
			}
		case OpRenameAttr:
			if m := s.attrMark[t]; m == 0 || !s.attrs[m-1].deleted {
				st := &s.attrs[s.touchAttr(ix, t)]
				st.rekey, st.key = true, ed.A
			}
		case OpTruncateAttr:
			s.truncate(ix, req, t, int(ed.Arg))
		case OpDropNamed:
			body := ed.Arg&DropNamedBody != 0
			for i := range ix.ItemsAt {
				it := &ix.ItemsAt[i]
				if body {
					if b, ok := s.body(ix, req, i); !ok || string(b) != string(ed.A) {
						continue
					}
				} else if string(req[it.NameOff:it.NameEnd]) != string(ed.A) {
					continue
				}
				if s.drop(ix, i, ed, segDrops, segReasons, ed.B) {
					dropped++
				}
			}
		case OpDropMatch:
			dropped += s.dropMatching(ix, req, ed, segDrops, segReasons)
		case OpSample:
			dropped += s.sample(ix, req, ed, segDrops, segReasons)
		case OpDropSeverity:
			dropped += s.dropSeverity(ix, req, ed, segDrops, segReasons)
		case OpNormalizeKey:
			s.normalizeKey(ix, req, ed)
		case OpClampFuture:
			s.clampFuture(ix, req, binary.LittleEndian.Uint64(ed.A), binary.LittleEndian.Uint64(ed.A[8:]))
		case OpDropInvalid:
			var reasons [numInvalidReasons][]byte
			b := ed.B
			for k := range reasons {
				n := bytes.IndexByte(b, 0)
				reasons[k], b = b[:n], b[n+1:]
			}
			min, max := binary.LittleEndian.Uint64(ed.A), binary.LittleEndian.Uint64(ed.A[8:])
			for i := range ix.ItemsAt {
				if s.dropped(i) {
					continue
				}
				if r := s.invalid(ix, req, int32(i), ed.Arg, min, max); r >= 0 && s.drop(ix, i, ed, segDrops, segReasons, reasons[r]) {
					dropped++
				}
			}
		case OpCapAttrs:
			n := int(ed.Arg)
			if ed.Owner&EditOwnersResource != 0 {
				for r := range ix.Resources {
					s.capAttrs(ix, req, OwnerResource, int32(r), n)
				}
			}
			if ed.Owner&EditOwnersScope != 0 {
				for sc := range ix.Scopes {
					s.capAttrs(ix, req, OwnerScope, int32(sc), n)
				}
			}
			if ed.Owner&EditOwnersItem != 0 {
				for i := range ix.ItemsAt {
					if s.dropped(i) {
						continue
					}
					s.capAttrs(ix, req, OwnerItem, int32(i), n)
				}
			}
		case OpSetDefault:
			if ed.Owner&EditOwnersResource != 0 {
				for r := range ix.Resources {
					if s.needsDefault(ix, req, OwnerResource, int32(r), ed.A) {
						s.setAttr(ix, req, OwnerResource, int32(r), ed.A, ed.B)
					}
				}
			}
			if ed.Owner&EditOwnersScope != 0 {
				for sc := range ix.Scopes {
					if s.needsDefault(ix, req, OwnerScope, int32(sc), ed.A) {
						s.setAttr(ix, req, OwnerScope, int32(sc), ed.A, ed.B)
					}
				}
			}
			if ed.Owner&EditOwnersItem != 0 {
				for i := range ix.ItemsAt {
					if s.dropped(i) {
						continue
					}
					if s.needsDefault(ix, req, OwnerItem, int32(i), ed.A) {
						s.setAttr(ix, req, OwnerItem, int32(i), ed.A, ed.B)
					}
				}
			}
		case OpTruncateValues:
			n := int32(ed.Arg)
			for a := range ix.Attrs {
				at := &ix.Attrs[a]
				// Only values over the limit as they arrived are touched; one
				// an earlier edit set is checked by truncate itself.
				if ownerBit(at.Owner)&ed.Owner != 0 && (at.ValEnd-at.ValOff > n || s.attrMark[a] != 0) {
					s.truncate(ix, req, int32(a), int(n))
				}
			}
			for k := range s.adds {
				if ad := &s.adds[k]; !ad.deleted && ownerBit(ad.owner)&ed.Owner != 0 {
					if cutValue(&ad.val, int(n)) {
						s.mark()
					}
				}
			}
		case OpSetAttr:
			s.setAttr(ix, req, AttrOwner(ed.Owner), t, ed.A, ed.B)
		case OpSetName:
			if ed.Owner == EditOwnerMetric {
				st := &s.metrics[s.touchMetric(ix, t)]
				st.rename, st.name = true, ed.A
			} else {
				st := &s.items[s.touchItem(ix, t)]
				st.self, st.rename, st.name = true, true, ed.A
			}
		case OpSetStatus:
			st := &s.items[s.touchItem(ix, t)]
			st.self, st.status, st.code, st.msg = true, true, ed.Arg, ed.A
		case OpSetFixed64:
			i := s.touchItem(ix, t)
			s.items[i].self = true
			f := protowire.Number(ed.Arg)
			s.setFixed(i, f, false, ed.A)
			if m := ix.itemMsg(ed.Target); m == mNumberDP && (f == numberAsDouble || f == numberAsInt) {
				s.setFixed(i, numberAsDouble+numberAsInt-f, true, nil)
			}
		}
	}
	return dropped
}

func (s *editScratch) setFixed(item int32, f protowire.Number, clear bool, val []byte) {
	st := &s.items[item]
	last := int32(-1)
	for k := st.fixHead; k >= 0; k = s.fixes[k].next {
		if s.fixes[k].field == f {
			s.fixes[k].clear, s.fixes[k].val = clear, val
			return
		}
		last = k
	}
	s.fixes = append(s.fixes, fixedSet{field: f, clear: clear, val: val, next: -1})
	if n := int32(len(s.fixes) - 1); last < 0 {
		st.fixHead = n
	} else {
		s.fixes[last].next = n
	}
}

// value is the type and payload of a value an edit set: the payload of a
// cut value, or what the AnyValue body holds (checked by Decode).
func (v *valueState) value() (ValueType, []byte) {
	if v.cut {
		return v.vt, v.data
	}
	p := parser{b: v.data}
	vt, vs, ve, _ := p.anyValue(0, len(v.data), 1)
	return vt, v.data[vs:ve]
}

// liveKey is attribute a's key as the edits so far leave it (an earlier
// RENAME_ATTR's), or false when an earlier edit deleted it.
func (s *editScratch) liveKey(ix *Index, req []byte, a int32) ([]byte, bool) {
	if m := s.attrMark[a]; m != 0 {
		if st := &s.attrs[m-1]; st.deleted {
			return nil, false
		} else if st.rekey {
			return st.key, true
		}
	}
	at := &ix.Attrs[a]
	return req[at.KeyOff:at.KeyEnd], true
}

// currentValue is attribute a's value as the edits so far leave it.
func (s *editScratch) currentValue(ix *Index, req []byte, a int32) (vt ValueType, payload []byte, deleted bool) {
	if m := s.attrMark[a]; m != 0 {
		st := &s.attrs[m-1]
		if st.deleted {
			return 0, nil, true
		}
		if st.val.set {
			vt, payload = st.val.value()
			return vt, payload, false
		}
	}
	at := &ix.Attrs[a]
	return at.ValType, req[at.ValOff:at.ValEnd], false
}

func (s *editScratch) truncate(ix *Index, req []byte, a int32, n int) {
	vt, p, deleted := s.currentValue(ix, req, a)
	if deleted || vt != ValueString && vt != ValueBytes || len(p) <= n {
		return
	}
	st := &s.attrs[s.touchAttr(ix, a)]
	st.val = valueState{set: true, cut: true, vt: vt, data: p[:cutAt(vt, p, n)]}
}

// cutAt is where to cut payload p of a value of type vt to at most n
// bytes: for a string, back off to the start of the rune the cut falls in;
// where the string is not UTF-8, cut where asked. len(p) must exceed n.
func cutAt(vt ValueType, p []byte, n int) int {
	k := n
	if vt == ValueString {
		for j := 0; j < utf8.UTFMax-1 && k > 0 && !utf8.RuneStart(p[k]); j++ {
			k--
		}
		if !utf8.RuneStart(p[k]) {
			k = n
		}
	}
	return k
}

// cutValue truncates a value an edit set (an AnyValue body, or already
// cut) as TRUNCATE_VALUES would once the request were re-indexed.
func cutValue(v *valueState, n int) bool {
	vt, p := v.value()
	if vt != ValueString && vt != ValueBytes || len(p) <= n {
		return false
	}
	*v = valueState{set: true, cut: true, vt: vt, data: p[:cutAt(vt, p, n)]}
	return true
}

// attrRange is the Index.Attrs range that holds owner t's attributes.
// Index.Parse widens a resource's or scope's range over the attributes of
// everything encoded between the entry's start and its Resource or
// InstrumentationScope field, so users filter the range by owner.
func attrRange(ix *Index, owner AttrOwner, t int32) (a0, a1 int32) {
	switch owner {
	case OwnerResource:
		return ix.Resources[t].AttrStart, ix.Resources[t].AttrEnd
	case OwnerScope:
		return ix.Scopes[t].AttrStart, ix.Scopes[t].AttrEnd
	}
	return ix.ItemsAt[t].AttrStart, ix.ItemsAt[t].AttrEnd
}

// needsDefault says whether owner t lacks key, as the edits so far leave
// it (deleted attributes do not count, renamed ones count by their new
// key, and attributes SET_ATTR appended count), or whose first attribute
// with that key has an empty value (none, or an empty string).
func (s *editScratch) needsDefault(ix *Index, req []byte, owner AttrOwner, t int32, key []byte) bool {
	a0, a1 := attrRange(ix, owner, t)
	for a := a0; a < a1; a++ {
		at := &ix.Attrs[a]
		if at.Owner != owner || at.Parent != t {
			continue
		}
		if k, live := s.liveKey(ix, req, a); live && string(k) == string(key) {
			vt, p, _ := s.currentValue(ix, req, a)
			return emptyValue(vt, p)
		}
	}
	for k := s.addHead(owner, t); k >= 0; k = s.adds[k].next {
		if ad := &s.adds[k]; !ad.deleted && string(ad.key) == string(key) {
			return emptyValue(ad.val.value())
		}
	}
	return true
}

// itemFields is what the bulk edits read of one item (DROP_INVALID, the
// times CLAMP_FUTURE clamps, the body DROP_NAMED matches), walked once:
// the last occurrence of each scalar, as a decoder reads it, and the
// lengths of the repeated fixed64/double fields (packed or not).
type itemFields struct {
	fixed     [12]uint64 // fixed64 fields 1..11 by number
	spanID    []byte     // field 2 of a span
	severity  int64      // field 2 of a log record, as int32
	buckets   int        // HistogramDataPoint.bucket_counts entries (field 6)
	bucketSum uint64
	bounds    int // HistogramDataPoint.explicit_bounds entries (field 7)
	// bodyOff..bodyEnd is a log record's body (an AnyValue); 0, 0 when it
	// has none.
	bodyOff, bodyEnd int
}

// skipVarint reads the varint at b[i:], returning it and where it ends;
// -1 when it is cut short or i is already -1.
func skipVarint(b []byte, i int) (uint64, int) {
	if i < 0 {
		return 0, -1
	}
	if i < len(b) && b[i] < 0x80 {
		return uint64(b[i]), i + 1
	}
	if i >= len(b) {
		return 0, -1
	}
	v, n := protowire.ConsumeVarint(b[i:])
	if n < 0 {
		return 0, -1
	}
	return v, i + n
}

// scanItem walks item it's fields into f, in one pass. It reports false
// when the item does not decode (Parse validated it, so that does not
// happen).
func scanItem(req []byte, it *Item, msg msgID, f *itemFields) bool {
	*f = itemFields{}
	b := req[:it.End]
	j := int(it.Off)
	_, j = skipVarint(b, j)
	_, j = skipVarint(b, j)
	histogram := msg == mHistogramDP
	for j >= 0 && j < len(b) {
		var tag uint64
		tag, j = skipVarint(b, j)
		if j < 0 {
			return false
		}
		num := tag >> 3
		switch tag & 7 {
		case 0:
			var v uint64
			v, j = skipVarint(b, j)
			if msg == mLogRecord && num == 2 {
				f.severity = int64(int32(v))
			}
		case 1:
			if j+8 > len(b) {
				return false
			}
			v := binary.LittleEndian.Uint64(b[j:])
			switch {
			case histogram && num == 6:
				f.buckets++
				f.bucketSum += v
			case histogram && num == 7:
				f.bounds++
			case num < uint64(len(f.fixed)):
				f.fixed[num] = v
			}
			j += 8
		case 2:
			var l uint64
			l, j = skipVarint(b, j)
			if j < 0 || l > uint64(len(b)-j) {
				return false
			}
			v := b[j : j+int(l)]
			switch {
			case msg == mSpan && num == 2:
				f.spanID = v
			case msg == mLogRecord && protowire.Number(num) == logBodyField:
				f.bodyOff, f.bodyEnd = j, j+int(l)
			case histogram && num == 6: // packed
				f.buckets += len(v) / 8
				for k := 0; k+8 <= len(v); k += 8 {
					f.bucketSum += binary.LittleEndian.Uint64(v[k:])
				}
			case histogram && num == 7:
				f.bounds += len(v) / 8
			}
			j += int(l)
		case 5:
			j += 4
		default:
			n := protowire.ConsumeFieldValue(protowire.Number(num), protowire.Type(tag&7), b[j:])
			if n < 0 {
				return false
			}
			j += n
		}
	}
	return j == len(b)
}

// invalid returns the DROP_INVALID reason item i fails first, -1 for none,
// with the stock validate filter's checks in its order.
func (s *editScratch) invalid(ix *Index, req []byte, i int32, checks uint32, min, max uint64) int {
	it := &ix.ItemsAt[i]
	msg := ix.itemMsg(uint32(i))
	var f itemFields
	if !scanItem(req, it, msg, &f) {
		return -1
	}
	window := func(ts uint64) int {
		switch {
		case ts < min:
			return reasonOldTime
		case ts > max:
			return reasonFutureTime
		}
		return -1
	}
	ids, times, names := checks&CheckIDs != 0, checks&CheckTimestamps != 0, checks&CheckNames != 0
	switch msg {
	case mSpan:
		if ids && (it.TraceIDOff == 0 || allZero(req[it.TraceIDOff:it.TraceIDOff+16])) {
			return reasonTraceID
		}
		if names && it.NameOff == it.NameEnd {
			return reasonEmptyName
		}
		if ids && (len(f.spanID) != 8 || allZero(f.spanID)) {
			return reasonSpanID
		}
		if times {
			start, end := f.fixed[spanStartField], f.fixed[spanEndField]
			if start == 0 || end == 0 {
				return reasonMissingTime
			}
			if r := window(start); r >= 0 {
				return r
			}
			if r := window(end); r >= 0 {
				return r
			}
			if end < start {
				return reasonStartAfter
			}
		}
	case mLogRecord:
		if checks&CheckSeverity != 0 && (f.severity < 0 || f.severity > 24) {
			return reasonSeverity
		}
		if times {
			t, obs := f.fixed[logTimeField], f.fixed[logObservedField]
			if t == 0 && obs == 0 {
				return reasonMissingTime
			}
			if t != 0 {
				if r := window(t); r >= 0 {
					return r
				}
			}
			if obs != 0 {
				if r := window(obs); r >= 0 {
					return r
				}
			}
		}
	default: // data points
		if names && it.NameOff == it.NameEnd {
			return reasonEmptyName
		}
		if times {
			t := f.fixed[pointTimeField]
			if t == 0 {
				return reasonMissingTime
			}
			if r := window(t); r >= 0 {
				return r
			}
			if st := f.fixed[pointStartField]; st != 0 {
				if r := window(st); r >= 0 {
					return r
				}
				if st > t {
					return reasonStartAfter
				}
			}
		}
		if checks&CheckHistograms != 0 && msg == mHistogramDP && f.buckets > 0 {
			if f.buckets != f.bounds+1 {
				return reasonBuckets
			}
			if f.bucketSum != f.fixed[histogramCountField] {
				return reasonCount
			}
		}
	}
	return -1
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// histogramCountField is HistogramDataPoint.count.
const histogramCountField = 4

// Timestamp fields CLAMP_FUTURE looks at.
const (
	spanStartField, spanEndField    = 7, 8
	logTimeField, logObservedField  = 1, 11
	pointStartField, pointTimeField = 2, 3
)

// clampFuture sets every timestamp of the live items after limit to now,
// as the stock fix filter does: a span's end never before its (new)
// start; a data point's start never after its (new) time.
func (s *editScratch) clampFuture(ix *Index, req []byte, limit, now uint64) {
	for i := range ix.ItemsAt {
		if s.dropped(i) {
			continue
		}
		it := int32(i)
		switch ix.Signal {
		case Traces:
			start, end := s.fixed64Pair(ix, req, it, spanStartField, spanEndField)
			if start > limit {
				start = now
				s.setTime(ix, it, spanStartField, start)
			}
			if end > limit {
				s.setTime(ix, it, spanEndField, max(now, start))
			}
		case Logs:
			t, observed := s.fixed64Pair(ix, req, it, logTimeField, logObservedField)
			if t > limit {
				s.setTime(ix, it, logTimeField, now)
			}
			if observed > limit {
				s.setTime(ix, it, logObservedField, now)
			}
		default:
			start, t := s.fixed64Pair(ix, req, it, pointStartField, pointTimeField)
			moved := t > limit
			if moved {
				t = now
				s.setTime(ix, it, pointTimeField, t)
			}
			if start > limit || moved && start > t {
				s.setTime(ix, it, pointStartField, min(now, t))
			}
		}
	}
}

// fixed64Pair returns fixed64 fields f1 and f2 of item i as the edits so
// far leave them (0 when absent, as a decoder reads it), in one walk.
func (s *editScratch) fixed64Pair(ix *Index, req []byte, i int32, f1, f2 protowire.Number) (v1, v2 uint64) {
	var f itemFields
	if scanItem(req, &ix.ItemsAt[i], ix.itemMsg(uint32(i)), &f) {
		v1, v2 = f.fixed[f1], f.fixed[f2]
	}
	if m := s.itemMark[i]; m != 0 {
		for k := s.items[m-1].fixHead; k >= 0; k = s.fixes[k].next {
			fx := &s.fixes[k]
			v := uint64(0)
			if !fx.clear && len(fx.val) == 8 {
				v = binary.LittleEndian.Uint64(fx.val)
			}
			switch fx.field {
			case f1:
				v1 = v
			case f2:
				v2 = v
			}
		}
	}
	return v1, v2
}

// setTime sets fixed64 field f of item i to v.
func (s *editScratch) setTime(ix *Index, i int32, f protowire.Number, v uint64) {
	if cap(s.times)-len(s.times) < 8 {
		// A new array: values already handed out keep pointing at the old.
		s.times = make([]byte, 0, max(2*cap(s.times), 8*64))
	}
	n := len(s.times)
	s.times = binary.LittleEndian.AppendUint64(s.times, v)
	k := s.touchItem(ix, i)
	s.items[k].self = true
	s.setFixed(k, f, false, s.times[n:n+8:n+8])
}

// addHead is the first attribute edits appended to owner t, -1 if none.
func (s *editScratch) addHead(owner AttrOwner, t int32) int32 {
	var m int32
	switch owner {
	case OwnerResource:
		if m = s.resMark[t]; m != 0 {
			return s.owners[m-1].addHead
		}
	case OwnerScope:
		if m = s.scopeMark[t]; m != 0 {
			return s.owners[m-1].addHead
		}
	default:
		if m = s.itemMark[t]; m != 0 {
			return s.items[m-1].addHead
		}
	}
	return -1
}

// capAttrs deletes owner t's attributes beyond its first n live ones: the
// indexed ones in order, then the ones edits appended.
func (s *editScratch) capAttrs(ix *Index, req []byte, owner AttrOwner, t int32, n int) {
	a0, a1 := attrRange(ix, owner, t)
	live := 0
	for a := a0; a < a1; a++ {
		at := &ix.Attrs[a]
		if at.Owner != owner || at.Parent != t {
			continue
		}
		if _, ok := s.liveKey(ix, req, a); !ok {
			continue
		}
		if live++; live > n {
			s.attrs[s.touchAttr(ix, a)].deleted = true
		}
	}
	for k := s.addHead(owner, t); k >= 0; k = s.adds[k].next {
		if ad := &s.adds[k]; !ad.deleted {
			if live++; live > n {
				ad.deleted = true
				s.mark()
			}
		}
	}
}

func emptyValue(vt ValueType, payload []byte) bool {
	return vt == ValueEmpty || vt == ValueString && len(payload) == 0
}

// logBody returns where the string value of log record it's body lies in
// req, when the body is a string value.
func logBody(req []byte, it *Item) (off, end int, ok bool) {
	var f itemFields
	if !scanItem(req, it, mLogRecord, &f) || f.bodyEnd == 0 {
		return 0, 0, false
	}
	return anyString(req, f.bodyOff, f.bodyEnd)
}

// anyString returns where an AnyValue body in req[bs:be] holds its string.
func anyString(req []byte, bs, be int) (off, end int, ok bool) {
	for j := bs; j < be; {
		num, typ, n := protowire.ConsumeTag(req[j:be])
		if n < 0 {
			return 0, 0, false
		}
		j += n
		v := protowire.ConsumeFieldValue(num, typ, req[j:be])
		if v < 0 {
			return 0, 0, false
		}
		ok = num == 1 && typ == protowire.BytesType
		if ok {
			_, k := protowire.ConsumeVarint(req[j:be])
			off, end = j+k, j+v
		}
		j += v
	}
	return off, end, ok
}

func (s *editScratch) setAttr(ix *Index, req []byte, owner AttrOwner, t int32, key, body []byte) {
	a0, a1 := attrRange(ix, owner, t)
	val := valueState{set: true, data: body}
	matched := false
	for a := a0; a < a1; a++ {
		at := &ix.Attrs[a]
		if at.Owner != owner || at.Parent != t {
			continue
		}
		if k, live := s.liveKey(ix, req, a); live && string(k) == string(key) {
			s.attrs[s.touchAttr(ix, a)].val = val
			matched = true
		}
	}
	var head, tail *int32
	var ost *ownerState
	switch owner {
	case OwnerResource:
		ost = &s.owners[s.touchRes(t)]
		head, tail = &ost.addHead, &ost.addTail
	case OwnerScope:
		ost = &s.owners[s.touchScope(ix, t)]
		head, tail = &ost.addHead, &ost.addTail
	default:
		st := &s.items[s.touchItem(ix, t)]
		head, tail = &st.addHead, &st.addTail
	}
	for k := *head; k >= 0; k = s.adds[k].next {
		if !s.adds[k].deleted && string(s.adds[k].key) == string(key) {
			s.adds[k].val = val
			matched = true
		}
	}
	if matched {
		return
	}
	// head, tail and ost point into s.owners or s.items, which do not grow
	// from here on.
	s.adds = append(s.adds, addedAttr{key: key, val: val, next: -1, owner: owner})
	n := int32(len(s.adds) - 1)
	if *tail < 0 {
		*head = n
	} else {
		s.adds[*tail].next = n
	}
	*tail = n
	if ost != nil {
		ost.self = true
	}
}

// writer emits the edited request into dst.
type writer struct {
	ix  *Index
	req []byte
	s   *editScratch
	dst []byte
	// out, when set, receives the output's resources (ApplyResources).
	out *Index
}

// emitResource records an output resource entry dst[off:end) holding
// items items.
func (w *writer) emitResource(off, end, items int) {
	o := w.out
	o.Resources = append(o.Resources, Resource{Off: int32(off), End: int32(end), ItemStart: int32(o.Items), ItemEnd: int32(o.Items + items)})
	o.Items += items
}

// copyResources copies req[pos:to] to dst like copyTo and, with out set,
// records the untouched resources from index first on that lie in it.
func (w *writer) copyResources(pos int, to int, first int) {
	if w.out != nil {
		delta := len(w.dst) - pos
		for u := first; u < len(w.ix.Resources) && int(w.ix.Resources[u].Off) < to; u++ {
			res := &w.ix.Resources[u]
			w.emitResource(int(res.Off)+delta, int(res.End)+delta, int(res.ItemEnd-res.ItemStart))
		}
	}
	w.dst = append(w.dst, w.req[pos:to]...)
}

var zeroes [maxLenPrefixBytes]byte

// lenMark is a reserved length prefix in dst: at is where it starts, size
// how many bytes were reserved.
type lenMark struct{ at, size int }

// open copies the tag of the entry at req[off:] to dst and reserves its
// length prefix at the size the old length needs; it returns where the
// entry's body starts in req.
func (w *writer) open(off int32) (int, lenMark) {
	i := int(off)
	_, n := protowire.ConsumeVarint(w.req[i:])
	l, k := protowire.ConsumeVarint(w.req[i+n:])
	w.dst = append(w.dst, w.req[i:i+n]...)
	m := lenMark{len(w.dst), protowire.SizeVarint(l)}
	w.dst = append(w.dst, zeroes[:m.size]...)
	return i + n + k, m
}

// openNew starts a new length-delimited field with a one-byte tag.
func (w *writer) openNew(tag byte) lenMark {
	w.dst = append(w.dst, tag)
	m := lenMark{len(w.dst), 1}
	w.dst = append(w.dst, 0)
	return m
}

// close writes the length of everything after m. When the new length needs
// a different number of bytes than reserved (rare: only when it crosses a
// power of 128) the body moves.
func (w *writer) close(m lenMark) {
	start := m.at + m.size
	n := len(w.dst) - start
	if need := protowire.SizeVarint(uint64(n)); need > m.size {
		d := need - m.size
		w.dst = append(w.dst, zeroes[:d]...)
		copy(w.dst[start+d:], w.dst[start:start+n])
	} else if need < m.size {
		copy(w.dst[m.at+need:], w.dst[start:start+n])
		w.dst = w.dst[:m.at+need+n]
	}
	binary.PutUvarint(w.dst[m.at:], uint64(n))
}

// copyTo copies req[pos:to].
func (w *writer) copyTo(pos int, to int32) {
	w.dst = append(w.dst, w.req[pos:to]...)
}

// nextField returns the number of the field at req[i:end] and where the
// next one starts. The request was validated by Parse; if it somehow does
// not hold a field there, the rest is treated as one opaque chunk.
func (w *writer) nextField(i, end int) (protowire.Number, int) {
	num, typ, n := protowire.ConsumeTag(w.req[i:end])
	if n < 0 {
		return 0, end
	}
	v := protowire.ConsumeFieldValue(num, typ, w.req[i+n:end])
	if v < 0 {
		return 0, end
	}
	return num, i + n + v
}

func (w *writer) request() {
	pos, next := 0, 0 // next: the first resource not yet emitted or skipped
	for r := range w.ix.Resources {
		if w.s.resMark[r] == 0 {
			continue
		}
		res := &w.ix.Resources[r]
		w.copyResources(pos, int(res.Off), next)
		start := len(w.dst)
		w.resource(int32(r))
		if w.out != nil && len(w.dst) > start {
			kept := int(res.ItemEnd - res.ItemStart)
			for i := res.ItemStart; i < res.ItemEnd; i++ {
				if m := w.s.itemMark[i]; m != 0 && w.s.items[m-1].drop {
					kept--
				}
			}
			w.emitResource(start, len(w.dst), kept)
		}
		pos, next = int(res.End), r+1
	}
	w.copyResources(pos, len(w.req), next)
}

func (w *writer) resource(r int32) {
	res := &w.ix.Resources[r]
	st := &w.s.owners[w.s.resMark[r]-1]
	start := len(w.dst)
	pos, m := w.open(res.Off)
	pending := st.self && res.ResEnd != 0
	kept := 0
	for sc := res.ScopeStart; sc < res.ScopeEnd; sc++ {
		scope := &w.ix.Scopes[sc]
		if pending && res.ResOff < scope.Off {
			w.copyTo(pos, res.ResOff)
			w.withAttrs(res.ResOff, res.ResEnd, res.AttrStart, res.AttrEnd, OwnerResource, r, st.addHead, resourceAttrTag)
			pos, pending = int(res.ResEnd), false
		}
		if w.s.scopeMark[sc] == 0 {
			kept++
			continue
		}
		w.copyTo(pos, scope.Off)
		if w.scope(sc) {
			kept++
		}
		pos = int(scope.End)
	}
	if pending {
		w.copyTo(pos, res.ResOff)
		w.withAttrs(res.ResOff, res.ResEnd, res.AttrStart, res.AttrEnd, OwnerResource, r, st.addHead, resourceAttrTag)
		pos = int(res.ResEnd)
	}
	w.copyTo(pos, res.End)
	if st.addHead >= 0 && res.ResEnd == 0 {
		f := w.openNew(entryFieldOneTag)
		w.appendAdds(st.addHead, resourceAttrTag)
		w.close(f)
	}
	if res.ScopeEnd > res.ScopeStart && kept == 0 {
		w.dst = w.dst[:start]
		return
	}
	w.close(m)
}

// scope emits scope sc and reports whether it is kept.
func (w *writer) scope(sc int32) bool {
	scope := &w.ix.Scopes[sc]
	st := &w.s.owners[w.s.scopeMark[sc]-1]
	start := len(w.dst)
	pos, m := w.open(scope.Off)
	pending := st.self && scope.ScopeEnd != 0
	flush := func(before int32) {
		if pending && scope.ScopeOff < before {
			w.copyTo(pos, scope.ScopeOff)
			w.withAttrs(scope.ScopeOff, scope.ScopeEnd, scope.AttrStart, scope.AttrEnd, OwnerScope, sc, st.addHead, scopeAttrTag)
			pos, pending = int(scope.ScopeEnd), false
		}
	}
	kept := int32(0)
	if w.ix.Signal == Metrics {
		for mi := scope.MetricStart; mi < scope.MetricEnd; mi++ {
			met := &w.ix.Metrics[mi]
			flush(met.Off)
			if w.s.metricMark[mi] == 0 {
				kept += met.ItemEnd - met.ItemStart
				continue
			}
			w.copyTo(pos, met.Off)
			kept += w.metric(mi)
			pos = int(met.End)
		}
	} else {
		for it := scope.ItemStart; it < scope.ItemEnd; it++ {
			item := &w.ix.ItemsAt[it]
			flush(item.Off)
			mk := w.s.itemMark[it]
			if mk == 0 {
				kept++
				continue
			}
			w.copyTo(pos, item.Off)
			if !w.s.items[mk-1].drop {
				w.item(it)
				kept++
			}
			pos = int(item.End)
		}
	}
	flush(scope.End)
	w.copyTo(pos, scope.End)
	if st.addHead >= 0 && scope.ScopeEnd == 0 {
		f := w.openNew(entryFieldOneTag)
		w.appendAdds(st.addHead, scopeAttrTag)
		w.close(f)
	}
	if scope.ItemEnd > scope.ItemStart && kept == 0 {
		w.dst = w.dst[:start]
		return false
	}
	w.close(m)
	return true
}

// metric emits metric mi and returns how many of its data points are kept;
// a metric that had points and keeps none is not written.
func (w *writer) metric(mi int32) int32 {
	met := &w.ix.Metrics[mi]
	st := &w.s.metrics[w.s.metricMark[mi]-1]
	start := len(w.dst)
	pos, m := w.open(met.Off)
	end := int(met.End)
	had := met.ItemEnd - met.ItemStart
	kept := had
	switch {
	case st.rename:
		for i := pos; i < end; {
			if st.child && i == int(met.DataOff) {
				w.copyTo(pos, met.DataOff)
				kept = w.data(met)
				pos, i = int(met.DataEnd), int(met.DataEnd)
				continue
			}
			num, next := w.nextField(i, end)
			if num == metricNameField {
				w.copyTo(pos, int32(i))
				pos = next
			}
			i = next
		}
	case st.child:
		w.copyTo(pos, met.DataOff)
		kept = w.data(met)
		pos = int(met.DataEnd)
	}
	w.copyTo(pos, met.End)
	if st.rename && len(st.name) > 0 {
		w.appendBytesField(entryFieldOneTag, st.name)
	}
	if had > 0 && kept == 0 {
		w.dst = w.dst[:start]
		return 0
	}
	w.close(m)
	return kept
}

// data emits a metric's Gauge|Sum|Histogram|ExponentialHistogram|Summary
// and returns how many data points it keeps.
func (w *writer) data(met *Metric) int32 {
	pos, m := w.open(met.DataOff)
	kept := int32(0)
	for it := met.ItemStart; it < met.ItemEnd; it++ {
		mk := w.s.itemMark[it]
		if mk == 0 {
			kept++
			continue
		}
		item := &w.ix.ItemsAt[it]
		w.copyTo(pos, item.Off)
		if !w.s.items[mk-1].drop {
			w.item(it)
			kept++
		}
		pos = int(item.End)
	}
	w.copyTo(pos, met.DataEnd)
	w.close(m)
	return kept
}

// item emits a kept item that has edits.
func (w *writer) item(it int32) {
	item := &w.ix.ItemsAt[it]
	st := &w.s.items[w.s.itemMark[it]-1]
	pos, m := w.open(item.Off)
	end := int(item.End)
	msg := w.ix.itemMsg(uint32(it))
	attrField := itemAttrField[msg]
	attrTag := byte(attrField)<<3 | byte(protowire.BytesType)
	if !st.self {
		// Only attributes change: copy around the changed KeyValues.
		for a := item.AttrStart; a < item.AttrEnd; a++ {
			if w.s.attrMark[a] == 0 {
				continue
			}
			at := &w.ix.Attrs[a]
			w.copyTo(pos, at.Off)
			w.attr(a)
			pos = int(at.End)
		}
	} else {
		nameField := itemNameField[msg]
		a := item.AttrStart
		for i := pos; i < end; {
			num, next := w.nextField(i, end)
			drop := false
			switch {
			case num == attrField:
				if w.s.attrMark[a] != 0 {
					w.copyTo(pos, int32(i))
					w.attr(a)
					pos = next
				}
				a++
			case st.rename && num == nameField:
				drop = true
			case st.status && num == spanStatusField:
				drop = true
			case st.fixHead >= 0:
				for k := st.fixHead; k >= 0; k = w.s.fixes[k].next {
					if w.s.fixes[k].field == num {
						drop = true
						break
					}
				}
			}
			if drop {
				w.copyTo(pos, int32(i))
				pos = next
			}
			i = next
		}
	}
	w.copyTo(pos, item.End)
	if st.rename && len(st.name) > 0 {
		w.dst = protowire.AppendTag(w.dst, itemNameField[msg], protowire.BytesType)
		w.dst = protowire.AppendBytes(w.dst, st.name)
	}
	if st.status {
		n := 0
		if len(st.msg) > 0 {
			n += 1 + protowire.SizeBytes(len(st.msg))
		}
		if st.code != 0 {
			n += 1 + protowire.SizeVarint(uint64(st.code))
		}
		w.dst = protowire.AppendTag(w.dst, spanStatusField, protowire.BytesType)
		w.dst = protowire.AppendVarint(w.dst, uint64(n))
		if len(st.msg) > 0 {
			w.appendBytesField(statusMessageTag, st.msg)
		}
		if st.code != 0 {
			w.dst = append(w.dst, statusCodeTag)
			w.dst = protowire.AppendVarint(w.dst, uint64(st.code))
		}
	}
	for k := st.fixHead; k >= 0; k = w.s.fixes[k].next {
		if f := &w.s.fixes[k]; !f.clear {
			w.dst = protowire.AppendTag(w.dst, f.field, protowire.Fixed64Type)
			w.dst = append(w.dst, f.val...)
		}
	}
	w.appendAdds(st.addHead, attrTag)
	w.close(m)
}

// withAttrs emits a Resource or InstrumentationScope at req[off:end] whose
// attributes are those of owner/parent in Attrs[a0:a1], appending the
// added ones with attrTag.
func (w *writer) withAttrs(off, end, a0, a1 int32, owner AttrOwner, parent, addHead int32, attrTag byte) {
	pos, m := w.open(off)
	for a := a0; a < a1; a++ {
		at := &w.ix.Attrs[a]
		if w.s.attrMark[a] == 0 || at.Owner != owner || at.Parent != parent {
			continue
		}
		w.copyTo(pos, at.Off)
		w.attr(a)
		pos = int(at.End)
	}
	w.copyTo(pos, end)
	w.appendAdds(addHead, attrTag)
	w.close(m)
}

// attr emits attribute a as its edits leave it (nothing if deleted). Fields
// other than the key and value are kept.
func (w *writer) attr(a int32) {
	st := &w.s.attrs[w.s.attrMark[a]-1]
	if st.deleted {
		return
	}
	at := &w.ix.Attrs[a]
	if w.attrFast(at, st) {
		return
	}
	pos, m := w.open(at.Off)
	end := int(at.End)
	if st.rekey {
		w.appendBytesField(kvKeyTag, st.key)
	}
	for i := pos; i < end; {
		num, next := w.nextField(i, end)
		if num == 1 && st.rekey || num == 2 && st.val.set {
			w.copyTo(pos, int32(i))
			pos = next
		}
		i = next
	}
	w.copyTo(pos, at.End)
	if st.val.set {
		w.appendValue(&st.val)
	}
	w.close(m)
}

// attrFast handles the KeyValue every encoder writes, a one-byte tag then
// the key field then (optionally) the value field and nothing else: the new
// length is known up front, so no field walk and no length fix-up. It
// reports false for any other layout.
func (w *writer) attrFast(at *Attr, st *attrState) bool {
	req, off, end, kOff, kEnd := w.req, int(at.Off), int(at.End), int(at.KeyOff), int(at.KeyEnd)
	if req[off] >= 0x80 || kOff == kEnd && kOff == 0 {
		return false
	}
	_, n := protowire.ConsumeVarint(req[off+1 : end])
	body := off + 1 + n
	if body >= end || req[body] != kvKeyTag {
		return false
	}
	if kl, k := protowire.ConsumeVarint(req[body+1 : end]); k < 0 || body+1+k != kOff || int(kl) != kEnd-kOff {
		return false
	}
	if kEnd < end {
		if req[kEnd] != kvValueTag {
			return false
		}
		if vl, k := protowire.ConsumeVarint(req[kEnd+1 : end]); k < 0 || kEnd+1+k+int(vl) != end {
			return false
		}
	}
	keyLen := kEnd - body
	if st.rekey {
		keyLen = 1 + protowire.SizeBytes(len(st.key))
	}
	valLen := end - kEnd
	if st.val.set {
		valLen = 1 + protowire.SizeBytes(valueBodySize(&st.val))
	}
	w.dst = append(w.dst, req[off])
	w.dst = protowire.AppendVarint(w.dst, uint64(keyLen+valLen))
	if st.rekey {
		w.appendBytesField(kvKeyTag, st.key)
	} else {
		w.dst = append(w.dst, req[body:kEnd]...)
	}
	if st.val.set {
		w.appendValue(&st.val)
	} else {
		w.dst = append(w.dst, req[kEnd:end]...)
	}
	return true
}

func (w *writer) appendBytesField(tag byte, b []byte) {
	w.dst = append(w.dst, tag)
	w.dst = protowire.AppendVarint(w.dst, uint64(len(b)))
	w.dst = append(w.dst, b...)
}

// valueBodySize is the size of v's AnyValue body.
func valueBodySize(v *valueState) int {
	if v.cut {
		return 1 + protowire.SizeBytes(len(v.data))
	}
	return len(v.data)
}

// appendValue appends KeyValue.value (field 2) holding v.
func (w *writer) appendValue(v *valueState) {
	w.dst = append(w.dst, kvValueTag)
	w.dst = protowire.AppendVarint(w.dst, uint64(valueBodySize(v)))
	if v.cut {
		w.appendBytesField(byte(v.vt)<<3|byte(protowire.BytesType), v.data)
	} else {
		w.dst = append(w.dst, v.data...)
	}
}

// appendAdds appends the KeyValues SET_ATTR added, each under tag.
func (w *writer) appendAdds(head int32, tag byte) {
	for k := head; k >= 0; k = w.s.adds[k].next {
		ad := &w.s.adds[k]
		if ad.deleted {
			continue
		}
		vb := valueBodySize(&ad.val)
		w.dst = append(w.dst, tag)
		w.dst = protowire.AppendVarint(w.dst, uint64(1+protowire.SizeBytes(len(ad.key))+1+protowire.SizeBytes(vb)))
		w.appendBytesField(kvKeyTag, ad.key)
		w.appendValue(&ad.val)
	}
}

// ownerBit is an attribute owner's bit in a bulk edit's owner mask.
func ownerBit(o AttrOwner) uint8 {
	switch o {
	case OwnerResource:
		return EditOwnersResource
	case OwnerScope:
		return EditOwnersScope
	}
	return EditOwnersItem
}

// sameKey compares attribute keys, optionally ignoring ASCII case.
func sameKey(k, want []byte, fold bool) bool {
	if len(k) != len(want) {
		return false
	}
	if !fold {
		return string(k) == string(want)
	}
	for i := range k {
		a, b := k[i], want[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
