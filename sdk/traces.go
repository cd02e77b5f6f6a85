package sdk

import "iter"

// Traces is one batch of spans: an ExportTraceServiceRequest. It and
// everything read from it are valid only during the callback.
type Traces struct{ b *batch }

// Len is the number of spans.
func (t *Traces) Len() int { return int(t.b.nItem) }

// Span returns span i, 0 <= i < Len(), in request order.
func (t *Traces) Span(i int) Span {
	check(int32(i), t.b.nItem, "span")
	return Span{t.b, int32(i)}
}

// Spans iterates over every span in request order.
func (t *Traces) Spans() iter.Seq[Span] { return spansIn(t.b, SignalTraces, 0, t.b.nItem) }

// Resources iterates over the batch's resources (ResourceSpans).
func (t *Traces) Resources() iter.Seq[Resource] { return resourcesOf(t.b) }

// Bytes is the encoded request, read-only.
func (t *Traces) Bytes() []byte { return t.b.req }

// Reject refuses the whole batch with reason, which the client sees. It
// discards every other edit of this call, before or after.
func (t *Traces) Reject(reason string) { t.b.reject(reason) }

// DropNamed drops every span named name in the batch, with reason for
// the client's partial-success message, in one edit the gateway applies
// natively (the filter reads no name itself).
func (t *Traces) DropNamed(name, reason string) { t.b.dropNamed(name, reason, 0) }

// DeleteKey deletes every attribute named key on the owners where says,
// across the whole batch, in one edit the gateway applies natively: much
// cheaper than walking attributes in the filter. With fold, ASCII case is
// ignored ("Password" matches "password"). Keys match as they arrived.
func (t *Traces) DeleteKey(key string, where Owners, fold bool) { t.b.deleteKey(key, where, fold) }

// TruncateValues cuts every string or bytes attribute value longer than n
// bytes, on the owners where says, across the whole batch, in one edit the
// gateway applies natively (strings are cut at a UTF-8 character start).
func (t *Traces) TruncateValues(n int, where Owners) { t.b.truncateValues(n, where) }

// CapAttributes keeps the first n attributes of every owner where says
// (as earlier edits of this call leave them; attributes set by this call
// count after the others) and deletes the rest, across the whole batch, in
// one edit the gateway applies natively.
func (t *Traces) CapAttributes(n int, where Owners) { t.b.capAttributes(n, where) }

// ClampFuture sets every timestamp (a span's start or end) later than limit to now,
// Unix nanoseconds, across the whole batch, in one edit the gateway
// applies natively. A span's end is never set before its start.
func (t *Traces) ClampFuture(limit, now uint64) { t.b.clampFuture(limit, now) }

// DropInvalid drops every item that fails one of c's checks (see
// Validity), with the reason of the first check it fails, across the whole
// batch, in one edit the gateway applies natively.
func (t *Traces) DropInvalid(c Validity) { t.b.dropInvalid(c) }

// SetDefaultStr sets attribute key to the string value on every owner
// where says that has no attribute key, or has it with an empty value (no
// value, or ""), as earlier edits of this call leave it, across the whole
// batch, in one edit the gateway applies natively.
func (t *Traces) SetDefaultStr(key, value string, where Owners) { t.b.setDefaultStr(key, value, where) }

// DropWhere drops every span that meets every one of c's conditions
// (built once with Where), with reason for the client's partial-success
// message, across the whole batch, in one edit the gateway applies
// natively (the filter reads nothing itself). Spans an earlier edit
// already dropped count as that edit's drops.
func (t *Traces) DropWhere(c Conditions, reason string) { t.b.dropWhere(c, reason) }

// Sample drops every span whose trace ID's low 56 bits are below
// threshold (SampleThreshold turns a percentage kept into one), with reason
// for the client's partial-success message, across the whole batch, in one
// edit the gateway applies natively. It is OpenTelemetry's consistent
// probability sampling: the decision depends on the trace ID alone, so
// every span and log record of a trace, in any batch, on any gateway with
// the same threshold, shares it. Spans without a valid trace ID (16
// bytes, not all zero) are kept.
func (t *Traces) Sample(threshold uint64, reason string) { t.b.sample(threshold, reason) }

