package otlpwire

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The index is flat on purpose: int32 offsets and indexes, no pointers, no
// strings, every struct a run of int32 fields. The filter host copies it
// into WASM guest memory as is and applies edit lists against the offsets,
// so its shape is part of the filter ABI: change it only with the ABI
// version.
//
// Offsets are byte positions in the request the index was built from. An
// entry's Off..End covers the field's tag, length prefix and body, so
// dropping req[Off:End] removes the entry cleanly (enclosing length prefixes
// then need fixing). Ranges into the index's own slices are half-open:
// Index.Attrs[AttrStart:AttrEnd].

// MaxAnyValueDepth bounds how deeply AnyValue may nest (arrays and kvlists
// inside attribute values and log bodies). The generated Go decoder allows
// 10,000 levels; no real telemetry comes near 64, and the bound keeps the
// recursive walk's stack small whatever a client sends.
const MaxAnyValueDepth = 64

// MaxRequestSize is the largest request Parse accepts: offsets are int32.
const MaxRequestSize = math.MaxInt32

// Resource is one top-level entry of a request: a ResourceSpans,
// ResourceMetrics or ResourceLogs.
type Resource struct {
	Off, End             int32 // the whole entry: tag, length and body
	ResOff, ResEnd       int32 // its resource field (tag included); 0, 0 when absent
	ScopeStart, ScopeEnd int32 // Index.Scopes range
	AttrStart, AttrEnd   int32 // Index.Attrs range: the resource's attributes
	ItemStart, ItemEnd   int32 // Index.ItemsAt range
}

// Scope is one ScopeSpans, ScopeMetrics or ScopeLogs.
type Scope struct {
	Off, End               int32 // the whole entry: tag, length and body
	ScopeOff, ScopeEnd     int32 // its InstrumentationScope field (tag included); 0, 0 when absent
	Resource               int32 // index into Index.Resources
	AttrStart, AttrEnd     int32 // Index.Attrs range: the scope's attributes
	ItemStart, ItemEnd     int32 // Index.ItemsAt range
	MetricStart, MetricEnd int32 // Index.Metrics range; empty unless the signal is Metrics
}

// MetricType says which data field a Metric carries. Its values are the
// field numbers in the Metric message.
type MetricType int32

// Metric types; MetricEmpty is a metric with no data field (and no points).
const (
	MetricEmpty                MetricType = 0
	MetricGauge                MetricType = 5
	MetricSum                  MetricType = 7
	MetricHistogram            MetricType = 9
	MetricExponentialHistogram MetricType = 10
	MetricSummary              MetricType = 11
)

// Metric is one Metric message; its data points are items.
type Metric struct {
	Off, End           int32 // the whole entry: tag, length and body
	Scope              int32 // index into Index.Scopes
	Type               MetricType
	DataOff, DataEnd   int32 // the gauge|sum|histogram|exponential_histogram|summary field, tag included
	NameOff, NameEnd   int32 // the name's bytes; equal when absent or empty
	ItemStart, ItemEnd int32 // Index.ItemsAt range
}

// Item is one span, metric data point or log record.
type Item struct {
	Off, End           int32 // the whole entry: tag, length and body
	Resource           int32 // index into Index.Resources
	Scope              int32 // index into Index.Scopes
	Metric             int32 // index into Index.Metrics; -1 unless the signal is Metrics
	AttrStart, AttrEnd int32 // Index.Attrs range: the item's own attributes
	// NameOff..NameEnd are the bytes of the span's name, the data point's
	// metric name or the log record's event_name; equal when absent or empty.
	NameOff, NameEnd int32
	// TraceIDOff is where the 16 trace_id bytes of a span or log record
	// start; 0 when it has none.
	TraceIDOff int32
}

// AttrOwner says which kind of entry an attribute belongs to.
type AttrOwner int32

// Attribute owners; Attr.Parent indexes Index.Resources, Index.Scopes or
// Index.ItemsAt accordingly.
const (
	OwnerResource AttrOwner = 1
	OwnerScope    AttrOwner = 2
	OwnerItem     AttrOwner = 3
)

// ValueType is the kind of an attribute's value. Its values are the field
// numbers of the AnyValue oneof.
type ValueType int32

// Value types; ValueEmpty is an attribute with no value or an empty AnyValue.
const (
	ValueEmpty    ValueType = 0
	ValueString   ValueType = 1
	ValueBool     ValueType = 2
	ValueInt      ValueType = 3
	ValueDouble   ValueType = 4
	ValueArray    ValueType = 5
	ValueKvlist   ValueType = 6
	ValueBytes    ValueType = 7
	ValueStrindex ValueType = 8
)

// Attr is one KeyValue in the attributes of a resource, scope or item.
// Attributes nested deeper (in events, links, exemplars, kvlist values,
// metric metadata) are validated but not indexed.
type Attr struct {
	Off, End       int32 // the KeyValue entry: tag, length and body
	Owner          AttrOwner
	Parent         int32 // index of the owner in its slice
	KeyOff, KeyEnd int32 // the key's bytes
	ValType        ValueType
	// ValOff..ValEnd is the value's payload: the bytes of a string or bytes
	// value, the varint of a bool, int or strindex, the 8 little-endian
	// bytes of a double, the body of an array or kvlist.
	ValOff, ValEnd int32
}

// Index records where everything sits in one encoded export request. Build
// it with Parse; reuse it across requests to avoid allocating.
type Index struct {
	Signal    Signal
	Items     int        // spans, metric data points (every type) or log records
	Resources []Resource // one per top-level entry, in order
	Scopes    []Scope
	Metrics   []Metric // Metrics signal only
	ItemsAt   []Item   // every span, data point or log record, in order
	Attrs     []Attr   // attributes of resources, scopes and items
}

// Reset empties ix, keeping its slices' capacity.
func (ix *Index) Reset() {
	ix.Items = 0
	ix.Resources = ix.Resources[:0]
	ix.Scopes = ix.Scopes[:0]
	ix.Metrics = ix.Metrics[:0]
	ix.ItemsAt = ix.ItemsAt[:0]
	ix.Attrs = ix.Attrs[:0]
}

// Parse validates req as an encoded Export*ServiceRequest of signal sig and
// indexes it into ix, reusing ix's slices (no allocation once they are big
// enough). On error the error is a *WireError and ix holds a partial index
// that must not be used.
//
// Validation covers: every tag and length; the wire type of every known
// field at every level (stricter than the generated Go decoder, which files
// a mistyped field under unknown fields: an OTLP sender that mistypes a field
// is broken and guessing could miscount items); nested messages; packed
// repeated fields; trace_id lengths 0 or 16 and span_id/parent_span_id
// lengths 0 or 8; AnyValue nesting up to MaxAnyValueDepth; at most one
// resource per resource entry, one scope per scope entry and one data field
// per metric (proto would merge or replace them, and then our counts and
// offsets would disagree with what a receiver decodes). Unknown fields,
// groups included, are skipped. UTF-8 in string fields is not checked: it
// would touch every string byte for nothing the gateway relies on, and
// upstreams that care check it themselves. An empty request is valid.
func (ix *Index) Parse(sig Signal, req []byte) error {
	ix.Reset()
	ix.Signal = sig
	p := parser{b: req, ix: ix, sig: sig}
	if err := p.request(); err != nil {
		return err.finish(sig)
	}
	ix.Items = p.items
	return nil
}

