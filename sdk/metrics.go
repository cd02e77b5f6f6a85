package sdk

import (
	"iter"
	"math"
)

// Metrics is one batch of metric data points: an
// ExportMetricsServiceRequest. Items are data points, of every metric type.
// It and everything read from it are valid only during the callback.
type Metrics struct{ b *batch }

// Len is the number of data points.
func (m *Metrics) Len() int { return int(m.b.nItem) }

// DataPoint returns data point i, 0 <= i < Len(), in request order.
func (m *Metrics) DataPoint(i int) DataPoint {
	check(int32(i), m.b.nItem, "data point")
	return DataPoint{m.b, int32(i)}
}

// DataPoints iterates over every data point in request order.
func (m *Metrics) DataPoints() iter.Seq[DataPoint] { return pointsIn(m.b, 0, m.b.nItem) }

// MetricCount is the number of metrics.
func (m *Metrics) MetricCount() int { return int(m.b.nMetric) }

// Metric returns metric i, 0 <= i < MetricCount(), in request order.
func (m *Metrics) Metric(i int) Metric {
	check(int32(i), m.b.nMetric, "metric")
	return Metric{m.b, int32(i)}
}

// Metrics iterates over every metric in request order.
func (m *Metrics) Metrics() iter.Seq[Metric] {
	return func(yield func(Metric) bool) {
		for i := int32(0); i < m.b.nMetric; i++ {
			if !yield(Metric{m.b, i}) {
				return
			}
		}
	}
}

// Resources iterates over the batch's resources (ResourceMetrics).
func (m *Metrics) Resources() iter.Seq[Resource] { return resourcesOf(m.b) }

// Bytes is the encoded request, read-only.
func (m *Metrics) Bytes() []byte { return m.b.req }

// Reject refuses the whole batch with reason, which the client sees. It
// discards every other edit of this call, before or after.
func (m *Metrics) Reject(reason string) { m.b.reject(reason) }

// DropNamed drops every data point whose metric is named name in the batch, with reason for
// the client's partial-success message, in one edit the gateway applies
// natively (the filter reads no name itself).
func (m *Metrics) DropNamed(name, reason string) { m.b.dropNamed(name, reason, 0) }

// DeleteKey deletes every attribute named key on the owners where says,
// across the whole batch, in one edit the gateway applies natively: much
// cheaper than walking attributes in the filter. With fold, ASCII case is
// ignored ("Password" matches "password"). Keys match as they arrived.
func (m *Metrics) DeleteKey(key string, where Owners, fold bool) { m.b.deleteKey(key, where, fold) }

// TruncateValues cuts every string or bytes attribute value longer than n
// bytes, on the owners where says, across the whole batch, in one edit the
// gateway applies natively (strings are cut at a UTF-8 character start).
func (m *Metrics) TruncateValues(n int, where Owners) { m.b.truncateValues(n, where) }

// CapAttributes keeps the first n attributes of every owner where says
// (as earlier edits of this call leave them; attributes set by this call
// count after the others) and deletes the rest, across the whole batch, in
// one edit the gateway applies natively.
func (m *Metrics) CapAttributes(n int, where Owners) { m.b.capAttributes(n, where) }

// ClampFuture sets every timestamp (a data point's start or time) later than limit to now,
// Unix nanoseconds, across the whole batch, in one edit the gateway
// applies natively. A data point's start is never set after its time.
func (m *Metrics) ClampFuture(limit, now uint64) { m.b.clampFuture(limit, now) }

// DropInvalid drops every item that fails one of c's checks (see
// Validity), with the reason of the first check it fails, across the whole
// batch, in one edit the gateway applies natively.
func (m *Metrics) DropInvalid(c Validity) { m.b.dropInvalid(c) }

// SetDefaultStr sets attribute key to the string value on every owner
// where says that has no attribute key, or has it with an empty value (no
// value, or ""), as earlier edits of this call leave it, across the whole
// batch, in one edit the gateway applies natively.
func (m *Metrics) SetDefaultStr(key, value string, where Owners) {
	m.b.setDefaultStr(key, value, where)
}

// DropWhere drops every data point that meets every one of c's conditions
// (built once with Where), with reason for the client's partial-success
// message, across the whole batch, in one edit the gateway applies
// natively (the filter reads nothing itself). Data points an earlier edit
// already dropped count as that edit's drops.
func (m *Metrics) DropWhere(c Conditions, reason string) { m.b.dropWhere(c, reason) }

