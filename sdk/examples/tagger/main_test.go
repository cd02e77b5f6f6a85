package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

func TestTagger(t *testing.T) {
	if _, err := sdktest.Init([]byte(`{"team": "payments"}`)); err != nil {
		t.Fatal(err)
	}
	req, index := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{
		{Name: "GET /cart"},
		{Name: "healthcheck"},
		{Name: "charge", Attrs: []sdktest.KV{sdktest.Attr("team", "billing")}},
	}}}})
	edits, rec := sdktest.Run(sdk.SignalTraces, req, index)

	got := sdktest.Describe(edits)
	want := []string{
		`SET_ATTR item 0 "team"=string("payments")`,
		`DROP_ITEM item 1 "healthcheck"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantMetrics := []sdktest.MetricUpdate{
		{Name: "tagger_spans_tagged_total", Value: 1}, // in the order of first update
		{Name: "tagger_healthchecks_dropped_total", Value: 1},
	}
	if !reflect.DeepEqual(rec.Metrics, wantMetrics) {
		t.Errorf("metrics %+v, want %+v", rec.Metrics, wantMetrics)
	}
}

func TestTaggerRefusesBadConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:                           "team is required",
		`{"team": "a", "colour": "b"}`: `unknown key "colour"`,
		`[]`:                           "cannot unmarshal array",
	} {
		if _, err := sdktest.Init([]byte(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: error %v, want one containing %q", cfg, err, want)
		}
	}
}