// CountItems validates req exactly as Index.Parse does and returns its item
// count (spans, data points or log records) without recording positions.
// It does not allocate unless it fails.
func CountItems(sig Signal, req []byte) (int, error) {
	p := parser{b: req, sig: sig}
	if err := p.request(); err != nil {
		return 0, err.finish(sig)
	}
	return p.items, nil
}

// WireError is what Parse and CountItems return for a malformed request.
// Receivers answer it with INVALID_ARGUMENT / 400.
type WireError struct {
	Signal Signal
	// Path names the offending field from the request down, e.g.
	// resource_spans[2].scope_spans[0].spans[5].trace_id; "" when the
	// request itself is at fault.
	Path string
	// Offset is the byte in the request where the problem was found.
	Offset int
	// Reason says what is wrong, e.g. "length 7, want 16".
	Reason string

	segs []pathSeg // innermost first, collected while the walk unwinds
}

type pathSeg struct {
	name string
	idx  int32 // -1 for a singular field
}

// Error reads like "otlp traces: resource_spans[0].scope_spans[1].spans[3].trace_id: length 7, want 16 (byte 1234)".
func (e *WireError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("otlp %s: %s (byte %d)", e.Signal, e.Reason, e.Offset)
	}
	return fmt.Sprintf("otlp %s: %s: %s (byte %d)", e.Signal, e.Path, e.Reason, e.Offset)
}

func (e *WireError) in(name string, idx int) *WireError {
	e.segs = append(e.segs, pathSeg{name, int32(idx)})
	return e
}

func (e *WireError) finish(sig Signal) *WireError {
	e.Signal = sig
	var sb strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(e.segs[i].name)
		if e.segs[i].idx >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(int(e.segs[i].idx)))
			sb.WriteByte(']')
		}
	}
	e.Path = sb.String()
	e.segs = nil
	return e
}

// fieldKind says how the generic walker checks a known field.
type fieldKind uint8

const (
	fkNone          fieldKind = iota // unknown field: skipped
	fkVarint                         // wire type 0
	fkFixed64                        // wire type 1
	fkFixed32                        // wire type 5
	fkBytes                          // wire type 2, any contents (string or bytes)
	fkName                           // fkBytes; an item's name, recorded
	fkTraceID                        // wire type 2, length 0 or 16; an item's is recorded
	fkSpanID                         // wire type 2, length 0 or 8
	fkPackedFixed64                  // repeated fixed64: wire type 1, or 2 with a multiple of 8 bytes
	fkPackedVarint                   // repeated varint: wire type 0, or 2 holding whole varints
	fkMsg                            // wire type 2, a nested message of type field.msg
	fkKV                             // a KeyValue, validated only
	fkAttr                           // a KeyValue of the owner's attributes, indexed
	fkAny                            // an AnyValue
)

type msgID uint8

const (
	mResource msgID = iota
	mEntityRef
	mScope
	mSpan
	mEvent
	mLink
	mStatus
	mLogRecord
	mNumberDP
	mHistogramDP
	mExpHistogramDP
	mBuckets
	mSummaryDP
	mQuantile
	mExemplar
	numMsgs
)

type field struct {
	name string
	kind fieldKind
	msg  msgID
	rep  bool // repeated: errors name the element index
}

// schemas holds, per message, its known fields indexed by field number.
// walkSchemas is the same with only what the walk needs per field on its
// hot path (two bytes an entry instead of a field's 24); names and
// repetition, for error paths, are read from schemas.
var (
	schemas     [numMsgs][]field
	walkSchemas [numMsgs][]fieldInfo
)

// fieldInfo is a field's kind and message type, as in its field.
type fieldInfo struct {
	kind fieldKind
	msg  msgID
}

