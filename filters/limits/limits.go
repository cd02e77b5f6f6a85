package main

import "github.com/otlpgw/otlpgw/sdk"

// limit asks the gateway, in two batch-wide edits it applies natively, to
// cut every long value (on resources, scopes and items) and to cap each
// item's attribute count. The filter reads nothing: it is bulk-only
// (sdk.BulkOnly), and costs the gateway about what the same limits
// written natively would.
func limit(truncate, capAttrs func(int, sdk.Owners)) {
	if cfg.MaxValueLength > 0 {
		truncate(cfg.MaxValueLength, sdk.Everywhere)
	}
	if cfg.MaxAttributes > 0 {
		// Resource and scope attributes say where the data comes from:
		// losing service.name would do more harm than their size.
		capAttrs(cfg.MaxAttributes, sdk.OnItems)
	}
}

func limitTraces(t *sdk.Traces)   { limit(t.TruncateValues, t.CapAttributes) }
func limitMetrics(m *sdk.Metrics) { limit(m.TruncateValues, m.CapAttributes) }
func limitLogs(l *sdk.Logs)       { limit(l.TruncateValues, l.CapAttributes) }
