package main

import (
	"math"

	"github.com/otlpgw/otlpgw/sdk"
)

// reason is one drop reason: the text the client sees and its counter. The
// SDK's metrics have no labels, so each reason has a counter of its own
// beside the total.
type reason struct {
	text    string
	counter *sdk.Counter
}

func newReason(text, slug, help string) *reason {
	return &reason{text, sdk.NewCounter("validate_dropped_"+slug+"_total", help)}
}

var (
	droppedTotal = sdk.NewCounter("validate_dropped_total", "Items (spans, data points, log records) dropped as invalid, for any reason.")

	rTraceID    = newReason("invalid trace_id: missing or all zero", "trace_id", "Spans dropped for a missing or all-zero trace_id.")
	rSpanID     = newReason("invalid span_id: missing or all zero", "span_id", "Spans dropped for a missing or all-zero span_id.")
	rEmptyName  = newReason("empty name", "empty_name", "Spans with an empty name, and data points of a metric with an empty name, dropped.")
	rMissingTS  = newReason("missing timestamp", "missing_timestamp", "Items dropped for a zero timestamp where one is required.")
	rOldTS      = newReason("timestamp before the year 2000", "old_timestamp", "Items dropped for a timestamp before 2000-01-01.")
	rFutureTS   = newReason("timestamp too far in the future", "future_timestamp", "Items dropped for a timestamp more than max_future past the gateway's clock.")
	rStartAfter = newReason("start after end", "start_after_end", "Spans ending before they start, and data points whose start_time is after their time, dropped.")
	rBuckets    = newReason("histogram bucket_counts length is not explicit_bounds length + 1", "bucket_counts", "Histogram data points dropped for a bucket_counts length that does not fit explicit_bounds.")
	rCount      = newReason("histogram count is not the sum of bucket_counts", "histogram_count", "Histogram data points dropped for a count that differs from the sum of their bucket counts.")
	rSeverity   = newReason("severity_number out of range 0..24", "severity", "Log records dropped for a severity_number outside 0..24.")
)

// minTime is 2000-01-01T00:00:00Z in Unix nanoseconds: nothing a gateway
// receives today happened before it, and a timestamp that small is a unit
// mistake (seconds or milliseconds sent as nanoseconds).
const minTime = 946_684_800 * 1_000_000_000

// window is this batch's range of plausible timestamps.
type window struct{ max uint64 }

func newWindow() window {
	now := sdk.Now() // one host call per batch
	if now < 0 {
		now = 0
	}
	m := uint64(now) + uint64(cfg.MaxFuture)
	if m < uint64(now) {
		m = math.MaxUint64
	}
	return window{m}
}

// check returns why the non-zero timestamp ts is implausible, or nil.
func (w window) check(ts uint64) *reason {
	switch {
	case ts < minTime:
		return rOldTS
	case ts > w.max:
		return rFutureTS
	}
	return nil
}

// dropper is what every item view has; a type parameter rather than an
// interface so that passing a view does not allocate.
type dropper interface{ Drop(reason string) }

func drop[T dropper](item T, r *reason) {
	item.Drop(r.text)
	r.counter.Inc()
	droppedTotal.Inc()
}

func validateTraces(t *sdk.Traces) {
	var w window
	if cfg.Timestamps {
		w = newWindow()
	}
	for s := range t.Spans() {
		if r := checkSpan(s, w); r != nil {
			drop(s, r)
		}
	}
}

// checkSpan returns why s is invalid, or nil. Checks that read the index
// come first; the rest walk the span's fields once.
func checkSpan(s sdk.Span, w window) *reason {
	if cfg.IDs && s.TraceID() == [16]byte{} {
		return rTraceID
	}
	if cfg.Names && s.Name() == "" {
		return rEmptyName
	}
	if cfg.IDs && s.SpanID() == [8]byte{} {
		return rSpanID
	}
	if cfg.Timestamps {
		start, end := s.StartTime(), s.EndTime()
		if start == 0 || end == 0 {
			return rMissingTS
		}
		if r := w.check(start); r != nil {
			return r
		}
		if r := w.check(end); r != nil {
			return r
		}
		if end < start {
			return rStartAfter
		}
	}
	return nil
}

func validateMetrics(m *sdk.Metrics) {
	var w window
	if cfg.Timestamps {
		w = newWindow()
	}
	for p := range m.DataPoints() {
		if r := checkPoint(p, w); r != nil {
			drop(p, r)
		}
	}
}

func checkPoint(p sdk.DataPoint, w window) *reason {
	if cfg.Names && p.Name() == "" {
		return rEmptyName
	}
	if cfg.Timestamps {
		t := p.Time()
		if t == 0 {
			return rMissingTS
		}
		if r := w.check(t); r != nil {
			return r
		}
		// start_time is optional (gauges usually omit it).
		if st := p.StartTime(); st != 0 {
			if r := w.check(st); r != nil {
				return r
			}
			if st > t {
				return rStartAfter
			}
		}
	}
	if cfg.Histograms && p.Type() == sdk.MetricHistogram {
		// OTLP allows a histogram without buckets (count and sum only);
		// with buckets there is one more than there are bounds.
		if n := p.BucketCountsLen(); n > 0 {
			if n != p.ExplicitBoundsLen()+1 {
				return rBuckets
			}
			var sum uint64
			for i := range n {
				sum += p.BucketCount(i)
			}
			if sum != p.Count() {
				return rCount
			}
		}
	}
	return nil
}

func validateLogs(l *sdk.Logs) {
	var w window
	if cfg.Timestamps {
		w = newWindow()
	}
	for r := range l.LogRecords() {
		if why := checkLog(r, w); why != nil {
			drop(r, why)
		}
	}
}

func checkLog(r sdk.LogRecord, w window) *reason {
	if cfg.Severity {
		if s := r.Severity(); s < 0 || s > 24 {
			return rSeverity
		}
	}
	if cfg.Timestamps {
		// time_unix_nano is optional when the collector set
		// observed_time_unix_nano; one of them must be there.
		t, obs := r.Time(), r.ObservedTime()
		if t == 0 && obs == 0 {
			return rMissingTS
		}
		if t != 0 {
			if why := w.check(t); why != nil {
				return why
			}
		}
		if obs != 0 {
			if why := w.check(obs); why != nil {
				return why
			}
		}
	}
	return nil
}
