package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

func TestEdgeguardSendsBatchWideEdits(t *testing.T) {
	if _, err := sdktest.Init([]byte(`{"sample_percent": 25, "hash_salt": "pepper"}`)); err != nil {
		t.Fatal(err)
	}
	if !sdktest.BulkOnly() {
		t.Fatal("the filter did not declare itself bulk-only")
	}
	req, index := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "GET /healthz"}}}}})
	edits, _ := sdktest.Run(sdk.SignalTraces, req, index)
	got := sdktest.Describe(edits)
	want := []string{
		`DROP_MATCH name~"^(GET|HEAD) /(healthz|readyz|livez)$" "health check"`,
		`SAMPLE below 0xc0000000000000 "sampled out"`,
		`HASH_VALUES "user.email" on resources,scopes,items ignoring case salt "pepper"`,
		`MASK_VALUES credit_card -> "****" on resources,scopes,items`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEdgeguardRefusesBadConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"health_pattern": "("}`: "health_pattern: ",
		`{"sample_percent": 101}`: "sample_percent: want 0..100",
		`{"colour": "b"}`:         `unknown key "colour"`,
		`[]`:                      "cannot unmarshal array",
	} {
		if _, err := sdktest.Init([]byte(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: error %v, want one containing %q", cfg, err, want)
		}
	}
}