func init() {
	def := func(m msgID, fs map[int]field) {
		n := 0
		for k := range fs {
			n = max(n, k+1)
		}
		s := make([]field, n)
		info := make([]fieldInfo, n)
		for k, f := range fs {
			s[k] = f
			info[k] = fieldInfo{f.kind, f.msg}
		}
		schemas[m] = s
		walkSchemas[m] = info
	}
	def(mResource, map[int]field{
		1: {"attributes", fkAttr, 0, true},
		2: {"dropped_attributes_count", fkVarint, 0, false},
		3: {"entity_refs", fkMsg, mEntityRef, true},
	})
	def(mEntityRef, map[int]field{
		1: {"schema_url", fkBytes, 0, false},
		2: {"type", fkBytes, 0, false},
		3: {"id_keys", fkBytes, 0, true},
		4: {"description_keys", fkBytes, 0, true},
	})
	def(mScope, map[int]field{
		1: {"name", fkBytes, 0, false},
		2: {"version", fkBytes, 0, false},
		3: {"attributes", fkAttr, 0, true},
		4: {"dropped_attributes_count", fkVarint, 0, false},
	})
	def(mSpan, map[int]field{
		1:  {"trace_id", fkTraceID, 0, false},
		2:  {"span_id", fkSpanID, 0, false},
		3:  {"trace_state", fkBytes, 0, false},
		4:  {"parent_span_id", fkSpanID, 0, false},
		5:  {"name", fkName, 0, false},
		6:  {"kind", fkVarint, 0, false},
		7:  {"start_time_unix_nano", fkFixed64, 0, false},
		8:  {"end_time_unix_nano", fkFixed64, 0, false},
		9:  {"attributes", fkAttr, 0, true},
		10: {"dropped_attributes_count", fkVarint, 0, false},
		11: {"events", fkMsg, mEvent, true},
		12: {"dropped_events_count", fkVarint, 0, false},
		13: {"links", fkMsg, mLink, true},
		14: {"dropped_links_count", fkVarint, 0, false},
		15: {"status", fkMsg, mStatus, false},
		16: {"flags", fkFixed32, 0, false},
	})
	def(mEvent, map[int]field{
		1: {"time_unix_nano", fkFixed64, 0, false},
		2: {"name", fkBytes, 0, false},
		3: {"attributes", fkKV, 0, true},
		4: {"dropped_attributes_count", fkVarint, 0, false},
	})
	def(mLink, map[int]field{
		1: {"trace_id", fkTraceID, 0, false},
		2: {"span_id", fkSpanID, 0, false},
		3: {"trace_state", fkBytes, 0, false},
		4: {"attributes", fkKV, 0, true},
		5: {"dropped_attributes_count", fkVarint, 0, false},
		6: {"flags", fkFixed32, 0, false},
	})
	def(mStatus, map[int]field{
		2: {"message", fkBytes, 0, false},
		3: {"code", fkVarint, 0, false},
	})
	def(mLogRecord, map[int]field{
		1:  {"time_unix_nano", fkFixed64, 0, false},
		2:  {"severity_number", fkVarint, 0, false},
		3:  {"severity_text", fkBytes, 0, false},
		5:  {"body", fkAny, 0, false},
		6:  {"attributes", fkAttr, 0, true},
		7:  {"dropped_attributes_count", fkVarint, 0, false},
		8:  {"flags", fkFixed32, 0, false},
		9:  {"trace_id", fkTraceID, 0, false},
		10: {"span_id", fkSpanID, 0, false},
		11: {"observed_time_unix_nano", fkFixed64, 0, false},
		12: {"event_name", fkName, 0, false},
	})
	def(mNumberDP, map[int]field{
		2: {"start_time_unix_nano", fkFixed64, 0, false},
		3: {"time_unix_nano", fkFixed64, 0, false},
		4: {"as_double", fkFixed64, 0, false},
		5: {"exemplars", fkMsg, mExemplar, true},
		6: {"as_int", fkFixed64, 0, false},
		7: {"attributes", fkAttr, 0, true},
		8: {"flags", fkVarint, 0, false},
	})
	def(mHistogramDP, map[int]field{
		2:  {"start_time_unix_nano", fkFixed64, 0, false},
		3:  {"time_unix_nano", fkFixed64, 0, false},
		4:  {"count", fkFixed64, 0, false},
		5:  {"sum", fkFixed64, 0, false},
		6:  {"bucket_counts", fkPackedFixed64, 0, true},
		7:  {"explicit_bounds", fkPackedFixed64, 0, true},
		8:  {"exemplars", fkMsg, mExemplar, true},
		9:  {"attributes", fkAttr, 0, true},
		10: {"flags", fkVarint, 0, false},
		11: {"min", fkFixed64, 0, false},
		12: {"max", fkFixed64, 0, false},
	})
	def(mExpHistogramDP, map[int]field{
		1:  {"attributes", fkAttr, 0, true},
		2:  {"start_time_unix_nano", fkFixed64, 0, false},
		3:  {"time_unix_nano", fkFixed64, 0, false},
		4:  {"count", fkFixed64, 0, false},
		5:  {"sum", fkFixed64, 0, false},
		6:  {"scale", fkVarint, 0, false},
		7:  {"zero_count", fkFixed64, 0, false},
		8:  {"positive", fkMsg, mBuckets, false},
		9:  {"negative", fkMsg, mBuckets, false},
		10: {"flags", fkVarint, 0, false},
		11: {"exemplars", fkMsg, mExemplar, true},
		12: {"min", fkFixed64, 0, false},
		13: {"max", fkFixed64, 0, false},
		14: {"zero_threshold", fkFixed64, 0, false},
	})
	def(mBuckets, map[int]field{
		1: {"offset", fkVarint, 0, false},
		2: {"bucket_counts", fkPackedVarint, 0, true},
	})
	def(mSummaryDP, map[int]field{
		2: {"start_time_unix_nano", fkFixed64, 0, false},
		3: {"time_unix_nano", fkFixed64, 0, false},
		4: {"count", fkFixed64, 0, false},
		5: {"sum", fkFixed64, 0, false},
		6: {"quantile_values", fkMsg, mQuantile, true},
		7: {"attributes", fkAttr, 0, true},
		8: {"flags", fkVarint, 0, false},
	})
	def(mQuantile, map[int]field{
		1: {"quantile", fkFixed64, 0, false},
		2: {"value", fkFixed64, 0, false},
	})
	def(mExemplar, map[int]field{
		2: {"time_unix_nano", fkFixed64, 0, false},
		3: {"as_double", fkFixed64, 0, false},
		4: {"span_id", fkSpanID, 0, false},
		5: {"trace_id", fkTraceID, 0, false},
		6: {"as_int", fkFixed64, 0, false},
		7: {"filtered_attributes", fkKV, 0, true},
	})
}

// names of the three levels per signal, for error paths.
var levelNames = [NumSignals][3]string{
	Traces:  {"resource_spans", "scope_spans", "spans"},
	Metrics: {"resource_metrics", "scope_metrics", "metrics"},
	Logs:    {"resource_logs", "scope_logs", "log_records"},
}

var wireTypeNames = [8]string{"varint", "fixed64", "length-delimited", "start-group", "end-group", "fixed32", "reserved 6", "reserved 7"}

// parser walks one request. With ix nil it only validates and counts.
type parser struct {
	b     []byte
	ix    *Index
	sig   Signal
	items int
}

