package sdk

import "iter"

// Logs is one batch of log records: an ExportLogsServiceRequest. It and
// everything read from it are valid only during the callback.
type Logs struct{ b *batch }

// Len is the number of log records.
func (l *Logs) Len() int { return int(l.b.nItem) }

// LogRecord returns record i, 0 <= i < Len(), in request order.
func (l *Logs) LogRecord(i int) LogRecord {
	check(int32(i), l.b.nItem, "log record")
	return LogRecord{l.b, int32(i)}
}

// LogRecords iterates over every log record in request order.
func (l *Logs) LogRecords() iter.Seq[LogRecord] { return recordsIn(l.b, SignalLogs, 0, l.b.nItem) }

// Resources iterates over the batch's resources (ResourceLogs).
func (l *Logs) Resources() iter.Seq[Resource] { return resourcesOf(l.b) }

// Bytes is the encoded request, read-only.
func (l *Logs) Bytes() []byte { return l.b.req }

// Reject refuses the whole batch with reason, which the client sees. It
// discards every other edit of this call, before or after.
func (l *Logs) Reject(reason string) { l.b.reject(reason) }

// DropNamed drops every log record whose event_name is named name in the batch, with reason for
// the client's partial-success message, in one edit the gateway applies
// natively (the filter reads no name itself).
func (l *Logs) DropNamed(name, reason string) { l.b.dropNamed(name, reason, 0) }

// DropBody drops every log record whose body is the string body, exactly,
// with reason for the client's partial-success message, in one edit the
// gateway applies natively (the filter reads no body itself). Records
// whose body is not a string are kept.
func (l *Logs) DropBody(body, reason string) { l.b.dropNamed(body, reason, dropNamedBody) }

// DeleteKey deletes every attribute named key on the owners where says,
// across the whole batch, in one edit the gateway applies natively: much
// cheaper than walking attributes in the filter. With fold, ASCII case is
// ignored ("Password" matches "password"). Keys match as they arrived.
func (l *Logs) DeleteKey(key string, where Owners, fold bool) { l.b.deleteKey(key, where, fold) }

// TruncateValues cuts every string or bytes attribute value longer than n
// bytes, on the owners where says, across the whole batch, in one edit the
// gateway applies natively (strings are cut at a UTF-8 character start).
func (l *Logs) TruncateValues(n int, where Owners) { l.b.truncateValues(n, where) }

// CapAttributes keeps the first n attributes of every owner where says
// (as earlier edits of this call leave them; attributes set by this call
// count after the others) and deletes the rest, across the whole batch, in
// one edit the gateway applies natively.
func (l *Logs) CapAttributes(n int, where Owners) { l.b.capAttributes(n, where) }

// ClampFuture sets every timestamp (a log record's time or observed time) later than limit to now,
// Unix nanoseconds, across the whole batch, in one edit the gateway
// applies natively.
func (l *Logs) ClampFuture(limit, now uint64) { l.b.clampFuture(limit, now) }

// DropInvalid drops every item that fails one of c's checks (see
// Validity), with the reason of the first check it fails, across the whole
// batch, in one edit the gateway applies natively.
func (l *Logs) DropInvalid(c Validity) { l.b.dropInvalid(c) }

// SetDefaultStr sets attribute key to the string value on every owner
// where says that has no attribute key, or has it with an empty value (no
// value, or ""), as earlier edits of this call leave it, across the whole
// batch, in one edit the gateway applies natively.
func (l *Logs) SetDefaultStr(key, value string, where Owners) { l.b.setDefaultStr(key, value, where) }

// DropWhere drops every log record that meets every one of c's conditions
// (built once with Where), with reason for the client's partial-success
// message, across the whole batch, in one edit the gateway applies
// natively (the filter reads nothing itself). Log records an earlier edit
// already dropped count as that edit's drops.
func (l *Logs) DropWhere(c Conditions, reason string) { l.b.dropWhere(c, reason) }

// Sample drops every log record whose trace ID's low 56 bits are below
// threshold (SampleThreshold turns a percentage kept into one), with reason
// for the client's partial-success message, across the whole batch, in one
// edit the gateway applies natively. It is OpenTelemetry's consistent
// probability sampling: the decision depends on the trace ID alone, so
// every span and log record of a trace, in any batch, on any gateway with
// the same threshold, shares it. Log records without a valid trace ID (16
// bytes, not all zero) are kept.
func (l *Logs) Sample(threshold uint64, reason string) { l.b.sample(threshold, reason) }

// DropSeverityUpTo drops every log record whose severity number is from 1
// (SeverityTrace) to max, with reason for the client's partial-success
// message, across the whole batch, in one edit the gateway applies
// natively. Records of unspecified severity (0) are kept. It panics
// unless 1 <= max <= 24.
func (l *Logs) DropSeverityUpTo(max Severity, reason string) { l.b.dropSeverity(max, reason) }

// HashValues replaces the value of every attribute named key on the
// owners where says with the lower-case hex SHA-256 of salt followed by
// the value's text (ABI.md §4 HASH_VALUES), across the whole batch, in one
// edit the gateway applies natively: equal values still compare equal, and
// the original is not kept. With fold, ASCII case is ignored in the key.
func (l *Logs) HashValues(key string, where Owners, fold bool, salt string) {
	l.b.hashValues(key, where, fold, salt)
}

// SetDefault is SetDefaultStr for a value of any scalar type (StrValue,
// IntValue, DoubleValue, BoolValue, built once in Init).
func (l *Logs) SetDefault(key string, v Scalar, where Owners) { l.b.setDefault(key, v, where) }

