package sdktest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/otlpgw/otlpgw/sdk"
)

// Index builds the ABI index (ABI.md §3) of req, an encoded
// Export*ServiceRequest of signal sig, as the gateway would hand it to a
// filter. It checks the framing it walks (tags, lengths, wire types of the
// fields it indexes) but is no full validator: the gateway validates every
// request before filters see it, so feed it valid OTLP.
func Index(sig sdk.Signal, req []byte) (index []byte, err error) {
	if sig > sdk.SignalLogs {
		return nil, fmt.Errorf("sdktest: unknown signal %d", sig)
	}
	x := indexer{sig: sig, b: req}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(malformed)
			if !ok {
				panic(r)
			}
			index, err = nil, fmt.Errorf("sdktest: index %s request: %w", sig, e)
		}
	}()
	x.request()
	return x.encode(), nil
}

type malformed struct{ error }

func (m malformed) Unwrap() error { return m.error }

var errTruncated = errors.New("truncated field")

// Records, field for field as ABI.md §3 lists them.
type (
	resRec    struct{ off, end, resOff, resEnd, scopeStart, scopeEnd, attrStart, attrEnd, itemStart, itemEnd int32 }
	scopeRec  struct{ off, end, scopeOff, scopeEnd, resource, attrStart, attrEnd, itemStart, itemEnd, metricStart, metricEnd int32 }
	metricRec struct{ off, end, scope, typ, dataOff, dataEnd, nameOff, nameEnd, itemStart, itemEnd int32 }
	itemRec   struct{ off, end, resource, scope, metric, attrStart, attrEnd, nameOff, nameEnd, traceIDOff int32 }
	attrRec   struct{ off, end, owner, parent, keyOff, keyEnd, valType, valOff, valEnd int32 }
)

type indexer struct {
	sig     sdk.Signal
	b       []byte
	res     []resRec
	scopes  []scopeRec
	metrics []metricRec
	items   []itemRec
	attrs   []attrRec
}

// field is one field of a message: its tag's offset, number, wire type
// and value bounds.
type field struct {
	at     int
	num    uint64
	wt     uint64
	vs, ve int
}

// fields walks the fields of the message body b[s:e].
func (x *indexer) fields(s, e int, fn func(f field)) {
	for i := s; i < e; {
		tag, j := x.uvarint(i, e)
		f := field{at: i, num: tag >> 3, wt: tag & 7, vs: j}
		switch f.wt {
		case 0:
			_, f.ve = x.uvarint(j, e)
		case 1:
			f.ve = j + 8
		case 2:
			l, k := x.uvarint(j, e)
			if l > uint64(e-k) {
				panic(malformed{fmt.Errorf("byte %d: length %d exceeds the %d bytes left", j, l, e-k)})
			}
			f.vs, f.ve = k, k+int(l)
		case 5:
			f.ve = j + 4
		default:
			panic(malformed{fmt.Errorf("byte %d: wire type %d", i, f.wt)})
		}
		if f.ve > e {
			panic(malformed{fmt.Errorf("byte %d: %w", i, errTruncated)})
		}
		fn(f)
		i = f.ve
	}
}

func (x *indexer) uvarint(i, e int) (uint64, int) {
	if i >= e {
		panic(malformed{fmt.Errorf("byte %d: %w", i, errTruncated)})
	}
	v, n := binary.Uvarint(x.b[i:e])
	if n <= 0 {
		panic(malformed{fmt.Errorf("byte %d: bad varint", i)})
	}
	return v, i + n
}

func (f field) want(wt uint64) {
	if f.wt != wt {
		panic(malformed{fmt.Errorf("byte %d: field %d has wire type %d, want %d", f.at, f.num, f.wt, wt)})
	}
}

func (x *indexer) request() {
	x.fields(0, len(x.b), func(f field) {
		if f.num == 1 {
			f.want(2)
			x.resource(f)
		}
	})
}

func (x *indexer) resource(entry field) {
	ri := int32(len(x.res))
	x.res = append(x.res, resRec{
		off: int32(entry.at), end: int32(entry.ve),
		scopeStart: int32(len(x.scopes)), attrStart: int32(len(x.attrs)), itemStart: int32(len(x.items)),
	})
	x.res[ri].attrEnd = x.res[ri].attrStart
	x.fields(entry.vs, entry.ve, func(f field) {
		switch f.num {
		case 1:
			f.want(2)
			x.res[ri].resOff, x.res[ri].resEnd = int32(f.at), int32(f.ve)
			x.fields(f.vs, f.ve, func(g field) {
				if g.num == 1 {
					g.want(2)
					x.keyValue(g, 1, ri)
				}
			})
			x.res[ri].attrEnd = int32(len(x.attrs))
		case 2:
			f.want(2)
			x.scope(ri, f)
		}
	})
	x.res[ri].scopeEnd, x.res[ri].itemEnd = int32(len(x.scopes)), int32(len(x.items))
}

func (x *indexer) scope(ri int32, entry field) {
	si := int32(len(x.scopes))
	na, ni, nm := int32(len(x.attrs)), int32(len(x.items)), int32(len(x.metrics))
	x.scopes = append(x.scopes, scopeRec{
		off: int32(entry.at), end: int32(entry.ve), resource: ri,
		attrStart: na, attrEnd: na, itemStart: ni, metricStart: nm,
	})
	x.fields(entry.vs, entry.ve, func(f field) {
		switch f.num {
		case 1:
			f.want(2)
			x.scopes[si].scopeOff, x.scopes[si].scopeEnd = int32(f.at), int32(f.ve)
			x.fields(f.vs, f.ve, func(g field) {
				if g.num == 3 {
					g.want(2)
					x.keyValue(g, 2, si)
				}
			})
			x.scopes[si].attrEnd = int32(len(x.attrs))
		case 2:
			f.want(2)
			switch x.sig {
			case sdk.SignalTraces:
				x.item(f, ri, si, -1, 9, 5, 1)
			case sdk.SignalLogs:
				x.item(f, ri, si, -1, 6, 12, 9)
			case sdk.SignalMetrics:
				x.metric(f, ri, si)
			}
		}
	})
	x.scopes[si].itemEnd, x.scopes[si].metricEnd = int32(len(x.items)), int32(len(x.metrics))
}