// HashValues replaces the value of every attribute named key on the
// owners where says with the lower-case hex SHA-256 of salt followed by
// the value's text (ABI.md §4 HASH_VALUES), across the whole batch, in one
// edit the gateway applies natively: equal values still compare equal, and
// the original is not kept. With fold, ASCII case is ignored in the key.
func (m *Metrics) HashValues(key string, where Owners, fold bool, salt string) {
	m.b.hashValues(key, where, fold, salt)
}

// SetDefault is SetDefaultStr for a value of any scalar type (StrValue,
// IntValue, DoubleValue, BoolValue, built once in Init).
func (m *Metrics) SetDefault(key string, v Scalar, where Owners) { m.b.setDefault(key, v, where) }

// NormalizeKey gives every attribute whose key is key spelled in another
// ASCII case (Service.Name for service.name) the spelling key, on the
// owners where says, across the whole batch, in one edit the gateway
// applies natively. An owner that already has key, or has two other
// spellings, keeps one attribute: the first other spelling is renamed
// when the owner lacks key, and the rest are deleted.
func (m *Metrics) NormalizeKey(key string, where Owners) { m.b.normalizeKey(key, where) }

// MaskValues replaces what mask finds (built once with NewMask) in the
// string values of the attributes it covers, on the owners where says,
// with mask's replacement, across the whole batch, in one edit the gateway
// applies natively. An array or map value that holds a match anywhere
// inside becomes the replacement as a whole. Several MaskValues chain:
// each sees the values the ones before it left.
func (m *Metrics) MaskValues(mask Mask, where Owners) { m.b.maskValues(mask, where) }

// Replace replaces the whole batch with req, a complete encoded
// ExportMetricsServiceRequest (copied). It discards every other edit of
// this call, before or after.
func (m *Metrics) Replace(req []byte) { m.b.replace(req) }

func pointsIn(b *batch, s, e int32) iter.Seq[DataPoint] {
	return func(yield func(DataPoint) bool) {
		if b.sig != SignalMetrics {
			return
		}
		for i := s; i < e; i++ {
			if !yield(DataPoint{b, i}) {
				return
			}
		}
	}
}

// MetricType is which data a metric carries; its values are the Metric
// field numbers of that data.
type MetricType uint8

// Metric types; MetricEmpty is a metric with no data (and no points).
const (
	MetricEmpty                MetricType = 0
	MetricGauge                MetricType = 5
	MetricSum                  MetricType = 7
	MetricHistogram            MetricType = 9
	MetricExponentialHistogram MetricType = 10
	MetricSummary              MetricType = 11
)

// String returns "gauge", "sum", "histogram", "exponential_histogram",
// "summary" or "empty".
func (t MetricType) String() string {
	switch t {
	case MetricGauge:
		return "gauge"
	case MetricSum:
		return "sum"
	case MetricHistogram:
		return "histogram"
	case MetricExponentialHistogram:
		return "exponential_histogram"
	case MetricSummary:
		return "summary"
	}
	return "empty"
}

// Temporality is a sum's or histogram's aggregation temporality.
type Temporality int32

// Aggregation temporalities.
const (
	TemporalityUnspecified Temporality = 0
	TemporalityDelta       Temporality = 1
	TemporalityCumulative  Temporality = 2
)

// Metric is one metric: its name, type and data points.
type Metric struct {
	b *batch
	i int32
}

// Index is the metric's position in the batch, from 0.
func (m Metric) Index() int { return int(m.i) }

// Name is the metric's name (from the index).
func (m Metric) Name() string { return m.b.str(m.b.met(m.i, mNameOff), m.b.met(m.i, mNameEnd)) }

// Type is the metric's type (from the index).
func (m Metric) Type() MetricType { return MetricType(m.b.met(m.i, mType)) }

// Scope is the scope the metric belongs to.
func (m Metric) Scope() Scope { return Scope{m.b, m.b.met(m.i, mScope)} }

// Resource is the resource the metric belongs to.
func (m Metric) Resource() Resource { return m.Scope().Resource() }

// Len is the number of the metric's data points.
func (m Metric) Len() int { return int(m.b.met(m.i, mItemEnd) - m.b.met(m.i, mItemStart)) }