// NormalizeKey gives every attribute whose key is key spelled in another
// ASCII case (Service.Name for service.name) the spelling key, on the
// owners where says, across the whole batch, in one edit the gateway
// applies natively. An owner that already has key, or has two other
// spellings, keeps one attribute: the first other spelling is renamed
// when the owner lacks key, and the rest are deleted.
func (l *Logs) NormalizeKey(key string, where Owners) { l.b.normalizeKey(key, where) }

// MaskValues replaces what mask finds (built once with NewMask) in the
// string values of the attributes it covers, on the owners where says,
// with mask's replacement, across the whole batch, in one edit the gateway
// applies natively. An array or map value that holds a match anywhere
// inside becomes the replacement as a whole. Several MaskValues chain:
// each sees the values the ones before it left.
func (l *Logs) MaskValues(mask Mask, where Owners) { l.b.maskValues(mask, where) }

// Replace replaces the whole batch with req, a complete encoded
// ExportLogsServiceRequest (copied). It discards every other edit of this
// call, before or after.
func (l *Logs) Replace(req []byte) { l.b.replace(req) }

func recordsIn(b *batch, sig Signal, s, e int32) iter.Seq[LogRecord] {
	return func(yield func(LogRecord) bool) {
		if b.sig != sig {
			return
		}
		for i := s; i < e; i++ {
			if !yield(LogRecord{b, i}) {
				return
			}
		}
	}
}

// LogRecord is one log record of a Logs batch.
type LogRecord struct {
	b *batch
	i int32
}

// Log record fields (opentelemetry.proto.logs.v1.LogRecord).
const (
	logTime         = 1
	logSeverity     = 2
	logSeverityText = 3
	logBody         = 5
	logDroppedAttrs = 7
	logFlags        = 8
	logSpanID       = 10
	logObservedTime = 11
)

// Severity is a log record's severity number, 1-24 in four steps per level
// (SeverityDebug2 = SeverityDebug+1 and so on); 0 unspecified.
type Severity int32

// The first severity number of each level.
const (
	SeverityUnspecified Severity = 0
	SeverityTrace       Severity = 1
	SeverityDebug       Severity = 5
	SeverityInfo        Severity = 9
	SeverityWarn        Severity = 13
	SeverityError       Severity = 17
	SeverityFatal       Severity = 21
)

// Index is the record's position in the batch, from 0: the target the edit
// list names.
func (r LogRecord) Index() int { return int(r.i) }

// Resource is the resource the record belongs to.
func (r LogRecord) Resource() Resource { return Resource{r.b, r.b.itm(r.i, iResource)} }

// Scope is the scope the record belongs to.
func (r LogRecord) Scope() Scope { return Scope{r.b, r.b.itm(r.i, iScope)} }

// EventName is the record's event name (from the index), "" when absent.
func (r LogRecord) EventName() string {
	return r.b.str(r.b.itm(r.i, iNameOff), r.b.itm(r.i, iNameEnd))
}

// TraceID is the trace ID the record belongs to (from the index), zero
// when absent.
func (r LogRecord) TraceID() [16]byte { return r.b.traceID(r.i) }

// Attributes are the record's attributes.
func (r LogRecord) Attributes() Attributes { return r.b.itemAttrs(r.i) }

// The fields below are not in the index: the first of them read walks the
// record's top-level fields once (not into its body or attributes).

// Time is when the event occurred, Unix nanoseconds; 0 when unknown.
func (r LogRecord) Time() uint64 { return r.b.fixed64(r.b.item(r.i), logTime) }

// ObservedTime is when the event was observed, Unix nanoseconds.
func (r LogRecord) ObservedTime() uint64 { return r.b.fixed64(r.b.item(r.i), logObservedTime) }

// Severity is the severity number.
func (r LogRecord) Severity() Severity {
	return Severity(int32(r.b.varint(r.b.item(r.i), logSeverity)))
}

// SeverityText is the severity as the source wrote it, "" when absent.
func (r LogRecord) SeverityText() string {
	f := r.b.item(r.i)
	return r.b.str(f.off[logSeverityText], f.end[logSeverityText])
}

// Body is the record's body; its Type is ValueEmpty when it has none.
func (r LogRecord) Body() Value {
	f := r.b.item(r.i)
	if f.n[logBody] == 0 {
		return Value{attr: -1}
	}
	return r.b.anyValue(f.off[logBody], f.end[logBody])
}

// SpanID is the span the record belongs to, zero when absent.
func (r LogRecord) SpanID() [8]byte { return r.b.id8(r.b.item(r.i), logSpanID) }

// Flags are the record's W3C trace flags.
func (r LogRecord) Flags() uint32 { return r.b.fixed32(r.b.item(r.i), logFlags) }

// DroppedAttributesCount is how many attributes the sender dropped.
func (r LogRecord) DroppedAttributesCount() uint32 {
	return uint32(r.b.varint(r.b.item(r.i), logDroppedAttrs))
}

// Drop drops the record. reason reaches the client in the partial-success
// message (the first reason per filter).
func (r LogRecord) Drop(reason string) { r.b.drop(r.i, reason) }

// SetTime sets when the event occurred, Unix nanoseconds.
func (r LogRecord) SetTime(ns uint64) { r.b.ed.addFixed64(r.i, logTime, ns) }

// SetObservedTime sets when the event was observed, Unix nanoseconds.
func (r LogRecord) SetObservedTime(ns uint64) { r.b.ed.addFixed64(r.i, logObservedTime, ns) }