func (p *parser) fail(off int, format string, args ...any) *WireError {
	return &WireError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// varint reads a varint at b[i:end]. The one-byte case is split out so it
// inlines: most tags, lengths and enum values are below 128.
func (p *parser) varint(i, end int) (uint64, int, *WireError) {
	if i < end && p.b[i] < 0x80 {
		return uint64(p.b[i]), i + 1, nil
	}
	return p.varintSlow(i, end)
}

func (p *parser) varintSlow(i, end int) (uint64, int, *WireError) {
	if i+1 < end && p.b[i+1] < 0x80 {
		return uint64(p.b[i]&0x7f) | uint64(p.b[i+1])<<7, i + 2, nil
	}
	v, n := protowire.ConsumeVarint(p.b[i:end])
	if n < 0 {
		if i+10 <= end {
			return 0, i, p.fail(i, "varint overflows 64 bits")
		}
		return 0, i, p.fail(i, "truncated varint")
	}
	return v, i + n, nil
}

// tag reads a field tag at b[i:end]; callers ensure i < end.
func (p *parser) tag(i, end int) (num uint32, wt uint8, j int, err *WireError) {
	if c := p.b[i]; c < 0x80 && c >= 8 {
		return uint32(c >> 3), c & 7, i + 1, nil
	}
	return p.tagSlow(i, end)
}

func (p *parser) tagSlow(i, end int) (num uint32, wt uint8, j int, err *WireError) {
	v, j, err := p.varint(i, end)
	if err != nil {
		err.Reason = "tag: " + err.Reason
		return 0, 0, i, err
	}
	if n := v >> 3; n == 0 || n > uint64(protowire.MaxValidNumber) {
		return 0, 0, i, p.fail(i, "field number %d out of range", n)
	}
	return uint32(v >> 3), uint8(v & 7), j, nil
}

// length reads a length prefix at b[i:end] and returns the body's bounds.
func (p *parser) length(i, end int) (int, int, *WireError) {
	if i < end {
		if c := int(p.b[i]); c < 0x80 && c < end-i {
			return i + 1, i + 1 + c, nil
		}
	}
	return p.lengthSlow(i, end)
}

func (p *parser) lengthSlow(i, end int) (int, int, *WireError) {
	v, j, err := p.varint(i, end)
	if err != nil {
		err.Reason = "length: " + err.Reason
		return 0, 0, err
	}
	if v > uint64(end-j) {
		return 0, 0, p.fail(i, "length %d exceeds the %d bytes left", v, end-j)
	}
	return j, j + int(v), nil
}

// skip steps over an unknown field whose value starts at b[i:end].
func (p *parser) skip(num uint32, wt uint8, i, end int) (int, *WireError) {
	n := protowire.ConsumeFieldValue(protowire.Number(num), protowire.Type(wt), p.b[i:end])
	if n < 0 {
		return i, p.fail(i, "unknown field %d (%s): %v", num, wireTypeNames[wt], protowire.ParseError(n))
	}
	return i + n, nil
}

// wantType checks a known field's wire type.
func (p *parser) wantType(at int, got, want uint8) *WireError {
	if got == want {
		return nil
	}
	return p.badType(at, got, want)
}

func (p *parser) badType(at int, got, want uint8) *WireError {
	return p.fail(at, "wire type %s, want %s", wireTypeNames[got&7], wireTypeNames[want])
}

// occurrence counts how often field num appears in b[off:at], which is
// already validated: the index of the element at 'at' for error paths.
func (p *parser) occurrence(off, at int, num uint32) int {
	n := 0
	for i := off; i < at; {
		v, k := protowire.ConsumeVarint(p.b[i:at])
		i += k
		f, t := protowire.DecodeTag(v)
		if uint32(f) == num {
			n++
		}
		i += protowire.ConsumeFieldValue(f, t, p.b[i:at])
	}
	return n
}

// in adds the path segment for field f of the message at b[off:] to err.
func (p *parser) in(err *WireError, name string, rep bool, off, at int, num uint32) *WireError {
	idx := -1
	if rep {
		idx = p.occurrence(off, at, num)
	}
	return err.in(name, idx)
}

// request walks the top level: repeated field 1, one resource entry each.
func (p *parser) request() *WireError {
	if len(p.b) > MaxRequestSize {
		return p.fail(0, "request of %d bytes exceeds %d", len(p.b), MaxRequestSize)
	}
	if p.sig >= NumSignals {
		return p.fail(0, "unknown %s", p.sig)
	}
	end := len(p.b)
	name := levelNames[p.sig][0]
	for i := 0; i < end; {
		num, wt, j, err := p.tag(i, end)
		if err != nil {
			return err
		}
		if num != 1 {
			if i, err = p.skip(num, wt, j, end); err != nil {
				return err
			}
			continue
		}
		if err := p.wantType(i, wt, 2); err != nil {
			return p.in(err, name, true, 0, i, 1)
		}
		s, e, err := p.length(j, end)
		if err == nil {
			err = p.resource(i, s, e)
		}
		if err != nil {
			return p.in(err, name, true, 0, i, 1)
		}
		i = e
	}
	return nil
}

// resource walks a ResourceSpans|ResourceMetrics|ResourceLogs whose entry
// starts at off and whose body is b[s:e].
func (p *parser) resource(off, s, e int) *WireError {
	ri := int32(-1)
	if p.ix != nil {
		ri = int32(len(p.ix.Resources))
		n := int32(len(p.ix.Scopes))
		p.ix.Resources = append(p.ix.Resources, Resource{
			Off: int32(off), End: int32(e),
			ScopeStart: n, ScopeEnd: n,
			AttrStart: int32(len(p.ix.Attrs)), AttrEnd: int32(len(p.ix.Attrs)),
			ItemStart: int32(len(p.ix.ItemsAt)), ItemEnd: int32(len(p.ix.ItemsAt)),
		})
	}
	seenRes := false
	scopeName := levelNames[p.sig][1]
	for i := s; i < e; {
		num, wt, j, err := p.tag(i, e)
		if err != nil {
			return err
		}
		switch num {
		case 1: // resource
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in("resource", -1)
			}
			if seenRes {
				return p.fail(i, "repeated, want at most one").in("resource", -1)
			}
			seenRes = true
			bs, be, err := p.length(j, e)
			if err != nil {
				return err.in("resource", -1)
			}
			if p.ix != nil {
				r := &p.ix.Resources[ri]
				r.ResOff, r.ResEnd = int32(i), int32(be)
				// The resource may follow its scopes on the wire: its
				// attributes start here, not where the entry began.
				r.AttrStart = int32(len(p.ix.Attrs))
			}
			if err := p.walk(mResource, bs, be, OwnerResource, ri, 0); err != nil {
				return err.in("resource", -1)
			}
			if p.ix != nil {
				p.ix.Resources[ri].AttrEnd = int32(len(p.ix.Attrs))
			}
			i = be
		case 2: // scope_*
			if err := p.wantType(i, wt, 2); err != nil {
				return p.in(err, scopeName, true, s, i, 2)
			}
			bs, be, err := p.length(j, e)
			if err == nil {
				err = p.scope(ri, i, bs, be)
			}
			if err != nil {
				return p.in(err, scopeName, true, s, i, 2)
			}
			i = be
		case 3: // schema_url
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in("schema_url", -1)
			}
			_, be, err := p.length(j, e)
			if err != nil {
				return err.in("schema_url", -1)
			}
			i = be
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
		}
	}
	if p.ix != nil {
		r := &p.ix.Resources[ri]
		r.ScopeEnd = int32(len(p.ix.Scopes))
		r.ItemEnd = int32(len(p.ix.ItemsAt))
	}
	return nil
}

