package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// pipelineChain turns the loaded filters into the pipeline's stages. Each
// run of two or more consecutive bulk-only filters (sdk.BulkOnly: they
// never read a batch and answer with batch-wide edits) becomes one
// bulkGroup, so the request is edited and re-indexed once for the run
// instead of once per filter. Bulk edits mean the same on any batch of a
// signal, so applying the run's lists together, in order, gives what
// applying them one after another would (otlpwire.Edits.DecodeMore).
func pipelineChain(fs []*chainFilter) []pipeline.Filter {
	var out []pipeline.Filter
	for i := 0; i < len(fs); {
		j := i
		for j < len(fs) && fs[j].f.BulkOnly() {
			j++
		}
		if j-i >= 2 {
			out = append(out, newBulkGroup(fs[i:j]))
			i = j
			continue
		}
		out = append(out, fs[i])
		i++
	}
	return out
}

// bulkGroup is a run of bulk-only filters run as one pipeline stage. Each
// member is still called once per batch, counted and judged (metrics,
// on_error, probation) as itself.
type bulkGroup struct {
	members []*chainFilter
	name    string
	state   sync.Pool // *bulkState
}

// bulkState is one call's scratch: the members' edit lists end to end, the
// segment each contributed, and an index for re-indexing after a failure.
type bulkState struct {
	lists []byte
	segs  []bulkSegment
	edits otlpwire.Edits
	ix    otlpwire.Index
	out   otlpwire.Index // the final output at the resource level
}

type bulkSegment struct {
	member     *chainFilter
	start, end int // in lists
}

func newBulkGroup(members []*chainFilter) *bulkGroup {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.name
	}
	g := &bulkGroup{members: members, name: strings.Join(names, ",")}
	g.state.New = func() any { return &bulkState{} }
	return g
}

func (g *bulkGroup) Name() string { return g.name }

// groupResult accumulates what the group did to one request.
type groupResult struct {
	req      []byte       // the current request; a new buffer once anything changed
	buf      *bufpool.Buf // holds req once it changed
	ix       *otlpwire.Index
	changed  bool
	indexed  bool // the last settle left the output's resources in bulkState.out
	dropped  int
	messages []string
}

// Process calls every member that handles sig, collecting their lists,
// then applies them in one pass. A member that fails or rejects ends the
// collection: what the members before it asked is applied first, then its
// on_error policy, exactly as if the filters ran one by one.
func (g *bulkGroup) Process(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index) (pipeline.FilterResult, error) {
	if ix.Items == 0 {
		return pipeline.FilterResult{}, nil
	}
	st := g.state.Get().(*bulkState)
	defer g.state.Put(st)
	st.lists, st.segs = st.lists[:0], st.segs[:0]
	r := groupResult{req: req, ix: ix}
	fr, err := g.run(ctx, sig, st, &r)
	if err != nil || fr.Buf != r.buf {
		r.buf.Release()
	}
	if err == nil && fr.Indexed {
		// Hand the pipeline the output's resource-level index in the index
		// it gave us, which nothing reads any more.
		ix.Reset()
		ix.Signal, ix.Items = st.out.Signal, st.out.Items
		ix.Resources = append(ix.Resources, st.out.Resources...)
	}
	return fr, err
}

func (g *bulkGroup) run(ctx context.Context, sig otlpwire.Signal, st *bulkState, r *groupResult) (pipeline.FilterResult, error) {
	for _, m := range g.members {
		if !m.f.Handles(sig) {
			continue
		}
		start := len(st.lists)
		t0 := time.Now()
		m.calls.Add(1)
		res, err := m.f.ProcessBulk(ctx, sig, &st.lists)
		m.sigs[sig].duration.Observe(time.Since(t0).Seconds())
		if err == nil && res.Reject == "" {
			st.segs = append(st.segs, bulkSegment{member: m, start: start, end: len(st.lists)})
			continue
		}
		st.lists = st.lists[:start]
		if ferr := g.settle(st, sig, r, true); ferr != nil {
			return pipeline.FilterResult{}, ferr
		}
		items := r.ix.Items
		if res.Reject != "" {
			dropCount(&m.sigs[sig], res.Reject, items)
			return pipeline.FilterResult{}, gwerr.New(gwerr.Rejected, "filter[%s] rejected the batch: %s", m.name, res.Reject)
		}
		fr, ferr := m.failed(sig, items, err)
		if ferr != nil {
			return pipeline.FilterResult{}, ferr
		}
		if fr.Req != nil { // on_error: drop
			r.dropped += fr.Dropped
			r.messages = append(r.messages, fmt.Sprintf("filter[%s]: %s", m.name, fr.Reason))
			return r.result(fr.Req), nil
		}
		// on_error: pass: the next members see the batch as it is.
	}
	if err := g.settle(st, sig, r, false); err != nil {
		return pipeline.FilterResult{}, err
	}
	return r.result(nil), nil
}

