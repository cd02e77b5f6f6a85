package sdk

import (
	"iter"
	"strconv"
)

// Index layout (ABI.md §3): a 52-byte header, then five tables of records
// made of little-endian i32 fields.
const (
	hdrSize = 52

	resourceSize = 40
	scopeSize    = 44
	metricSize   = 40
	itemSize     = 40
	attrSize     = 36
)

// Field positions (in i32 words) inside each record.
const (
	rOff, rEnd, rResOff, rResEnd, rScopeStart, rScopeEnd, rAttrStart, rAttrEnd, rItemStart, rItemEnd = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9

	sOff, sEnd, sScopeOff, sScopeEnd, sResource, sAttrStart, sAttrEnd, sItemStart, sItemEnd, sMetricStart, sMetricEnd = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10

	mOff, mEnd, mScope, mType, mDataOff, mDataEnd, mNameOff, mNameEnd, mItemStart, mItemEnd = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9

	iOff, iEnd, iResource, iScope, iMetric, iAttrStart, iAttrEnd, iNameOff, iNameEnd, iTraceIDOff = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9

	aOff, aEnd, aOwner, aParent, aKeyOff, aKeyEnd, aValType, aValOff, aValEnd = 0, 1, 2, 3, 4, 5, 6, 7, 8
)

// Attribute owners (ABI.md §3) and edit owners (§4).
const (
	ownerResource uint8 = 1
	ownerScope    uint8 = 2
	ownerItem     uint8 = 3
	ownerMetric   uint8 = 4
)

// batch is one call's request, index, edit list and caches. There is one,
// reused for every call: an instance runs one call at a time.
type batch struct {
	sig Signal
	req []byte
	idx []byte

	nRes, nScope, nMetric, nItem, nAttr      int32
	resAt, scopeAt, metricAt, itemAt, attrAt int32 // table offsets in idx

	// The views handed to callbacks live here: a pointer passed to a
	// callback escapes, and a fresh one would cost an allocation per call.
	traces  Traces
	metrics Metrics
	logs    Logs

	ed   editList
	scan fields // the last item walked, see (*batch).item

	inCall bool

	pressure     float64
	havePressure bool
	health       GatewayStatus
	haveHealth   bool
}

// reset points b at a new call. A malformed index is a host bug: panic
// (which traps the instance, and the host counts and logs it) rather than
// filter on garbage.
func (b *batch) reset(sig Signal, req, idx []byte) {
	b.sig, b.req, b.idx, b.inCall = sig, req, idx, true
	b.ed.reset()
	b.scan.item = -1
	b.havePressure, b.haveHealth = false, false
	if len(idx) < hdrSize {
		badIndex("index of " + strconv.Itoa(len(idx)) + " bytes is shorter than its header")
	}
	if v := le32(idx, 0); v != ABIVersion {
		badIndex("ABI version " + strconv.Itoa(int(v)))
	}
	if s := le32(idx, 4); s != uint32(sig) {
		badIndex("index of signal " + strconv.Itoa(int(s)) + " in a " + sig.String() + " call")
	}
	b.nRes, b.nScope, b.nMetric, b.nItem, b.nAttr = b.count(12), b.count(16), b.count(20), b.count(24), b.count(28)
	if le32(idx, 8) != uint32(b.nItem) {
		badIndex("items and n_items disagree")
	}
	b.resAt = b.table(32, b.nRes, resourceSize)
	b.scopeAt = b.table(36, b.nScope, scopeSize)
	b.metricAt = b.table(40, b.nMetric, metricSize)
	b.itemAt = b.table(44, b.nItem, itemSize)
	b.attrAt = b.table(48, b.nAttr, attrSize)
}

func (b *batch) count(at int) int32 {
	n := le32(b.idx, at)
	if n > uint32(len(b.idx)) { // every record is larger than a byte
		badIndex("count at byte " + strconv.Itoa(at) + " exceeds the index")
	}
	return int32(n)
}

// table checks that n records of size bytes at the offset stored at 'at'
// lie inside the index, so that record reads need no further checks.
func (b *batch) table(at int, n, size int32) int32 {
	off := uint64(le32(b.idx, at))
	if off+uint64(n)*uint64(size) > uint64(len(b.idx)) {
		badIndex("table at byte " + strconv.Itoa(at) + " runs past the index")
	}
	return int32(off)
}

func badIndex(why string) {
	panic("otlpgw sdk: malformed index from the host: " + why)
}

