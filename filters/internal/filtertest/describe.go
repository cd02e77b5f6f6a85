//go:build !wasip1

package filtertest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/sdk"
)

// Describe renders an encoded request of sig, one line per resource, scope
// and item, each with its attributes, for tests that check what a filter's
// edits left (Applied.Out):
//
//	resource service.name=cart
//	scope io.x k=v
//	span "GET /api" http.method=GET,n=3
//	log "event" body=text sev=9 user=[a,1]
//	point "http.requests" code=200
func Describe(t testing.TB, sig sdk.Signal, req []byte) []string {
	t.Helper()
	var out []string
	add := func(head string, attrs []*commonpb.KeyValue) {
		if kvs := renderAttrs(attrs); kvs != "" {
			head += " " + kvs
		}
		out = append(out, head)
	}
	switch sig {
	case sdk.SignalTraces:
		m := &coltrace.ExportTraceServiceRequest{}
		unmarshal(t, req, m)
		for _, r := range m.ResourceSpans {
			add("resource", r.GetResource().GetAttributes())
			for _, s := range r.ScopeSpans {
				add("scope "+s.GetScope().GetName(), s.GetScope().GetAttributes())
				for _, sp := range s.Spans {
					add("span "+strconv.Quote(sp.Name), sp.Attributes)
				}
			}
		}
	case sdk.SignalLogs:
		m := &collogs.ExportLogsServiceRequest{}
		unmarshal(t, req, m)
		for _, r := range m.ResourceLogs {
			add("resource", r.GetResource().GetAttributes())
			for _, s := range r.ScopeLogs {
				add("scope "+s.GetScope().GetName(), s.GetScope().GetAttributes())
				for _, l := range s.LogRecords {
					head := "log " + strconv.Quote(l.EventName)
					if l.Body != nil {
						head += " body=" + renderValue(l.Body)
					}
					if l.SeverityNumber != 0 {
						head += fmt.Sprintf(" sev=%d", l.SeverityNumber)
					}
					add(head, l.Attributes)
				}
			}
		}
	default:
		m := &colmetrics.ExportMetricsServiceRequest{}
		unmarshal(t, req, m)
		for _, r := range m.ResourceMetrics {
			add("resource", r.GetResource().GetAttributes())
			for _, s := range r.ScopeMetrics {
				add("scope "+s.GetScope().GetName(), s.GetScope().GetAttributes())
				for _, mt := range s.Metrics {
					for _, p := range mt.GetGauge().GetDataPoints() {
						add("point "+strconv.Quote(mt.Name), p.Attributes)
					}
					for _, p := range mt.GetSum().GetDataPoints() {
						add("point "+strconv.Quote(mt.Name), p.Attributes)
					}
					for _, p := range mt.GetHistogram().GetDataPoints() {
						add("point "+strconv.Quote(mt.Name), p.Attributes)
					}
					for _, p := range mt.GetExponentialHistogram().GetDataPoints() {
						add("point "+strconv.Quote(mt.Name), p.Attributes)
					}
					for _, p := range mt.GetSummary().GetDataPoints() {
						add("point "+strconv.Quote(mt.Name), p.Attributes)
					}
				}
			}
		}
	}
	return out
}

func unmarshal(t testing.TB, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("the filtered request does not decode: %v", err)
	}
}

func renderAttrs(kvs []*commonpb.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv.Key + "=" + renderValue(kv.Value)
	}
	return strings.Join(parts, ",")
}

// renderValue writes strings bare, bytes in hex, and arrays and maps in
// brackets and braces.
func renderValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return fmt.Sprintf("0x%x", x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, len(x.ArrayValue.Values))
		for i, e := range x.ArrayValue.Values {
			parts[i] = renderValue(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *commonpb.AnyValue_KvlistValue:
		return "{" + renderAttrs(x.KvlistValue.Values) + "}"
	}
	return "empty"
}
