package main

import (
	"iter"
	"math"
	"strings"

	"github.com/otlpgw/otlpgw/sdk"
)

var (
	defaultsSet = sdk.NewCounter("fix_resource_attributes_set_total", "Default resource attributes the filter set where a resource lacked them. Without lowercase_keys and with only string defaults, the gateway sets them in batch-wide edits and they are not counted here.")
	clamped     = sdk.NewCounter("fix_timestamps_clamped_total", "Timestamps more than max_future past the gateway's clock, set to the clock by the filter itself (with lowercase_keys or a non-string default; otherwise the gateway clamps in a batch-wide edit and they are not counted here).")
	lowercased  = sdk.NewCounter("fix_keys_lowercased_total", "Attribute keys renamed to their lower-case spelling (or deleted when that spelling was already there).")
)

// clock is this batch's clamping bound: timestamps above limit become now.
type clock struct {
	on         bool
	now, limit uint64
}

func newClock() clock {
	if cfg.MaxFuture == 0 {
		return clock{}
	}
	n := sdk.Now() // one host call per batch
	if n < 0 {
		n = 0
	}
	now := uint64(n)
	limit := now + uint64(cfg.MaxFuture)
	if limit < now {
		limit = math.MaxUint64
	}
	return clock{true, now, limit}
}

// The item loops read only what the configuration needs: each SDK read
// costs a few hundred nanoseconds in the guest.

func fixTraces(t *sdk.Traces) {
	if fixBulk(t.SetDefaultStr, t.ClampFuture) {
		return
	}
	fixResources(t.Resources())
	c := newClock()
	if !c.on && len(cfg.LowercaseKeys) == 0 {
		return
	}
	for s := range t.Spans() {
		if c.on {
			// Set the end no earlier than the start, so that clamping
			// never makes a span end before it starts.
			start, end := s.StartTime(), s.EndTime()
			if start > c.limit {
				start = c.now
				s.SetStartTime(start)
				clamped.Inc()
			}
			if end > c.limit {
				s.SetEndTime(max(c.now, start))
				clamped.Inc()
			}
		}
		if len(cfg.LowercaseKeys) > 0 {
			lowercase(s.Attributes())
		}
	}
}

func fixMetrics(m *sdk.Metrics) {
	if fixBulk(m.SetDefaultStr, m.ClampFuture) {
		return
	}
	fixResources(m.Resources())
	c := newClock()
	if !c.on && len(cfg.LowercaseKeys) == 0 {
		return
	}
	for p := range m.DataPoints() {
		if c.on {
			// The window's start must stay at or before its time.
			start, t := p.StartTime(), p.Time()
			moved := t > c.limit
			if moved {
				t = c.now
				p.SetTime(t)
				clamped.Inc()
			}
			if start > c.limit || moved && start > t {
				p.SetStartTime(min(c.now, t))
				clamped.Inc()
			}
		}
		if len(cfg.LowercaseKeys) > 0 {
			lowercase(p.Attributes())
		}
	}
}

func fixLogs(l *sdk.Logs) {
	if fixBulk(l.SetDefaultStr, l.ClampFuture) {
		return
	}
	fixResources(l.Resources())
	c := newClock()
	if !c.on && len(cfg.LowercaseKeys) == 0 {
		return
	}
	for r := range l.LogRecords() {
		if c.on {
			if r.Time() > c.limit {
				r.SetTime(c.now)
				clamped.Inc()
			}
			if r.ObservedTime() > c.limit {
				r.SetObservedTime(c.now)
				clamped.Inc()
			}
		}
		if len(cfg.LowercaseKeys) > 0 {
			lowercase(r.Attributes())
		}
	}
}

// bulk says whether c can be done entirely in batch-wide edits: string
// resource defaults (SetDefaultStr, which treats an empty value as
// missing, as fixResources does) and clamping (ClampFuture, the same rules
// as the walk below), with no lowercase_keys. The filter then reads no
// batch; its counters stay 0 and the gateway counts the batches it
// changed.
func bulk(c config) bool {
	if len(c.LowercaseKeys) > 0 {
		return false
	}
	for _, d := range c.ResourceDefaults {
		if d.kind != sdk.ValueString {
			return false
		}
	}
	return true
}

// fixBulk is the whole filter for bulk configs.
func fixBulk(set func(key, value string, where sdk.Owners), clamp func(limit, now uint64)) bool {
	if !bulk(cfg) {
		return false
	}
	for _, d := range cfg.ResourceDefaults {
		set(d.key, d.s, sdk.OnResources)
	}
	if c := newClock(); c.on {
		clamp(c.limit, c.now)
	}
	return true
}

// fixResources sets the default resource attributes and lower-cases the
// resource and scope attribute keys.
func fixResources(rs iter.Seq[sdk.Resource]) {
	for r := range rs {
		attrs := r.Attributes()
		for _, d := range cfg.ResourceDefaults {
			if v, ok := attrs.Get(d.key); ok && !(v.Type() == sdk.ValueEmpty || v.Type() == sdk.ValueString && v.Len() == 0) {
				continue
			}
			switch d.kind {
			case sdk.ValueString:
				attrs.SetStr(d.key, d.s)
			case sdk.ValueBool:
				attrs.SetBool(d.key, d.b)
			case sdk.ValueInt:
				attrs.SetInt(d.key, d.i)
			case sdk.ValueDouble:
				attrs.SetDouble(d.key, d.f)
			}
			defaultsSet.Inc()
		}
		lowercase(attrs)
		if len(cfg.LowercaseKeys) > 0 {
			for s := range r.Scopes() {
				lowercase(s.Attributes())
			}
		}
	}
}

// handled lists the spellings already renamed or deleted on the current
// owner, so that a key repeated on one owner is edited once; reused across
// owners to avoid allocating.
var handled []string

// lowercase renames each attribute whose key is another spelling of one of
// cfg.LowercaseKeys to that key; when the owner already has the key in
// lower case (or gets it from an earlier rename), the other spelling is
// deleted instead, so the owner never ends up with the key twice.
func lowercase(attrs sdk.Attributes) {
	if len(cfg.LowercaseKeys) == 0 {
		return
	}
	handled = handled[:0]
	for key := range attrs.All() {
		for _, want := range cfg.LowercaseKeys {
			if len(key) != len(want) || key == want || !strings.EqualFold(key, want) {
				continue
			}
			if !isHandled(key) {
				handled = append(handled, key)
				if attrs.Has(want) || isHandled(want) {
					attrs.Delete(key)
				} else {
					attrs.Rename(key, want)
					handled = append(handled, want)
				}
			}
			lowercased.Inc() // a repeat was renamed or deleted with the first
			break
		}
	}
}

func isHandled(k string) bool {
	for _, h := range handled {
		if h == k {
			return true
		}
	}
	return false
}
