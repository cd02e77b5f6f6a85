// Package otlpwire works on OTLP export requests as encoded protobuf bytes:
// it validates and indexes them in one pass, counts their items, splits and
// concatenates them at top-level boundaries, and converts OTLP/JSON to and
// from protobuf. Nothing here builds OTLP objects on the hot path.
package otlpwire

import "fmt"

// Signal is one of the three OTLP signals the gateway carries.
type Signal uint8

const (
	Traces Signal = iota
	Metrics
	Logs
	// NumSignals is the number of signals; handy for fixed-size arrays indexed by Signal.
	NumSignals
)

// Signals lists every signal in a stable order.
var Signals = [NumSignals]Signal{Traces, Metrics, Logs}

// String returns the name used in metric labels, config and URL paths.
func (s Signal) String() string {
	switch s {
	case Traces:
		return "traces"
	case Metrics:
		return "metrics"
	case Logs:
		return "logs"
	}
	return fmt.Sprintf("signal(%d)", uint8(s))
}

// ParseSignal is the inverse of String.
func ParseSignal(name string) (Signal, error) {
	switch name {
	case "traces":
		return Traces, nil
	case "metrics":
		return Metrics, nil
	case "logs":
		return Logs, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want traces, metrics or logs)", name)
}

// ItemNoun is what the signal's items are called in partial-success
// messages and logs: spans, data points or log records.
func (s Signal) ItemNoun() string {
	switch s {
	case Traces:
		return "spans"
	case Metrics:
		return "data points"
	case Logs:
		return "log records"
	}
	return "items"
}