// scope walks a ScopeSpans|ScopeMetrics|ScopeLogs of resource ri.
func (p *parser) scope(ri int32, off, s, e int) *WireError {
	si := int32(-1)
	if p.ix != nil {
		si = int32(len(p.ix.Scopes))
		na, ni, nm := int32(len(p.ix.Attrs)), int32(len(p.ix.ItemsAt)), int32(len(p.ix.Metrics))
		p.ix.Scopes = append(p.ix.Scopes, Scope{
			Off: int32(off), End: int32(e), Resource: ri,
			AttrStart: na, AttrEnd: na, ItemStart: ni, ItemEnd: ni, MetricStart: nm, MetricEnd: nm,
		})
	}
	seenScope := false
	itemName := levelNames[p.sig][2]
	for i := s; i < e; {
		num, wt, j, err := p.tag(i, e)
		if err != nil {
			return err
		}
		switch num {
		case 1: // scope
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in("scope", -1)
			}
			if seenScope {
				return p.fail(i, "repeated, want at most one").in("scope", -1)
			}
			seenScope = true
			bs, be, err := p.length(j, e)
			if err != nil {
				return err.in("scope", -1)
			}
			if p.ix != nil {
				sc := &p.ix.Scopes[si]
				sc.ScopeOff, sc.ScopeEnd = int32(i), int32(be)
				// The scope may follow its items on the wire.
				sc.AttrStart = int32(len(p.ix.Attrs))
			}
			if err := p.walk(mScope, bs, be, OwnerScope, si, 0); err != nil {
				return err.in("scope", -1)
			}
			if p.ix != nil {
				p.ix.Scopes[si].AttrEnd = int32(len(p.ix.Attrs))
			}
			i = be
		case 2: // spans | metrics | log_records
			if err := p.wantType(i, wt, 2); err != nil {
				return p.in(err, itemName, true, s, i, 2)
			}
			bs, be, err := p.length(j, e)
			if err == nil {
				switch p.sig {
				case Traces:
					err = p.item(mSpan, ri, si, -1, i, bs, be)
				case Logs:
					err = p.item(mLogRecord, ri, si, -1, i, bs, be)
				default:
					err = p.metric(ri, si, i, bs, be)
				}
			}
			if err != nil {
				return p.in(err, itemName, true, s, i, 2)
			}
			i = be
		case 3: // schema_url
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in("schema_url", -1)
			}
			_, be, err := p.length(j, e)
			if err != nil {
				return err.in("schema_url", -1)
			}
			i = be
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
		}
	}
	if p.ix != nil {
		sc := &p.ix.Scopes[si]
		sc.ItemEnd = int32(len(p.ix.ItemsAt))
		sc.MetricEnd = int32(len(p.ix.Metrics))
	}
	return nil
}

// item records and walks one span, data point or log record.
func (p *parser) item(m msgID, ri, si, mi int32, off, s, e int) *WireError {
	p.items++
	if p.ix == nil {
		switch m {
		case mSpan:
			return p.span(s, e, 0, -1)
		case mLogRecord:
			return p.logRecord(s, e, 0, -1)
		}
		return p.walk(m, s, e, 0, -1, 0)
	}
	ii := int32(len(p.ix.ItemsAt))
	na := int32(len(p.ix.Attrs))
	p.ix.ItemsAt = append(p.ix.ItemsAt, Item{
		Off: int32(off), End: int32(e), Resource: ri, Scope: si, Metric: mi, AttrStart: na, AttrEnd: na,
	})
	var err *WireError
	switch m {
	case mSpan:
		err = p.span(s, e, OwnerItem, ii)
	case mLogRecord:
		err = p.logRecord(s, e, OwnerItem, ii)
	default:
		err = p.walk(m, s, e, OwnerItem, ii, 0)
	}
	if err != nil {
		return err
	}
	p.ix.ItemsAt[ii].AttrEnd = int32(len(p.ix.Attrs))
	return nil
}

var metricDataNames = [12]string{5: "gauge", 7: "sum", 9: "histogram", 10: "exponential_histogram", 11: "summary"}
var metricDPMsgs = [12]msgID{5: mNumberDP, 7: mNumberDP, 9: mHistogramDP, 10: mExpHistogramDP, 11: mSummaryDP}

// metric walks one Metric; its data points are the items.
func (p *parser) metric(ri, si int32, off, s, e int) *WireError {
	mi := int32(-1)
	if p.ix != nil {
		mi = int32(len(p.ix.Metrics))
		n := int32(len(p.ix.ItemsAt))
		p.ix.Metrics = append(p.ix.Metrics, Metric{Off: int32(off), End: int32(e), Scope: si, ItemStart: n, ItemEnd: n})
	}
	var nameOff, nameEnd int32
	var typ MetricType
	for i := s; i < e; {
		num, wt, j, err := p.tag(i, e)
		if err != nil {
			return err
		}
		switch num {
		case 1, 2, 3: // name, description, unit
			fname := [4]string{1: "name", 2: "description", 3: "unit"}[num]
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in(fname, -1)
			}
			bs, be, err := p.length(j, e)
			if err != nil {
				return err.in(fname, -1)
			}
			if num == 1 {
				nameOff, nameEnd = int32(bs), int32(be)
			}
			i = be
		case 5, 7, 9, 10, 11:
			fname := metricDataNames[num]
			if err := p.wantType(i, wt, 2); err != nil {
				return err.in(fname, -1)
			}
			if typ != MetricEmpty {
				return p.fail(i, "second data field (%s already set)", metricDataNames[typ]).in(fname, -1)
			}
			typ = MetricType(num)
			bs, be, err := p.length(j, e)
			if err == nil {
				err = p.metricData(typ, ri, si, mi, bs, be)
			}
			if err != nil {
				return err.in(fname, -1)
			}
			if p.ix != nil {
				m := &p.ix.Metrics[mi]
				m.Type, m.DataOff, m.DataEnd = typ, int32(i), int32(be)
			}
			i = be
		case 12: // metadata
			if err := p.wantType(i, wt, 2); err != nil {
				return p.in(err, "metadata", true, s, i, num)
			}
			bs, be, err := p.length(j, e)
			if err == nil {
				err = p.keyValue(i, bs, be, 0, -1, 0)
			}
			if err != nil {
				return p.in(err, "metadata", true, s, i, num)
			}
			i = be
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
		}
	}
	if p.ix != nil {
		m := &p.ix.Metrics[mi]
		m.NameOff, m.NameEnd = nameOff, nameEnd
		m.ItemEnd = int32(len(p.ix.ItemsAt))
		for k := m.ItemStart; k < m.ItemEnd; k++ {
			p.ix.ItemsAt[k].NameOff, p.ix.ItemsAt[k].NameEnd = nameOff, nameEnd
		}
	}
	return nil
}

