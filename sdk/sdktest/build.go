package sdktest

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/otlpgw/otlpgw/sdk"
)

// The builders below encode small OTLP requests for tests without a
// protobuf library. Zero fields are left out, as a proto3 encoder does.

// KV is one attribute. Value is a string, bool, int, int64, float64,
// []byte, []any (an array), []KV (a map) or nil (no value).
type KV struct {
	Key   string
	Value any
}

// Attr returns KV{key, value}.
func Attr(key string, value any) KV { return KV{key, value} }

// Resource is a ResourceSpans, ResourceMetrics or ResourceLogs.
type Resource struct {
	// Attrs are the resource's attributes; with NoResource the resource
	// field is left out altogether.
	Attrs      []KV
	NoResource bool
	Scopes     []Scope
}

// Scope is a ScopeSpans, ScopeMetrics or ScopeLogs; only the items of the
// batch's signal are encoded.
type Scope struct {
	Name, Version string
	Attrs         []KV
	Spans         []Span
	LogRecords    []LogRecord
	Metrics       []Metric
}

// Span is a span. Events and Links are encoded as that many minimal events
// (a name) and links (a trace and span ID).
type Span struct {
	TraceID              [16]byte
	SpanID, ParentSpanID [8]byte
	TraceState           string
	Name                 string
	Kind                 sdk.SpanKind
	StartTime, EndTime   uint64
	Attrs                []KV
	DroppedAttrs         uint32
	Events, Links        int
	StatusCode           sdk.StatusCode
	StatusMessage        string
	Flags                uint32
}

// LogRecord is a log record. Body takes the values KV.Value does.
type LogRecord struct {
	Time, ObservedTime uint64
	Severity           sdk.Severity
	SeverityText       string
	Body               any
	Attrs              []KV
	DroppedAttrs       uint32
	Flags              uint32
	TraceID            [16]byte
	SpanID             [8]byte
	EventName          string
}

// Metric is a metric of Type with Points.
type Metric struct {
	Name, Description, Unit string
	Type                    sdk.MetricType
	Temporality             sdk.Temporality // sums and histograms
	Monotonic               bool            // sums
	Points                  []DataPoint
}

// DataPoint is a data point; only the fields of its metric's type are
// encoded.
type DataPoint struct {
	Attrs           []KV
	StartTime, Time uint64
	Flags           uint32
	// Value is a gauge or sum point's value: int, int64 or float64.
	Value any
	// Histograms, exponential histograms, summaries.
	Count    uint64
	Sum      *float64
	Min, Max *float64 // histograms, exponential histograms
	// Histograms.
	BucketCounts   []uint64
	ExplicitBounds []float64
	// Exponential histograms.
	Scale     int32
	ZeroCount uint64
}

// Encode encodes an Export*ServiceRequest of signal sig.
func Encode(sig sdk.Signal, rs ...Resource) []byte {
	var out []byte
	for _, r := range rs {
		out = appendMsg(out, 1, encodeResource(sig, r))
	}
	return out
}

// Batch encodes a request as Encode does and indexes it as Index does: the
// two inputs of Run.
func Batch(sig sdk.Signal, rs ...Resource) (req, index []byte) {
	req = Encode(sig, rs...)
	index, err := Index(sig, req)
	if err != nil {
		panic("sdktest: indexing an encoded batch: " + err.Error()) // a bug in this package
	}
	return req, index
}

func encodeResource(sig sdk.Signal, r Resource) []byte {
	var b []byte
	if !r.NoResource {
		var res []byte
		for _, kv := range r.Attrs {
			res = appendMsg(res, 1, encodeKV(kv))
		}
		b = appendMsg(b, 1, res)
	}
	for _, s := range r.Scopes {
		b = appendMsg(b, 2, encodeScope(sig, s))
	}
	return b
}

func encodeScope(sig sdk.Signal, s Scope) []byte {
	var is []byte
	is = appendStr(is, 1, s.Name)
	is = appendStr(is, 2, s.Version)
	for _, kv := range s.Attrs {
		is = appendMsg(is, 3, encodeKV(kv))
	}
	b := appendMsg(nil, 1, is)
	switch sig {
	case sdk.SignalTraces:
		for _, sp := range s.Spans {
			b = appendMsg(b, 2, encodeSpan(sp))
		}
	case sdk.SignalLogs:
		for _, l := range s.LogRecords {
			b = appendMsg(b, 2, encodeLog(l))
		}
	case sdk.SignalMetrics:
		for _, m := range s.Metrics {
			b = appendMsg(b, 2, encodeMetric(m))
		}
	}
	return b
}

