package otlpwire

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// JSON is converted to protobuf once, at the edge (OTLP/HTTP with
// Content-Type application/json), and back only for JSON responses and
// offline tools. That is the one place the gateway accepts building OTLP
// objects: OTLP/JSON has rules that differ from protojson (hex trace and span
// IDs, enums as integers, both lowerCamelCase and snake_case keys, 64-bit
// integers as strings or numbers, unknown fields ignored), and pdata
// implements exactly those rules, so reimplementing them here would only add
// ways to disagree with the rest of the ecosystem.

// JSONToProto converts an OTLP/JSON export request body for sig into the
// encoded Export{Trace,Metrics,Logs}ServiceRequest protobuf. Malformed JSON is
// an error; unknown fields are ignored as the OTLP spec requires.
func JSONToProto(sig Signal, body []byte) ([]byte, error) {
	switch sig {
	case Traces:
		var u ptrace.JSONUnmarshaler
		td, err := u.UnmarshalTraces(body)
		if err != nil {
			return nil, fmt.Errorf("otlp/json %s: %w", sig, err)
		}
		var m ptrace.ProtoMarshaler
		return m.MarshalTraces(td)
	case Metrics:
		var u pmetric.JSONUnmarshaler
		md, err := u.UnmarshalMetrics(body)
		if err != nil {
			return nil, fmt.Errorf("otlp/json %s: %w", sig, err)
		}
		var m pmetric.ProtoMarshaler
		return m.MarshalMetrics(md)
	case Logs:
		var u plog.JSONUnmarshaler
		ld, err := u.UnmarshalLogs(body)
		if err != nil {
			return nil, fmt.Errorf("otlp/json %s: %w", sig, err)
		}
		var m plog.ProtoMarshaler
		return m.MarshalLogs(ld)
	}
	return nil, fmt.Errorf("otlp/json: unknown %s", sig)
}

// ProtoToJSON converts an encoded Export{Trace,Metrics,Logs}ServiceRequest
// for sig into OTLP/JSON: one line, no trailing newline.
func ProtoToJSON(sig Signal, req []byte) ([]byte, error) {
	switch sig {
	case Traces:
		var u ptrace.ProtoUnmarshaler
		td, err := u.UnmarshalTraces(req)
		if err != nil {
			return nil, fmt.Errorf("otlp/protobuf %s: %w", sig, err)
		}
		var m ptrace.JSONMarshaler
		return m.MarshalTraces(td)
	case Metrics:
		var u pmetric.ProtoUnmarshaler
		md, err := u.UnmarshalMetrics(req)
		if err != nil {
			return nil, fmt.Errorf("otlp/protobuf %s: %w", sig, err)
		}
		var m pmetric.JSONMarshaler
		return m.MarshalMetrics(md)
	case Logs:
		var u plog.ProtoUnmarshaler
		ld, err := u.UnmarshalLogs(req)
		if err != nil {
			return nil, fmt.Errorf("otlp/protobuf %s: %w", sig, err)
		}
		var m plog.JSONMarshaler
		return m.MarshalLogs(ld)
	}
	return nil, fmt.Errorf("otlp/protobuf: unknown %s", sig)
}