// pointAttrs is the attributes field of each metric type's data points.
var pointAttrs = map[uint64]uint64{5: 7, 7: 7, 9: 9, 10: 1, 11: 7}

func (x *indexer) metric(entry field, ri, si int32) {
	mi := int32(len(x.metrics))
	ni := int32(len(x.items))
	x.metrics = append(x.metrics, metricRec{off: int32(entry.at), end: int32(entry.ve), scope: si, itemStart: ni})
	x.fields(entry.vs, entry.ve, func(f field) {
		switch f.num {
		case 1:
			f.want(2)
			x.metrics[mi].nameOff, x.metrics[mi].nameEnd = int32(f.vs), int32(f.ve)
		case 5, 7, 9, 10, 11:
			f.want(2)
			m := &x.metrics[mi]
			m.typ, m.dataOff, m.dataEnd = int32(f.num), int32(f.at), int32(f.ve)
			attrs := pointAttrs[f.num]
			x.fields(f.vs, f.ve, func(g field) {
				if g.num == 1 {
					g.want(2)
					x.item(g, ri, si, mi, attrs, 0, 0)
				}
			})
		}
	})
	m := &x.metrics[mi]
	m.itemEnd = int32(len(x.items))
	for k := m.itemStart; k < m.itemEnd; k++ {
		x.items[k].nameOff, x.items[k].nameEnd = m.nameOff, m.nameEnd
	}
}

// item indexes a span, log record or data point whose attributes, name and
// trace ID are fields attrs, name and traceID (0: none).
func (x *indexer) item(entry field, ri, si, mi int32, attrs, name, traceID uint64) {
	ii := int32(len(x.items))
	na := int32(len(x.attrs))
	x.items = append(x.items, itemRec{
		off: int32(entry.at), end: int32(entry.ve), resource: ri, scope: si, metric: mi, attrStart: na, attrEnd: na,
	})
	x.fields(entry.vs, entry.ve, func(f field) {
		switch f.num {
		case attrs:
			f.want(2)
			x.keyValue(f, 3, ii)
		case name:
			f.want(2)
			x.items[ii].nameOff, x.items[ii].nameEnd = int32(f.vs), int32(f.ve)
		case traceID:
			f.want(2)
			switch f.ve - f.vs {
			case 0:
				x.items[ii].traceIDOff = 0
			case 16:
				x.items[ii].traceIDOff = int32(f.vs)
			default:
				panic(malformed{fmt.Errorf("byte %d: trace_id of %d bytes", f.vs, f.ve-f.vs)})
			}
		}
	})
	x.items[ii].attrEnd = int32(len(x.attrs))
}

func (x *indexer) keyValue(entry field, owner, parent int32) {
	a := attrRec{off: int32(entry.at), end: int32(entry.ve), owner: owner, parent: parent}
	x.fields(entry.vs, entry.ve, func(f field) {
		switch f.num {
		case 1:
			f.want(2)
			a.keyOff, a.keyEnd = int32(f.vs), int32(f.ve)
		case 2:
			f.want(2)
			// The last value field of the last non-empty value wins, as in
			// the gateway's index.
			x.fields(f.vs, f.ve, func(g field) {
				if g.num >= 1 && g.num <= 8 {
					a.valType, a.valOff, a.valEnd = int32(g.num), int32(g.vs), int32(g.ve)
				}
			})
		}
	})
	x.attrs = append(x.attrs, a)
}

func (x *indexer) encode() []byte {
	const hdr = 52
	resAt := hdr
	scopeAt := resAt + 40*len(x.res)
	metricAt := scopeAt + 44*len(x.scopes)
	itemAt := metricAt + 40*len(x.metrics)
	attrAt := itemAt + 40*len(x.items)
	le := binary.LittleEndian
	var b []byte
	for _, v := range []int{1, int(x.sig), len(x.items), len(x.res), len(x.scopes), len(x.metrics), len(x.items), len(x.attrs),
		resAt, scopeAt, metricAt, itemAt, attrAt} {
		b = le.AppendUint32(b, uint32(v))
	}
	put := func(vs ...int32) {
		for _, v := range vs {
			b = le.AppendUint32(b, uint32(v))
		}
	}
	for _, r := range x.res {
		put(r.off, r.end, r.resOff, r.resEnd, r.scopeStart, r.scopeEnd, r.attrStart, r.attrEnd, r.itemStart, r.itemEnd)
	}
	for _, s := range x.scopes {
		put(s.off, s.end, s.scopeOff, s.scopeEnd, s.resource, s.attrStart, s.attrEnd, s.itemStart, s.itemEnd, s.metricStart, s.metricEnd)
	}
	for _, m := range x.metrics {
		put(m.off, m.end, m.scope, m.typ, m.dataOff, m.dataEnd, m.nameOff, m.nameEnd, m.itemStart, m.itemEnd)
	}
	for _, it := range x.items {
		put(it.off, it.end, it.resource, it.scope, it.metric, it.attrStart, it.attrEnd, it.nameOff, it.nameEnd, it.traceIDOff)
	}
	for _, a := range x.attrs {
		put(a.off, a.end, a.owner, a.parent, a.keyOff, a.keyEnd, a.valType, a.valOff, a.valEnd)
	}
	return b
}