// HashValues replaces the value of every attribute named key on the
// owners where says with the lower-case hex SHA-256 of salt followed by
// the value's text (ABI.md §4 HASH_VALUES), across the whole batch, in one
// edit the gateway applies natively: equal values still compare equal, and
// the original is not kept. With fold, ASCII case is ignored in the key.
func (t *Traces) HashValues(key string, where Owners, fold bool, salt string) {
	t.b.hashValues(key, where, fold, salt)
}

// SetDefault is SetDefaultStr for a value of any scalar type (StrValue,
// IntValue, DoubleValue, BoolValue, built once in Init).
func (t *Traces) SetDefault(key string, v Scalar, where Owners) { t.b.setDefault(key, v, where) }

// NormalizeKey gives every attribute whose key is key spelled in another
// ASCII case (Service.Name for service.name) the spelling key, on the
// owners where says, across the whole batch, in one edit the gateway
// applies natively. An owner that already has key, or has two other
// spellings, keeps one attribute: the first other spelling is renamed
// when the owner lacks key, and the rest are deleted.
func (t *Traces) NormalizeKey(key string, where Owners) { t.b.normalizeKey(key, where) }

// MaskValues replaces what mask finds (built once with NewMask) in the
// string values of the attributes it covers, on the owners where says,
// with mask's replacement, across the whole batch, in one edit the gateway
// applies natively. An array or map value that holds a match anywhere
// inside becomes the replacement as a whole. Several MaskValues chain:
// each sees the values the ones before it left.
func (t *Traces) MaskValues(mask Mask, where Owners) { t.b.maskValues(mask, where) }

// Replace replaces the whole batch with req, a complete encoded
// ExportTraceServiceRequest (copied). It discards every other edit of this
// call, before or after.
func (t *Traces) Replace(req []byte) { t.b.replace(req) }

func spansIn(b *batch, sig Signal, s, e int32) iter.Seq[Span] {
	return func(yield func(Span) bool) {
		if b.sig != sig {
			return
		}
		for i := s; i < e; i++ {
			if !yield(Span{b, i}) {
				return
			}
		}
	}
}

func resourcesOf(b *batch) iter.Seq[Resource] {
	return func(yield func(Resource) bool) {
		for i := int32(0); i < b.nRes; i++ {
			if !yield(Resource{b, i}) {
				return
			}
		}
	}
}

// Span is one span of a Traces batch.
type Span struct {
	b *batch
	i int32
}

// Span fields (opentelemetry.proto.trace.v1.Span).
const (
	spanSpanID       = 2
	spanTraceState   = 3
	spanParentSpanID = 4
	spanKind         = 6
	spanStart        = 7
	spanEnd          = 8
	spanDroppedAttrs = 10
	spanEvents       = 11
	spanLinks        = 13
	spanStatus       = 15
	spanFlags        = 16
)

// SpanKind is a span's kind.
type SpanKind int32

// Span kinds.
const (
	SpanKindUnspecified SpanKind = 0
	SpanKindInternal    SpanKind = 1
	SpanKindServer      SpanKind = 2
	SpanKindClient      SpanKind = 3
	SpanKindProducer    SpanKind = 4
	SpanKindConsumer    SpanKind = 5
)

// StatusCode is a span status code.
type StatusCode int32

// Status codes.
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// Index is the span's position in the batch, from 0: the target the edit
// list names.
func (s Span) Index() int { return int(s.i) }

// Resource is the resource the span belongs to.
func (s Span) Resource() Resource { return Resource{s.b, s.b.itm(s.i, iResource)} }

// Scope is the scope the span belongs to.
func (s Span) Scope() Scope { return Scope{s.b, s.b.itm(s.i, iScope)} }

