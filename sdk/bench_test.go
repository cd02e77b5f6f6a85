package sdk_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// benchBatch is 512 spans with 10 attributes each; every tenth span is a
// health check and every third already has a team.
func benchBatch() (req, idx []byte) {
	spans := make([]sdktest.Span, 512)
	for i := range spans {
		s := &spans[i]
		s.Name, s.StartTime, s.EndTime, s.Kind = "op"+strconv.Itoa(i), 1, 2, sdk.SpanKindServer
		if i%10 == 0 {
			s.Name = "healthcheck"
		}
		for k := range 10 {
			s.Attrs = append(s.Attrs, sdktest.Attr("key."+strconv.Itoa(k), strings.Repeat("v", 20)))
		}
		if i%3 == 0 {
			s.Attrs = append(s.Attrs, sdktest.Attr("team", "x"))
		}
	}
	return sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: spans}}})
}

func benchProcess(b *testing.B, f sdk.Filter) {
	req, idx := benchBatch()
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		sdk.ProcessWith(f, sdk.SignalTraces, req, idx)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/512, "ns/span")
}

// The tagger example's work: a name compare, a key lookup over the
// attributes, an edit for most spans.
func BenchmarkTagger(b *testing.B) {
	benchProcess(b, sdk.Filter{Traces: func(t *sdk.Traces) {
		for s := range t.Spans() {
			if s.Name() == "healthcheck" {
				s.Drop("healthcheck")
				continue
			}
			if a := s.Attributes(); !a.Has("team") {
				a.SetStr("team", "payments")
			}
		}
	}})
}

// Fields outside the index: one walk of each span's top-level fields.
func BenchmarkLazyFields(b *testing.B) {
	benchProcess(b, sdk.Filter{Traces: func(t *sdk.Traces) {
		for s := range t.Spans() {
			if s.EndTime()-s.StartTime() > 1e9 || s.Kind() == sdk.SpanKindClient {
				s.Drop("slow")
			}
		}
	}})
}