// DataPoints iterates over the metric's data points.
func (m Metric) DataPoints() iter.Seq[DataPoint] {
	return pointsIn(m.b, m.b.met(m.i, mItemStart), m.b.met(m.i, mItemEnd))
}

// Description is the metric's description; it walks the metric's
// top-level fields.
func (m Metric) Description() string { return m.field(2) }

// Unit is the metric's unit; it walks the metric's top-level fields.
func (m Metric) Unit() string { return m.field(3) }

func (m Metric) field(num int) string {
	var f fields
	f.walk(m.b.req, m.b.met(m.i, mOff), m.b.met(m.i, mEnd))
	return m.b.str(f.off[num], f.end[num])
}

// Temporality is a sum's, histogram's or exponential histogram's
// aggregation temporality; unspecified for other types.
func (m Metric) Temporality() Temporality {
	switch m.Type() {
	case MetricSum, MetricHistogram, MetricExponentialHistogram:
		f := m.data()
		return Temporality(int32(m.b.varint(&f, 2)))
	}
	return TemporalityUnspecified
}

// IsMonotonic reports whether a sum is monotonic; false for other types.
func (m Metric) IsMonotonic() bool {
	if m.Type() != MetricSum {
		return false
	}
	f := m.data()
	return m.b.varint(&f, 3) != 0
}

// data walks the metric's data message (its data points are skipped whole).
func (m Metric) data() fields {
	var f fields
	if off, end := m.b.met(m.i, mDataOff), m.b.met(m.i, mDataEnd); end > off {
		f.walk(m.b.req, off, end)
	}
	return f
}

// SetName renames the metric.
func (m Metric) SetName(name string) { m.b.ed.add(opSetName, ownerMetric, uint32(m.i), 0, name) }

// DataPoint is one data point of any metric type. Getters for fields its
// type lacks return zero values.
type DataPoint struct {
	b *batch
	i int32
}

// Data point fields shared by every type.
const (
	dpStart = 2
	dpTime  = 3
	dpCount = 4 // histogram, exponential histogram, summary
	dpSum   = 5 // idem
)

// Index is the point's position in the batch, from 0: the target the edit
// list names.
func (p DataPoint) Index() int { return int(p.i) }

// Metric is the metric the point belongs to.
func (p DataPoint) Metric() Metric { return Metric{p.b, p.b.itm(p.i, iMetric)} }

// Type is the point's metric's type.
func (p DataPoint) Type() MetricType { return MetricType(p.b.met(p.b.itm(p.i, iMetric), mType)) }

// Name is the point's metric's name (from the index).
func (p DataPoint) Name() string { return p.b.str(p.b.itm(p.i, iNameOff), p.b.itm(p.i, iNameEnd)) }

// Resource is the resource the point belongs to.
func (p DataPoint) Resource() Resource { return Resource{p.b, p.b.itm(p.i, iResource)} }

// Scope is the scope the point belongs to.
func (p DataPoint) Scope() Scope { return Scope{p.b, p.b.itm(p.i, iScope)} }

// Attributes are the point's attributes.
func (p DataPoint) Attributes() Attributes { return p.b.itemAttrs(p.i) }

// The fields below are not in the index: the first of them read walks the
// point's top-level fields once.

// StartTime is the start of the point's aggregation window, Unix
// nanoseconds.
func (p DataPoint) StartTime() uint64 { return p.b.fixed64(p.b.item(p.i), dpStart) }

// Time is when the point was recorded, Unix nanoseconds.
func (p DataPoint) Time() uint64 { return p.b.fixed64(p.b.item(p.i), dpTime) }

// Flags are the point's flags.
func (p DataPoint) Flags() uint32 {
	num := 8 // number and summary points
	switch p.Type() {
	case MetricHistogram, MetricExponentialHistogram:
		num = 10
	}
	return uint32(p.b.varint(p.b.item(p.i), num))
}

// IntValue is a gauge or sum point's integer value; ok is false when the
// point holds a double or no value.
func (p DataPoint) IntValue() (v int64, ok bool) {
	if !p.isNumber() {
		return 0, false
	}
	f := p.b.item(p.i)
	if f.n[6] == 0 || f.off[6] < f.off[4] { // the oneof's last field wins
		return 0, false
	}
	return int64(p.b.fixed64(f, 6)), true
}