// Name is the span's name (from the index).
func (s Span) Name() string { return s.b.str(s.b.itm(s.i, iNameOff), s.b.itm(s.i, iNameEnd)) }

// TraceID is the span's trace ID (from the index), zero when absent.
func (s Span) TraceID() [16]byte { return s.b.traceID(s.i) }

// Attributes are the span's attributes.
func (s Span) Attributes() Attributes { return s.b.itemAttrs(s.i) }

// The fields below are not in the index: the first of them read walks the
// span's top-level fields once (not its attributes, events or links).

// SpanID is the span's ID, zero when absent.
func (s Span) SpanID() [8]byte { return s.b.id8(s.b.item(s.i), spanSpanID) }

// ParentSpanID is the parent span's ID, zero for a root span.
func (s Span) ParentSpanID() [8]byte { return s.b.id8(s.b.item(s.i), spanParentSpanID) }

// TraceState is the W3C trace state, "" when absent.
func (s Span) TraceState() string {
	f := s.b.item(s.i)
	return s.b.str(f.off[spanTraceState], f.end[spanTraceState])
}

// Kind is the span's kind.
func (s Span) Kind() SpanKind { return SpanKind(int32(s.b.varint(s.b.item(s.i), spanKind))) }

// StartTime is the start, Unix nanoseconds.
func (s Span) StartTime() uint64 { return s.b.fixed64(s.b.item(s.i), spanStart) }

// EndTime is the end, Unix nanoseconds.
func (s Span) EndTime() uint64 { return s.b.fixed64(s.b.item(s.i), spanEnd) }

// Flags are the span's W3C trace flags and OTLP flag bits.
func (s Span) Flags() uint32 { return s.b.fixed32(s.b.item(s.i), spanFlags) }

// DroppedAttributesCount is how many attributes the sender dropped.
func (s Span) DroppedAttributesCount() uint32 {
	return uint32(s.b.varint(s.b.item(s.i), spanDroppedAttrs))
}

// EventsCount is the number of events.
func (s Span) EventsCount() int { return int(s.b.item(s.i).n[spanEvents]) }

// LinksCount is the number of links.
func (s Span) LinksCount() int { return int(s.b.item(s.i).n[spanLinks]) }

// Status is the span's status code and message.
func (s Span) Status() (StatusCode, string) {
	f := s.b.item(s.i)
	if f.n[spanStatus] == 0 {
		return StatusUnset, ""
	}
	var st fields
	st.walkBody(s.b.req, int(f.off[spanStatus]), int(f.end[spanStatus]))
	return StatusCode(int32(s.b.varint(&st, 3))), s.b.str(st.off[2], st.end[2])
}

// Drop drops the span. reason reaches the client in the partial-success
// message (the first reason per filter).
func (s Span) Drop(reason string) { s.b.drop(s.i, reason) }

// SetName renames the span.
func (s Span) SetName(name string) { s.b.ed.add(opSetName, ownerItem, uint32(s.i), 0, name) }

// SetStatus sets the span's status code and message.
func (s Span) SetStatus(code StatusCode, msg string) {
	s.b.ed.add(opSetStatus, 0, uint32(s.i), uint32(code), msg)
}

// SetStartTime sets the start, Unix nanoseconds.
func (s Span) SetStartTime(ns uint64) { s.b.ed.addFixed64(s.i, spanStart, ns) }

// SetEndTime sets the end, Unix nanoseconds.
func (s Span) SetEndTime(ns uint64) { s.b.ed.addFixed64(s.i, spanEnd, ns) }

func (b *batch) traceID(i int32) (id [16]byte) {
	if off := b.itm(i, iTraceIDOff); off > 0 {
		copy(id[:], b.req[off:off+16])
	}
	return id
}

func (b *batch) itemAttrs(i int32) Attributes {
	return Attributes{b, ownerItem, i, b.itm(i, iAttrStart), b.itm(i, iAttrEnd)}
}