// metricData walks a Gauge, Sum, Histogram, ExponentialHistogram or Summary.
func (p *parser) metricData(typ MetricType, ri, si, mi int32, s, e int) *WireError {
	for i := s; i < e; {
		num, wt, j, err := p.tag(i, e)
		if err != nil {
			return err
		}
		switch {
		case num == 1: // data_points
			if err := p.wantType(i, wt, 2); err != nil {
				return p.in(err, "data_points", true, s, i, 1)
			}
			bs, be, err := p.length(j, e)
			if err == nil {
				err = p.item(metricDPMsgs[typ], ri, si, mi, i, bs, be)
			}
			if err != nil {
				return p.in(err, "data_points", true, s, i, 1)
			}
			i = be
		case num == 2 && (typ == MetricSum || typ == MetricHistogram || typ == MetricExponentialHistogram),
			num == 3 && typ == MetricSum:
			fname := [4]string{2: "aggregation_temporality", 3: "is_monotonic"}[num]
			if err := p.wantType(i, wt, 0); err != nil {
				return err.in(fname, -1)
			}
			if _, i, err = p.varint(j, e); err != nil {
				return err.in(fname, -1)
			}
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// span is walk(mSpan, s, e, owner, parent, 0) with the fields spans carry
// decoded inline, each tag and length checked as walk checks them: the
// walk's table lookups and kind switches cost more than the checks. At the
// first field it does not expect, or that is not well formed, it hands the
// rest of the span to walkFrom, which checks it field by field and reports
// any problem. FuzzSpanFastPath compares the two.
func (p *parser) span(s, e int, owner AttrOwner, parent int32) *WireError {
	b := p.b
	if e > len(b) {
		return p.walk(mSpan, s, e, owner, parent, 0)
	}
	record := owner == OwnerItem && p.ix != nil
	i := s
fields:
	for i < e {
		switch b[i] {
		case 1<<3 | 2: // trace_id: 0 or 16 bytes
			if i+1 >= e {
				break fields
			}
			switch n := b[i+1]; {
			case n == 16 && i+18 <= e:
				if record {
					p.ix.ItemsAt[parent].TraceIDOff = int32(i + 2)
				}
				i += 18
			case n == 0:
				if record {
					p.ix.ItemsAt[parent].TraceIDOff = 0
				}
				i += 2
			default:
				break fields
			}
		case 2<<3 | 2, 4<<3 | 2: // span_id, parent_span_id: 0 or 8 bytes
			if i+1 >= e {
				break fields
			}
			switch n := b[i+1]; {
			case n == 8 && i+10 <= e:
				i += 10
			case n == 0:
				i += 2
			default:
				break fields
			}
		case 3<<3 | 2, 5<<3 | 2: // trace_state, name
			l, j, ok := len2(b, i+1, e)
			if !ok || j+l > e {
				break fields
			}
			if b[i] == 5<<3|2 && record {
				it := &p.ix.ItemsAt[parent]
				it.NameOff, it.NameEnd = int32(j), int32(j+l)
			}
			i = j + l
		case 6 << 3, 10 << 3, 12 << 3, 14 << 3: // kind, dropped_*_count (wire type 0): a varint of one or two bytes
			switch {
			case i+1 < e && b[i+1] < 0x80:
				i += 2
			case i+2 < e && b[i+2] < 0x80:
				i += 3
			default:
				break fields
			}
		case 7<<3 | 1, 8<<3 | 1: // start_time_unix_nano, end_time_unix_nano
			if i+9 > e {
				break fields
			}
			i += 9
		case 9<<3 | 2, 11<<3 | 2, 13<<3 | 2, 15<<3 | 2: // attributes, events, links, status
			l, j, ok := len2(b, i+1, e)
			if !ok || j+l > e {
				break fields
			}
			var err *WireError
			switch b[i] {
			case 9<<3 | 2:
				err = p.keyValue(i, j, j+l, owner, parent, 0)
			case 11<<3 | 2:
				err = p.walk(mEvent, j, j+l, 0, -1, 0)
			case 13<<3 | 2:
				err = p.walk(mLink, j, j+l, 0, -1, 0)
			default:
				err = p.walk(mStatus, j, j+l, 0, -1, 0)
			}
			if err != nil {
				// Nothing was recorded; walkFrom meets the same problem
				// and names the field.
				break fields
			}
			i = j + l
		case 16<<3 | 5 | 0x80: // flags, fixed32: a two-byte tag
			if i+6 > e || b[i+1] != 1 {
				break fields
			}
			i += 6
		default:
			break fields
		}
	}
	if i >= e {
		return nil
	}
	return p.walkFrom(mSpan, s, i, e, owner, parent, 0)
}

// logRecord is span for log records: walk(mLogRecord, s, e, owner,
// parent, 0) with the fields log records carry decoded inline, the rest
// handed to walkFrom. FuzzLogRecordFastPath compares the two.
func (p *parser) logRecord(s, e int, owner AttrOwner, parent int32) *WireError {
	b := p.b
	if e > len(b) {
		return p.walk(mLogRecord, s, e, owner, parent, 0)
	}
	record := owner == OwnerItem && p.ix != nil
	i := s
fields:
	for i < e {
		switch b[i] {
		case 1<<3 | 1, 11<<3 | 1: // time_unix_nano, observed_time_unix_nano
			if i+9 > e {
				break fields
			}
			i += 9
		case 2 << 3, 7 << 3: // severity_number, dropped_attributes_count (wire type 0): a varint of one or two bytes
			switch {
			case i+1 < e && b[i+1] < 0x80:
				i += 2
			case i+2 < e && b[i+2] < 0x80:
				i += 3
			default:
				break fields
			}
		case 3<<3 | 2, 12<<3 | 2: // severity_text, event_name
			l, j, ok := len2(b, i+1, e)
			if !ok || j+l > e {
				break fields
			}
			if b[i] == 12<<3|2 && record {
				it := &p.ix.ItemsAt[parent]
				it.NameOff, it.NameEnd = int32(j), int32(j+l)
			}
			i = j + l
		case 5<<3 | 2, 6<<3 | 2: // body, attributes
			l, j, ok := len2(b, i+1, e)
			if !ok || j+l > e {
				break fields
			}
			var err *WireError
			if b[i] == 5<<3|2 {
				_, _, _, err = p.anyValue(j, j+l, 1)
			} else {
				err = p.keyValue(i, j, j+l, owner, parent, 0)
			}
			if err != nil {
				// Nothing was recorded; walkFrom meets the same problem
				// and names the field.
				break fields
			}
			i = j + l
		case 8<<3 | 5: // flags
			if i+5 > e {
				break fields
			}
			i += 5
		case 9<<3 | 2: // trace_id: 0 or 16 bytes
			if i+1 >= e {
				break fields
			}
			switch n := b[i+1]; {
			case n == 16 && i+18 <= e:
				if record {
					p.ix.ItemsAt[parent].TraceIDOff = int32(i + 2)
				}
				i += 18
			case n == 0:
				if record {
					p.ix.ItemsAt[parent].TraceIDOff = 0
				}
				i += 2
			default:
				break fields
			}
		case 10<<3 | 2: // span_id: 0 or 8 bytes
			if i+1 >= e {
				break fields
			}
			switch n := b[i+1]; {
			case n == 8 && i+10 <= e:
				i += 10
			case n == 0:
				i += 2
			default:
				break fields
			}
		default:
			break fields
		}
	}
	if i >= e {
		return nil
	}
	return p.walkFrom(mLogRecord, s, i, e, owner, parent, 0)
}

// walk validates the message m in b[s:e] against its schema. Attributes
// (fkAttr fields) are indexed under owner/parent when indexing; when owner is
// OwnerItem the item's name and trace_id offsets are recorded too. depth is
// the AnyValue nesting depth of the message's surroundings.
func (p *parser) walk(m msgID, s, e int, owner AttrOwner, parent int32, depth int) *WireError {
	return p.walkFrom(m, s, s, e, owner, parent, depth)
}

// walkFrom is walk from the field at i on (s <= i <= e), the fields before
// it already checked; s stays the message's start for error paths.
func (p *parser) walkFrom(m msgID, s, i, e int, owner AttrOwner, parent int32, depth int) *WireError {
	sch := walkSchemas[m]
	for i < e {
		// p.tag's fast path by hand: the compiler will not inline it.
		var num uint32
		var wt uint8
		var j int
		var err *WireError
		if c := p.b[i]; c < 0x80 && c >= 8 {
			num, wt, j = uint32(c>>3), c&7, i+1
		} else if num, wt, j, err = p.tagSlow(i, e); err != nil {
			return err
		}
		var f fieldInfo
		if int(num) < len(sch) {
			f = sch[num]
		}
		switch f.kind {
		case fkNone:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
			continue
		case fkVarint:
			if err = p.wantType(i, wt, 0); err == nil {
				_, j, err = p.varint(j, e)
			}
		case fkFixed64:
			if err = p.wantType(i, wt, 1); err == nil {
				if j+8 > e {
					err = p.fail(j, "truncated fixed64")
				}
				j += 8
			}
		case fkFixed32:
			if err = p.wantType(i, wt, 5); err == nil {
				if j+4 > e {
					err = p.fail(j, "truncated fixed32")
				}
				j += 4
			}
		case fkPackedFixed64:
			switch wt {
			case 1:
				if j+8 > e {
					err = p.fail(j, "truncated fixed64")
				}
				j += 8
			case 2:
				var bs, be int
				if bs, be, err = p.length(j, e); err == nil && (be-bs)%8 != 0 {
					err = p.fail(j, "packed fixed64 length %d is not a multiple of 8", be-bs)
				}
				j = be
			default:
				err = p.fail(i, "wire type %s, want fixed64 or length-delimited", wireTypeNames[wt])
			}
		case fkPackedVarint:
			switch wt {
			case 0:
				_, j, err = p.varint(j, e)
			case 2:
				var bs, be int
				if bs, be, err = p.length(j, e); err == nil {
					for k := bs; k < be && err == nil; {
						_, k, err = p.varint(k, be)
					}
				}
				j = be
			default:
				err = p.fail(i, "wire type %s, want varint or length-delimited", wireTypeNames[wt])
			}
		default: // every length-delimited kind
			if err = p.wantType(i, wt, 2); err != nil {
				break
			}
			var bs, be int
			if j < e && p.b[j] < 0x80 && int(p.b[j]) < e-j { // p.length inlined
				bs, be = j+1, j+1+int(p.b[j])
			} else if bs, be, err = p.lengthSlow(j, e); err != nil {
				break
			}
			j = be
			switch f.kind {
			case fkName:
				if owner == OwnerItem && p.ix != nil {
					it := &p.ix.ItemsAt[parent]
					it.NameOff, it.NameEnd = int32(bs), int32(be)
				}
			case fkTraceID:
				if n := be - bs; n != 0 && n != 16 {
					err = p.fail(bs, "length %d, want 16", n)
				} else if owner == OwnerItem && p.ix != nil {
					if n == 0 {
						p.ix.ItemsAt[parent].TraceIDOff = 0
					} else {
						p.ix.ItemsAt[parent].TraceIDOff = int32(bs)
					}
				}
			case fkSpanID:
				if n := be - bs; n != 0 && n != 8 {
					err = p.fail(bs, "length %d, want 8", n)
				}
			case fkMsg:
				err = p.walk(f.msg, bs, be, 0, -1, depth)
			case fkKV:
				err = p.keyValue(i, bs, be, 0, -1, depth)
			case fkAttr:
				err = p.keyValue(i, bs, be, owner, parent, depth)
			case fkAny:
				_, _, _, err = p.anyValue(bs, be, depth+1)
			}
		}
		if err != nil {
			fd := schemas[m][num] // a known field: unknown ones are skipped above
			return p.in(err, fd.name, fd.rep, s, i, num)
		}
		i = j
	}
	return nil
}

// keyValue validates a KeyValue whose entry starts at off and whose body is
// b[s:e]; with owner set and indexing on, it is recorded as an attribute.
func (p *parser) keyValue(off, s, e int, owner AttrOwner, parent int32, depth int) *WireError {
	keyOff, keyEnd, vt, vs, ve, ok := p.keyValueFast(s, e, depth)
	if !ok {
		var err *WireError
		if keyOff, keyEnd, vt, vs, ve, err = p.keyValueFields(s, e, depth); err != nil {
			return err
		}
	}
	if owner != 0 && p.ix != nil {
		// Field by field into place rather than append(..., Attr{...}):
		// the composite literal is built on the stack with 4-byte stores
		// and copied with 16-byte loads, which stalls store forwarding on
		// every attribute (a third of Parse's time in profiles).
		attrs := p.ix.Attrs
		if n := len(attrs); n < cap(attrs) {
			attrs = attrs[:n+1]
			a := &attrs[n]
			a.Off, a.End, a.Owner, a.Parent = int32(off), int32(e), owner, parent
			a.KeyOff, a.KeyEnd = int32(keyOff), int32(keyEnd)
			a.ValType, a.ValOff, a.ValEnd = vt, int32(vs), int32(ve)
			p.ix.Attrs = attrs
		} else {
			p.ix.Attrs = append(attrs, Attr{
				Off: int32(off), End: int32(e), Owner: owner, Parent: parent,
				KeyOff: int32(keyOff), KeyEnd: int32(keyEnd),
				ValType: vt, ValOff: int32(vs), ValEnd: int32(ve),
			})
		}
	}
	return nil
}

// keyValueFast decodes the KeyValue shape nearly every sender writes, and
// nothing else: the key (field 1), then the value (field 2) holding one
// string, bool, int (at most 9 varint bytes) or double, every length one or
// two bytes, the value ending the KeyValue; or a key alone. For anything
// else it returns ok false and keyValueFields walks b[s:e] field by field.
// What it accepts, keyValueFields accepts with the same results
// (FuzzKeyValueFastPath).
func (p *parser) keyValueFast(s, e, depth int) (keyOff, keyEnd int, vt ValueType, vs, ve int, ok bool) {
	b := p.b
	if s >= e || e > len(b) || b[s] != 1<<3|2 || depth >= MaxAnyValueDepth {
		return
	}
	kl, ks, lok := len2(b, s+1, e)
	k := ks + kl
	if !lok || k > e {
		return
	}
	if k == e { // a key and no value
		return ks, k, ValueEmpty, 0, 0, true
	}
	// The value: one length-delimited AnyValue ending at e.
	if b[k] != 2<<3|2 {
		return
	}
	al, a, lok := len2(b, k+1, e)
	if !lok || a+al != e {
		return
	}
	if a == e { // an empty AnyValue
		return ks, k, ValueEmpty, 0, 0, true
	}
	switch b[a] {
	case 1<<3 | 2: // string_value
		if sl, ss, lok := len2(b, a+1, e); lok && ss+sl == e {
			return ks, k, ValueString, ss, e, true
		}
	case 2 << 3, 3 << 3: // bool_value, int_value (wire type 0): a varint ending at e
		if n := e - a - 1; n < 1 || n > 9 || b[e-1] >= 0x80 {
			return
		}
		for j := a + 1; j < e-1; j++ {
			if b[j] < 0x80 {
				return
			}
		}
		return ks, k, ValueType(b[a] >> 3), a + 1, e, true
	case 4<<3 | 1: // double_value
		if a+9 == e {
			return ks, k, ValueDouble, a + 1, e, true
		}
	}
	return
}

// len2 decodes a length of one or two varint bytes at b[i:e] and returns
// it and where its body starts; ok is false for anything longer or cut off.
func len2(b []byte, i, e int) (n, j int, ok bool) {
	if i < e {
		if c := b[i]; c < 0x80 {
			return int(c), i + 1, true
		}
		if i+1 < e && b[i+1] < 0x80 {
			return int(b[i]&0x7f) | int(b[i+1])<<7, i + 2, true
		}
	}
	return 0, 0, false
}

// keyValueFields walks a KeyValue body b[s:e] field by field.
func (p *parser) keyValueFields(s, e, depth int) (keyOff, keyEnd int, vt ValueType, vs, ve int, _ *WireError) {
	for i := s; i < e; {
		// p.tag's fast path by hand: the compiler will not inline it.
		var num uint32
		var wt uint8
		var j int
		var err *WireError
		if c := p.b[i]; c < 0x80 && c >= 8 {
			num, wt, j = uint32(c>>3), c&7, i+1
		} else if num, wt, j, err = p.tagSlow(i, e); err != nil {
			return 0, 0, 0, 0, 0, err
		}
		switch num {
		case 1: // key
			if err := p.wantType(i, wt, 2); err != nil {
				return 0, 0, 0, 0, 0, err.in("key", -1)
			}
			if j < e && p.b[j] < 0x80 && int(p.b[j]) < e-j { // p.length inlined
				keyOff, keyEnd = j+1, j+1+int(p.b[j])
			} else if keyOff, keyEnd, err = p.lengthSlow(j, e); err != nil {
				return 0, 0, 0, 0, 0, err.in("key", -1)
			}
			i = keyEnd
		case 2: // value
			if err := p.wantType(i, wt, 2); err != nil {
				return 0, 0, 0, 0, 0, err.in("value", -1)
			}
			var bs, be int
			if j < e && p.b[j] < 0x80 && int(p.b[j]) < e-j { // p.length inlined
				bs, be = j+1, j+1+int(p.b[j])
			} else {
				bs, be, err = p.lengthSlow(j, e)
			}
			if err == nil {
				var t ValueType
				var a, b int
				if t, a, b, err = p.anyValue(bs, be, depth+1); t != ValueEmpty {
					vt, vs, ve = t, a, b
				}
			}
			if err != nil {
				return 0, 0, 0, 0, 0, err.in("value", -1)
			}
			i = be
		case 3: // key_strindex
			if err := p.wantType(i, wt, 0); err != nil {
				return 0, 0, 0, 0, 0, err.in("key_strindex", -1)
			}
			if _, i, err = p.varint(j, e); err != nil {
				return 0, 0, 0, 0, 0, err.in("key_strindex", -1)
			}
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return 0, 0, 0, 0, 0, err
			}
		}
	}
	return keyOff, keyEnd, vt, vs, ve, nil
}

// anyValue validates an AnyValue in b[s:e] at nesting depth depth (1 for an
// attribute's value) and returns its last value field's type and payload.
func (p *parser) anyValue(s, e, depth int) (ValueType, int, int, *WireError) {
	if depth > MaxAnyValueDepth {
		return 0, 0, 0, p.fail(s, "AnyValue nested deeper than %d", MaxAnyValueDepth)
	}
	var vt ValueType
	var vs, ve int
	for i := s; i < e; {
		var num uint32
		var wt uint8
		var j int
		var err *WireError
		if c := p.b[i]; c < 0x80 && c >= 8 {
			num, wt, j = uint32(c>>3), c&7, i+1
		} else if num, wt, j, err = p.tagSlow(i, e); err != nil {
			return 0, 0, 0, err
		}
		var name string
		switch num {
		case 1, 7: // string_value, bytes_value
			name = [8]string{1: "string_value", 7: "bytes_value"}[num]
			if err = p.wantType(i, wt, 2); err == nil {
				if j < e && p.b[j] < 0x80 && int(p.b[j]) < e-j { // p.length inlined
					vs, ve = j+1, j+1+int(p.b[j])
				} else {
					vs, ve, err = p.lengthSlow(j, e)
				}
				j = ve
			}
		case 2, 3, 8: // bool_value, int_value, string_value_strindex
			name = [9]string{2: "bool_value", 3: "int_value", 8: "string_value_strindex"}[num]
			if err = p.wantType(i, wt, 0); err == nil {
				vs = j
				_, j, err = p.varint(j, e)
				ve = j
			}
		case 4: // double_value
			name = "double_value"
			if err = p.wantType(i, wt, 1); err == nil {
				if j+8 > e {
					err = p.fail(j, "truncated fixed64")
				}
				vs, ve = j, j+8
				j += 8
			}
		case 5, 6: // array_value, kvlist_value
			name = [7]string{5: "array_value", 6: "kvlist_value"}[num]
			if err = p.wantType(i, wt, 2); err == nil {
				if vs, ve, err = p.length(j, e); err == nil {
					err = p.list(num == 6, vs, ve, depth)
				}
				j = ve
			}
		default:
			if i, err = p.skip(num, wt, j, e); err != nil {
				return 0, 0, 0, err
			}
			continue
		}
		if err != nil {
			return 0, 0, 0, err.in(name, -1)
		}
		vt = ValueType(num)
		i = j
	}
	return vt, vs, ve, nil
}

// list validates an ArrayValue (kv false) or KeyValueList (kv true) body.
func (p *parser) list(kv bool, s, e, depth int) *WireError {
	for i := s; i < e; {
		num, wt, j, err := p.tag(i, e)
		if err != nil {
			return err
		}
		if num != 1 {
			if i, err = p.skip(num, wt, j, e); err != nil {
				return err
			}
			continue
		}
		if err = p.wantType(i, wt, 2); err == nil {
			var bs, be int
			if bs, be, err = p.length(j, e); err == nil {
				if kv {
					err = p.keyValue(i, bs, be, 0, -1, depth)
				} else {
					_, _, _, err = p.anyValue(bs, be, depth+1)
				}
				j = be
			}
		}
		if err != nil {
			return p.in(err, "values", true, s, i, 1)
		}
		i = j
	}
	return nil
}