func encodeSpan(s Span) []byte {
	var b []byte
	b = appendID(b, 1, s.TraceID[:])
	b = appendID(b, 2, s.SpanID[:])
	b = appendStr(b, 3, s.TraceState)
	b = appendID(b, 4, s.ParentSpanID[:])
	b = appendStr(b, 5, s.Name)
	b = appendVarintField(b, 6, uint64(s.Kind))
	b = appendFixed64(b, 7, s.StartTime)
	b = appendFixed64(b, 8, s.EndTime)
	for _, kv := range s.Attrs {
		b = appendMsg(b, 9, encodeKV(kv))
	}
	b = appendVarintField(b, 10, uint64(s.DroppedAttrs))
	for range s.Events {
		b = appendMsg(b, 11, appendStr(nil, 2, "event"))
	}
	for range s.Links {
		var l []byte
		l = appendBytesField(l, 1, s.TraceID[:])
		l = appendBytesField(l, 2, s.SpanID[:])
		b = appendMsg(b, 13, l)
	}
	if s.StatusCode != 0 || s.StatusMessage != "" {
		var st []byte
		st = appendStr(st, 2, s.StatusMessage)
		st = appendVarintField(st, 3, uint64(s.StatusCode))
		b = appendMsg(b, 15, st)
	}
	if s.Flags != 0 {
		b = binary.AppendUvarint(b, 16<<3|5)
		b = binary.LittleEndian.AppendUint32(b, s.Flags)
	}
	return b
}

func encodeLog(l LogRecord) []byte {
	var b []byte
	b = appendFixed64(b, 1, l.Time)
	b = appendVarintField(b, 2, uint64(l.Severity))
	b = appendStr(b, 3, l.SeverityText)
	if l.Body != nil {
		b = appendMsg(b, 5, encodeAny(l.Body))
	}
	for _, kv := range l.Attrs {
		b = appendMsg(b, 6, encodeKV(kv))
	}
	b = appendVarintField(b, 7, uint64(l.DroppedAttrs))
	if l.Flags != 0 {
		b = binary.AppendUvarint(b, 8<<3|5)
		b = binary.LittleEndian.AppendUint32(b, l.Flags)
	}
	b = appendID(b, 9, l.TraceID[:])
	b = appendID(b, 10, l.SpanID[:])
	b = appendFixed64(b, 11, l.ObservedTime)
	b = appendStr(b, 12, l.EventName)
	return b
}

func encodeMetric(m Metric) []byte {
	var b []byte
	b = appendStr(b, 1, m.Name)
	b = appendStr(b, 2, m.Description)
	b = appendStr(b, 3, m.Unit)
	if m.Type == sdk.MetricEmpty {
		return b
	}
	var d []byte
	for _, p := range m.Points {
		d = appendMsg(d, 1, encodePoint(m.Type, p))
	}
	switch m.Type {
	case sdk.MetricSum, sdk.MetricHistogram, sdk.MetricExponentialHistogram:
		d = appendVarintField(d, 2, uint64(m.Temporality))
	}
	if m.Type == sdk.MetricSum && m.Monotonic {
		d = appendVarintField(d, 3, 1)
	}
	return appendMsg(b, uint64(m.Type), d)
}

