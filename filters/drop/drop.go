package main

import "github.com/otlpgw/otlpgw/sdk"

const (
	reasonSampled = "sampled out"
	reasonShed    = "shed under pressure"
)

// The filter reads no item: each batch it sends the gateway one bulk edit
// per rule (DROP_MATCH), one per sampling threshold (SAMPLE) and, under
// pressure, one for low severities (DROP_SEVERITY), and the gateway does
// the matching natively in one pass per edit. The gateway applies them in
// this order and an item is dropped once, by the first edit that matches
// it, so the client reads the reason of the rule it matched first.

// under reports whether the gateway is under pressure for shedding; it
// reads the pressure (a host call, once per batch) only when shedding is
// configured.
func under() bool {
	return cfg.Shed != nil && sdk.Pressure() > cfg.Shed.AbovePressure
}

// dropper is what the three signals' batches share of the SDK's edits.
type dropper interface {
	DropWhere(c sdk.Conditions, reason string)
}

// rules sends one DROP_MATCH per rule; bodies says whether the signal has
// log bodies (a body rule matches nothing elsewhere, so it is not sent).
func rules(d dropper, bodies bool) {
	for i := range cfg.Rules {
		if r := &cfg.Rules[i]; bodies || !r.body {
			d.DropWhere(r.when, r.reason)
		}
	}
}

func dropTraces(t *sdk.Traces) {
	rules(t, false)
	if cfg.SampleThreshold != 0 {
		t.Sample(cfg.SampleThreshold, reasonSampled)
	}
	if cfg.Shed != nil && cfg.Shed.SampleThreshold > cfg.SampleThreshold && under() {
		// Spans the normal threshold keeps but the higher one does not.
		t.Sample(cfg.Shed.SampleThreshold, reasonShed)
	}
}

func dropMetrics(m *sdk.Metrics) {
	rules(m, false)
}

func dropLogs(l *sdk.Logs) {
	rules(l, true)
	if cfg.Shed != nil && cfg.Shed.MaxSeverity > 0 && under() {
		l.DropSeverityUpTo(sdk.Severity(cfg.Shed.MaxSeverity), reasonShed)
	}
	if cfg.SampleThreshold != 0 {
		l.Sample(cfg.SampleThreshold, reasonSampled)
	}
}