// result is the pipeline's view of the group's work; with final set, the
// request is final (an on_error: drop emptied it).
func (r *groupResult) result(final []byte) pipeline.FilterResult {
	fr := pipeline.FilterResult{Dropped: r.dropped, Message: strings.Join(r.messages, "; ")}
	switch {
	case final != nil:
		fr.Req = final
	case r.changed:
		fr.Req, fr.Buf, fr.Indexed = r.req, r.buf, r.indexed
	}
	return fr
}

// settle applies the collected lists to r's request in one pass, counts
// each member's work, and clears the collection. When the request changed
// and more members follow, it is re-indexed into st.ix; otherwise the
// pipeline re-indexes it.
func (g *bulkGroup) settle(st *bulkState, sig otlpwire.Signal, r *groupResult, more bool) error {
	if len(st.segs) == 0 {
		return nil
	}
	defer func() { st.lists, st.segs = st.lists[:0], st.segs[:0] }()
	e := &st.edits
	var err error
	for k, s := range st.segs {
		list := st.lists[s.start:s.end]
		if k == 0 {
			err = e.Decode(list, r.ix)
		} else {
			err = e.DecodeMore(list, r.ix)
		}
		if err != nil {
			// ProcessBulk checked each list against the ABI already.
			return gwerr.Wrap(gwerr.Internal, err, "filter["+s.member.name+"]: its checked edit list does not decode")
		}
	}
	items := r.ix.Items
	// The output goes to the queues like a received request: from the
	// pool, with room for what defaults add.
	buf := bufpool.Get(len(r.req) + len(r.req)/8 + 512)
	var out []byte
	var changed bool
	if more {
		out, _, changed, err = otlpwire.ApplyChanged(r.ix, r.req, e, buf.B[:0])
	} else {
		out, _, changed, err = otlpwire.ApplyResources(r.ix, r.req, e, buf.B[:0], &st.out)
	}
	if err != nil || !changed {
		buf.Release()
		if err != nil {
			return gwerr.Wrap(gwerr.Internal, err, "filters["+g.name+"]: applying bulk edits")
		}
	}
	// Each member is counted for what its own list did (as it would be
	// alone, after the members before it): a member whose edits matched
	// nothing kept its batch even when a later member's edits changed it.
	seen := items
	for k, s := range st.segs {
		m := &s.member.sigs[sig]
		d := e.SegmentDrops[k]
		switch {
		case changed && e.SegmentChanged[k]:
			m.modified.Add(float64(seen - d))
		default:
			m.kept.Add(float64(seen))
		}
		if d > 0 {
			r.dropped += d
			r.messages = append(r.messages, fmt.Sprintf("filter[%s]: %s", s.member.name, e.SegmentReasons[k]))
		}
		seen -= d
	}
	if changed {
		for _, d := range e.Drops {
			m := &st.segs[d.Segment].member.sigs[sig]
			if d.Other {
				dropCount(m, wasmhost.OtherReasons, d.Items)
			} else {
				dropCount(m, d.Reason, d.Items)
			}
		}
	}
	if !changed {
		return nil
	}
	if unsafe.SliceData(out) != unsafe.SliceData(buf.B) {
		buf.Release() // it outgrew the buffer: out is its own allocation
		buf = nil
	}
	r.buf.Release() // an earlier settle's output, now consumed
	r.req, r.buf, r.changed = out, buf, true
	if !more {
		r.indexed = true
		return nil
	}
	if err := st.ix.Parse(sig, out); err != nil {
		return gwerr.Wrap(gwerr.Internal, err, "filters["+g.name+"] produced an invalid request")
	}
	r.ix = &st.ix
	return nil
}