func encodePoint(t sdk.MetricType, p DataPoint) []byte {
	var b []byte
	attrs := func(num uint64) {
		for _, kv := range p.Attrs {
			b = appendMsg(b, num, encodeKV(kv))
		}
	}
	opt := func(num uint64, v *float64) {
		if v != nil {
			b = binary.AppendUvarint(b, num<<3|1)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*v))
		}
	}
	if t == sdk.MetricExponentialHistogram {
		attrs(1)
	}
	b = appendFixed64(b, 2, p.StartTime)
	b = appendFixed64(b, 3, p.Time)
	switch t {
	case sdk.MetricGauge, sdk.MetricSum:
		switch v := p.Value.(type) {
		case float64:
			b = binary.AppendUvarint(b, 4<<3|1)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case int:
			b = binary.AppendUvarint(b, 6<<3|1)
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		case int64:
			b = binary.AppendUvarint(b, 6<<3|1)
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		case nil:
		default:
			panic(fmt.Sprintf("sdktest: data point value of type %T, want int, int64 or float64", v))
		}
		attrs(7)
		b = appendVarintField(b, 8, uint64(p.Flags))
	case sdk.MetricHistogram:
		b = appendFixed64(b, 4, p.Count)
		opt(5, p.Sum)
		if len(p.BucketCounts) > 0 {
			var packed []byte
			for _, c := range p.BucketCounts {
				packed = binary.LittleEndian.AppendUint64(packed, c)
			}
			b = appendMsg(b, 6, packed)
		}
		if len(p.ExplicitBounds) > 0 {
			var packed []byte
			for _, f := range p.ExplicitBounds {
				packed = binary.LittleEndian.AppendUint64(packed, math.Float64bits(f))
			}
			b = appendMsg(b, 7, packed)
		}
		attrs(9)
		b = appendVarintField(b, 10, uint64(p.Flags))
		opt(11, p.Min)
		opt(12, p.Max)
	case sdk.MetricExponentialHistogram:
		b = appendFixed64(b, 4, p.Count)
		opt(5, p.Sum)
		b = appendVarintField(b, 6, uint64(uint32(p.Scale<<1)^uint32(p.Scale>>31)))
		b = appendFixed64(b, 7, p.ZeroCount)
		b = appendVarintField(b, 10, uint64(p.Flags))
		opt(12, p.Min)
		opt(13, p.Max)
	case sdk.MetricSummary:
		b = appendFixed64(b, 4, p.Count)
		opt(5, p.Sum)
		attrs(7)
		b = appendVarintField(b, 8, uint64(p.Flags))
	}
	return b
}

func encodeKV(kv KV) []byte {
	b := appendStr(nil, 1, kv.Key)
	if kv.Value != nil {
		b = appendMsg(b, 2, encodeAny(kv.Value))
	}
	return b
}

func encodeAny(v any) []byte {
	var b []byte
	switch v := v.(type) {
	case string:
		b = appendMsg(b, 1, []byte(v)) // present even when empty: a oneof
	case bool:
		b = binary.AppendUvarint(b, 2<<3)
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case int:
		b = binary.AppendUvarint(b, 3<<3)
		b = binary.AppendUvarint(b, uint64(v))
	case int64:
		b = binary.AppendUvarint(b, 3<<3)
		b = binary.AppendUvarint(b, uint64(v))
	case float64:
		b = binary.AppendUvarint(b, 4<<3|1)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	case []any:
		var arr []byte
		for _, e := range v {
			arr = appendMsg(arr, 1, encodeAny(e))
		}
		b = appendMsg(b, 5, arr)
	case []KV:
		var kvl []byte
		for _, kv := range v {
			kvl = appendMsg(kvl, 1, encodeKV(kv))
		}
		b = appendMsg(b, 6, kvl)
	case []byte:
		b = appendMsg(b, 7, v)
	case nil:
	default:
		panic(fmt.Sprintf("sdktest: attribute value of type %T", v))
	}
	return b
}

func appendMsg(b []byte, num uint64, body []byte) []byte {
	b = binary.AppendUvarint(b, num<<3|2)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

func appendBytesField(b []byte, num uint64, v []byte) []byte { return appendMsg(b, num, v) }

func appendStr(b []byte, num uint64, s string) []byte {
	if s == "" {
		return b
	}
	return appendMsg(b, num, []byte(s))
}

// appendID encodes an ID unless it is all zero (absent).
func appendID(b []byte, num uint64, id []byte) []byte {
	for _, c := range id {
		if c != 0 {
			return appendMsg(b, num, id)
		}
	}
	return b
}

func appendVarintField(b []byte, num, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = binary.AppendUvarint(b, num<<3)
	return binary.AppendUvarint(b, v)
}

func appendFixed64(b []byte, num, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = binary.AppendUvarint(b, num<<3|1)
	return binary.LittleEndian.AppendUint64(b, v)
}