// DoubleValue is a gauge or sum point's double value; ok is false when the
// point holds an integer or no value.
func (p DataPoint) DoubleValue() (v float64, ok bool) {
	if !p.isNumber() {
		return 0, false
	}
	f := p.b.item(p.i)
	if f.n[4] == 0 || f.off[4] < f.off[6] {
		return 0, false
	}
	return math.Float64frombits(p.b.fixed64(f, 4)), true
}

func (p DataPoint) isNumber() bool {
	t := p.Type()
	return t == MetricGauge || t == MetricSum
}

// Count is a histogram's, exponential histogram's or summary's count.
func (p DataPoint) Count() uint64 {
	if p.isNumber() {
		return 0
	}
	return p.b.fixed64(p.b.item(p.i), dpCount)
}

// Sum is a histogram's, exponential histogram's or summary's sum; ok is
// false when it is absent (histograms may omit it).
func (p DataPoint) Sum() (v float64, ok bool) {
	if p.isNumber() {
		return 0, false
	}
	f := p.b.item(p.i)
	if f.n[dpSum] == 0 {
		return 0, false
	}
	return math.Float64frombits(p.b.fixed64(f, dpSum)), true
}

// Min is a histogram's or exponential histogram's minimum; ok is false
// when it is absent.
func (p DataPoint) Min() (float64, bool) { return p.histField(11, 12) }

// Max is a histogram's or exponential histogram's maximum; ok is false
// when it is absent.
func (p DataPoint) Max() (float64, bool) { return p.histField(12, 13) }

func (p DataPoint) histField(hist, exp int) (float64, bool) {
	num := 0
	switch p.Type() {
	case MetricHistogram:
		num = hist
	case MetricExponentialHistogram:
		num = exp
	default:
		return 0, false
	}
	f := p.b.item(p.i)
	if f.n[num] == 0 {
		return 0, false
	}
	return math.Float64frombits(p.b.fixed64(f, num)), true
}

// BucketCountsLen is the number of a histogram's bucket counts; a valid
// histogram has ExplicitBoundsLen()+1 of them, or none.
func (p DataPoint) BucketCountsLen() int { n, _ := p.repeated(6, -1); return n }

// BucketCount is a histogram's bucket count i, 0 <= i < BucketCountsLen().
func (p DataPoint) BucketCount(i int) uint64 { return p.repeatedAt(6, i, "bucket count") }

// ExplicitBoundsLen is the number of a histogram's explicit bounds.
func (p DataPoint) ExplicitBoundsLen() int { n, _ := p.repeated(7, -1); return n }

// ExplicitBound is a histogram's explicit bound i, 0 <= i <
// ExplicitBoundsLen().
func (p DataPoint) ExplicitBound(i int) float64 {
	return math.Float64frombits(p.repeatedAt(7, i, "explicit bound"))
}

func (p DataPoint) repeated(num uint64, k int) (int, uint64) {
	if p.Type() != MetricHistogram {
		return 0, 0
	}
	return p.b.packedFixed64(p.b.itm(p.i, iOff), p.b.itm(p.i, iEnd), num, k)
}

func (p DataPoint) repeatedAt(num uint64, k int, what string) uint64 {
	n, v := p.repeated(num, k)
	check(int32(k), int32(n), what)
	return v
}

// Scale is an exponential histogram's scale; 0 for other types.
func (p DataPoint) Scale() int32 {
	if p.Type() != MetricExponentialHistogram {
		return 0
	}
	u := p.b.varint(p.b.item(p.i), 6)
	return int32(u>>1) ^ -int32(u&1) // sint32: zigzag
}

// ZeroCount is an exponential histogram's zero count; 0 for other types.
func (p DataPoint) ZeroCount() uint64 {
	if p.Type() != MetricExponentialHistogram {
		return 0
	}
	return p.b.fixed64(p.b.item(p.i), 7)
}

// Drop drops the data point. reason reaches the client in the
// partial-success message (the first reason per filter).
func (p DataPoint) Drop(reason string) { p.b.drop(p.i, reason) }

// SetTime sets when the point was recorded, Unix nanoseconds.
func (p DataPoint) SetTime(ns uint64) { p.b.ed.addFixed64(p.i, dpTime, ns) }

// SetStartTime sets the start of the point's aggregation window, Unix
// nanoseconds.
func (p DataPoint) SetStartTime(ns uint64) { p.b.ed.addFixed64(p.i, dpStart, ns) }
