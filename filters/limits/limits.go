package main

import (
	"iter"

	"github.com/otlpgw/otlpgw/sdk"
)

var (
	truncated = sdk.NewCounter("limits_values_truncated_total", "String and bytes attribute values cut to max_value_length by the filter itself (with max_attributes set). Without max_attributes the gateway truncates in one batch-wide edit and the cuts are not counted here.")
	dropped   = sdk.NewCounter("limits_attributes_dropped_total", "Attributes deleted because their span, data point or log record had more than max_attributes.")
)

// bulk asks the gateway to truncate every value in the batch in one edit
// when no attribute count is capped: the filter then walks nothing. The
// cap needs the walk (which attributes come first is per item).
func bulk(truncate func(int, sdk.Owners)) bool {
	if cfg.MaxAttributes != 0 {
		return false
	}
	if cfg.MaxValueLength > 0 {
		truncate(cfg.MaxValueLength, sdk.Everywhere)
	}
	return true
}

func limitTraces(t *sdk.Traces) {
	if bulk(t.TruncateValues) {
		return
	}
	owners(t.Resources())
	for s := range t.Spans() {
		item(s.Attributes())
	}
}

func limitMetrics(m *sdk.Metrics) {
	if bulk(m.TruncateValues) {
		return
	}
	owners(m.Resources())
	for p := range m.DataPoints() {
		item(p.Attributes())
	}
}

func limitLogs(l *sdk.Logs) {
	if bulk(l.TruncateValues) {
		return
	}
	owners(l.Resources())
	for r := range l.LogRecords() {
		item(r.Attributes())
	}
}

// owners truncates the resources' and scopes' values. Their attribute
// counts are not capped: they describe where the data comes from, and
// dropping, say, service.name would do more harm than their size.
func owners(rs iter.Seq[sdk.Resource]) {
	if cfg.MaxValueLength == 0 {
		return
	}
	for r := range rs {
		truncate(r.Attributes())
		for s := range r.Scopes() {
			truncate(s.Attributes())
		}
	}
}

func truncate(attrs sdk.Attributes) {
	for _, v := range attrs.All() {
		if v.Len() > cfg.MaxValueLength && (v.Type() == sdk.ValueString || v.Type() == sdk.ValueBytes) {
			v.Truncate(cfg.MaxValueLength)
			truncated.Inc()
		}
	}
}

// deleted lists the keys deleted on the current item, so that a repeated
// key is deleted once; reused across items.
var deleted []string

// item truncates an item's values and deletes its attributes beyond the
// first MaxAttributes. The SDK deletes by key, so an extra attribute whose
// key repeats one of the first MaxAttributes (which OTLP forbids) takes
// that one with it: the item ends up with fewer, never more.
func item(attrs sdk.Attributes) {
	limit := cfg.MaxAttributes
	if limit == 0 || attrs.Len() <= limit {
		if cfg.MaxValueLength > 0 {
			truncate(attrs)
		}
		return
	}
	deleted = deleted[:0]
	i := 0
	for k, v := range attrs.All() {
		if i < limit {
			if cfg.MaxValueLength > 0 && v.Len() > cfg.MaxValueLength && (v.Type() == sdk.ValueString || v.Type() == sdk.ValueBytes) {
				v.Truncate(cfg.MaxValueLength)
				truncated.Inc()
			}
		} else if !isDeleted(k) {
			deleted = append(deleted, k)
			attrs.Delete(k)
		}
		i++
	}
	dropped.Add(float64(attrs.Len() - limit))
}

func isDeleted(k string) bool {
	for _, d := range deleted {
		if d == k {
			return true
		}
	}
	return false
}