// Record field readers: table base + record * size + field * 4.
func (b *batch) res(i, f int32) int32 { return int32(le32(b.idx, int(b.resAt+i*resourceSize+f*4))) }
func (b *batch) scp(i, f int32) int32 { return int32(le32(b.idx, int(b.scopeAt+i*scopeSize+f*4))) }
func (b *batch) met(i, f int32) int32 { return int32(le32(b.idx, int(b.metricAt+i*metricSize+f*4))) }
func (b *batch) itm(i, f int32) int32 { return int32(le32(b.idx, int(b.itemAt+i*itemSize+f*4))) }
func (b *batch) atr(i, f int32) int32 { return int32(le32(b.idx, int(b.attrAt+i*attrSize+f*4))) }

// str returns req[s:e] as a string without copying; valid during the call.
func (b *batch) str(s, e int32) string {
	if e <= s {
		return ""
	}
	return unsafeString(b.req[s:e])
}

// check panics with a readable message when a view index is out of range;
// that is a bug in the filter.
func check(i, n int32, what string) {
	if uint32(i) >= uint32(n) {
		panic("otlpgw sdk: " + what + " index " + strconv.Itoa(int(i)) + " out of range [0," + strconv.Itoa(int(n)) + ")")
	}
}

// Resource is one resource entry of a batch (a ResourceSpans,
// ResourceMetrics or ResourceLogs) with its attributes.
type Resource struct {
	b *batch
	i int32
}

// Index is the resource's position in the batch, from 0.
func (r Resource) Index() int { return int(r.i) }

// Attributes are the resource's attributes.
func (r Resource) Attributes() Attributes {
	return Attributes{r.b, ownerResource, r.i, r.b.res(r.i, rAttrStart), r.b.res(r.i, rAttrEnd)}
}

// Scopes iterates over the resource's scopes.
func (r Resource) Scopes() iter.Seq[Scope] {
	s, e := r.b.res(r.i, rScopeStart), r.b.res(r.i, rScopeEnd)
	return func(yield func(Scope) bool) {
		for i := s; i < e; i++ {
			if !yield(Scope{r.b, i}) {
				return
			}
		}
	}
}

// Scope is one scope entry (a ScopeSpans, ScopeMetrics or ScopeLogs) and
// its InstrumentationScope.
type Scope struct {
	b *batch
	i int32
}

// Index is the scope's position in the batch, from 0.
func (s Scope) Index() int { return int(s.i) }

// Resource is the resource the scope belongs to.
func (s Scope) Resource() Resource { return Resource{s.b, s.b.scp(s.i, sResource)} }

// Name is the instrumentation scope's name, "" when absent.
func (s Scope) Name() string { return s.field(1) }

// Version is the instrumentation scope's version, "" when absent.
func (s Scope) Version() string { return s.field(2) }

func (s Scope) field(num int) string {
	off, end := s.b.scp(s.i, sScopeOff), s.b.scp(s.i, sScopeEnd)
	if end <= off {
		return ""
	}
	var f fields
	f.walk(s.b.req, off, end)
	return s.b.str(f.off[num], f.end[num])
}

// Attributes are the instrumentation scope's attributes.
func (s Scope) Attributes() Attributes {
	return Attributes{s.b, ownerScope, s.i, s.b.scp(s.i, sAttrStart), s.b.scp(s.i, sAttrEnd)}
}

// Spans iterates over the scope's spans (none unless the batch is traces).
func (s Scope) Spans() iter.Seq[Span] {
	return spansIn(s.b, SignalTraces, s.b.scp(s.i, sItemStart), s.b.scp(s.i, sItemEnd))
}

// LogRecords iterates over the scope's log records (none unless the batch
// is logs).
func (s Scope) LogRecords() iter.Seq[LogRecord] {
	return recordsIn(s.b, SignalLogs, s.b.scp(s.i, sItemStart), s.b.scp(s.i, sItemEnd))
}

// Metrics iterates over the scope's metrics (none unless the batch is
// metrics).
func (s Scope) Metrics() iter.Seq[Metric] {
	st, e := s.b.scp(s.i, sMetricStart), s.b.scp(s.i, sMetricEnd)
	return func(yield func(Metric) bool) {
		for i := st; i < e; i++ {
			if !yield(Metric{s.b, i}) {
				return
			}
		}
	}
}

// Owners says which attributes a batch-wide edit covers: those of
// resources, of scopes, of items (spans, data points, log records), or a
// combination. The zero value means Everywhere.
type Owners uint8

// Owners for DeleteKey and TruncateValues.
const (
	OnResources Owners = 1
	OnScopes    Owners = 2
	OnItems     Owners = 4
	Everywhere  Owners = OnResources | OnScopes | OnItems
)

func (o Owners) mask() Owners {
	if o&Everywhere == 0 {
		return Everywhere
	}
	return o & Everywhere
}
