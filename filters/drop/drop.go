package main

import "github.com/otlpgw/otlpgw/sdk"

var (
	byRule  = sdk.NewCounter("drop_rule_dropped_total", "Items dropped because they matched a rule.")
	sampled = sdk.NewCounter("drop_sampled_out_total", "Spans and log records dropped by sample_percent.")
	shedded = sdk.NewCounter("drop_shed_total", "Spans and log records dropped while the gateway's pressure was above shed.above_pressure.")
)

const (
	reasonSampled = "sampled out"
	reasonShed    = "shed under pressure"
)

// under reports whether the gateway is under pressure for shedding; it
// reads the pressure (a host call, once per batch) only when shedding is
// configured.
func under() bool {
	return cfg.Shed != nil && sdk.Pressure() > cfg.Shed.AbovePressure
}

// randomness is the low 56 bits of a trace ID, the part OpenTelemetry's
// consistent sampling decides on (W3C Trace Context level 2 makes them
// random).
func randomness(id [16]byte) uint64 {
	return uint64(id[9])<<48 | uint64(id[10])<<40 | uint64(id[11])<<32 |
		uint64(id[12])<<24 | uint64(id[13])<<16 | uint64(id[14])<<8 | uint64(id[15])
}

// sample returns why an item of trace id is dropped by sampling, "" to keep
// it; shedT is the extra threshold under pressure (0 none). An item without
// a trace ID is kept.
func sample(id [16]byte, shedT uint64) string {
	if cfg.SampleThreshold == 0 && shedT == 0 || id == [16]byte{} {
		return ""
	}
	r := randomness(id)
	switch {
	case r < cfg.SampleThreshold:
		sampled.Inc()
		return reasonSampled
	case r < shedT:
		shedded.Inc()
		return reasonShed
	}
	return ""
}

// byExact asks the gateway to drop every item named in the rules (dropName)
// and every log record whose body a rule lists (dropBody, nil for signals
// without bodies), one edit per name or body, in rule order, when every
// rule is a set of exact names or bodies and nothing else is configured:
// the filter then reads no item at all. Rule-matched drops are
// not counted in drop_rule_dropped_total on this path (the gateway counts
// them in otlpgw_filter_items_total).
func byExact(dropName, dropBody func(s, reason string)) bool {
	if !cfg.exactOnly {
		return false
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		m, drop := r.name, dropName
		if m == nil {
			m, drop = r.body, dropBody
		}
		if drop == nil {
			continue // a body rule on a signal without bodies matches nothing
		}
		values, _ := m.Exact()
		for _, v := range values {
			drop(v, r.reason)
		}
	}
	return true
}

func dropTraces(t *sdk.Traces) {
	if byExact(t.DropNamed, nil) {
		return
	}
	var shedT uint64
	if under() {
		shedT = cfg.Shed.SampleThreshold
	}
	// Each SDK read costs a few hundred nanoseconds in the guest: skip
	// those no configured check needs.
	rules, sampling := len(cfg.Rules) > 0, cfg.SampleThreshold != 0 || shedT != 0
	for s := range t.Spans() {
		if rules {
			if r := matchRule(s.Name(), s.Attributes(), nil); r != nil {
				s.Drop(r.reason)
				byRule.Inc()
				continue
			}
		}
		if sampling {
			if why := sample(s.TraceID(), shedT); why != "" {
				s.Drop(why)
			}
		}
	}
}

func dropMetrics(m *sdk.Metrics) {
	if len(cfg.Rules) == 0 || byExact(m.DropNamed, nil) {
		return
	}
	for p := range m.DataPoints() {
		if r := matchRule(p.Name(), p.Attributes(), nil); r != nil {
			p.Drop(r.reason)
			byRule.Inc()
		}
	}
}

func dropLogs(l *sdk.Logs) {
	if byExact(l.DropNamed, l.DropBody) {
		return
	}
	maxSev := sdk.Severity(0)
	if under() {
		maxSev = sdk.Severity(cfg.Shed.MaxSeverity)
	}
	rules, sampling := len(cfg.Rules) > 0, cfg.SampleThreshold != 0
	for rec := range l.LogRecords() {
		if rules {
			if r := matchRule(rec.EventName(), rec.Attributes(), &rec); r != nil {
				rec.Drop(r.reason)
				byRule.Inc()
				continue
			}
		}
		if maxSev > 0 {
			// Unspecified severity (0) is kept: unknown is not low.
			if sev := rec.Severity(); sev > 0 && sev <= maxSev {
				rec.Drop(reasonShed)
				shedded.Inc()
				continue
			}
		}
		if sampling {
			if why := sample(rec.TraceID(), 0); why != "" {
				rec.Drop(why)
			}
		}
	}
}

// matchRule returns the first rule matching an item, or nil. rec is the
// log record for body conditions, nil for spans and data points (for which
// a rule with a body condition never matches).
func matchRule(name string, attrs sdk.Attributes, rec *sdk.LogRecord) *rule {
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.name != nil && !r.name.Match(name) {
			continue
		}
		if r.attr != nil && !r.attr.match(attrs) {
			continue
		}
		if r.body != nil {
			if rec == nil {
				continue
			}
			b := rec.Body()
			if b.Type() != sdk.ValueString || !r.body.Match(b.Str()) {
				continue
			}
		}
		return r
	}
	return nil
}

func (a *attrCond) match(attrs sdk.Attributes) bool {
	v, ok := attrs.Get(a.key)
	if !ok {
		return false
	}
	switch a.kind {
	case condString:
		return v.Type() == sdk.ValueString && v.Str() == a.s
	case condNumber:
		switch v.Type() {
		case sdk.ValueInt:
			return float64(v.Int()) == a.f
		case sdk.ValueDouble:
			return v.Double() == a.f
		}
		return false
	case condBool:
		return v.Type() == sdk.ValueBool && v.Bool() == a.b
	case condMatches:
		return v.Type() == sdk.ValueString && a.matches.Match(v.Str())
	}
	return true // condExists
}
