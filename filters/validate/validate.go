package main

import (
	"math"

	"github.com/otlpgw/otlpgw/sdk"
)

// The reasons the client sees, one per failed check.
var reasons = sdk.ValidityReasons{
	TraceID:        "invalid trace_id: missing or all zero",
	SpanID:         "invalid span_id: missing or all zero",
	EmptyName:      "empty name",
	MissingTime:    "missing timestamp",
	OldTime:        "timestamp before the year 2000",
	FutureTime:     "timestamp too far in the future",
	StartAfterEnd:  "start after end",
	BucketCounts:   "histogram bucket_counts length is not explicit_bounds length + 1",
	HistogramCount: "histogram count is not the sum of bucket_counts",
	Severity:       "severity_number out of range 0..24",
}

// minTime is 2000-01-01T00:00:00Z in Unix nanoseconds: nothing a gateway
// receives today happened before it, and a timestamp that small is a unit
// mistake (seconds or milliseconds sent as nanoseconds).
const minTime = 946_684_800 * 1_000_000_000

// validity is this batch's checks: the configured ones, and the window of
// plausible timestamps from the gateway's clock (one host call).
func validity() sdk.Validity {
	v := sdk.Validity{
		IDs: cfg.IDs, Timestamps: cfg.Timestamps, Names: cfg.Names, Histograms: cfg.Histograms, Severity: cfg.Severity,
		MinTime: minTime, Reasons: reasons,
	}
	if cfg.Timestamps {
		now := sdk.Now()
		if now < 0 {
			now = 0
		}
		v.MaxTime = uint64(now) + uint64(cfg.MaxFuture)
		if v.MaxTime < uint64(now) {
			v.MaxTime = math.MaxUint64
		}
	}
	return v
}

// Every check is one batch-wide edit the gateway applies natively
// (DROP_INVALID): the filter reads no item (it is bulk-only) and costs
// about what the same checks written natively would.
func validateTraces(t *sdk.Traces)   { t.DropInvalid(validity()) }
func validateMetrics(m *sdk.Metrics) { m.DropInvalid(validity()) }
func validateLogs(l *sdk.Logs)       { l.DropInvalid(validity()) }
