package gateway_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/wasmhost"
)

// TestBuildInfoGauge: otlpgw_build_info is 1 and names the Go, wazero and
// filter ABI versions the binary runs.
func TestBuildInfoGauge(t *testing.T) {
	gw := startGateway(t, "exporters: [{name: d, type: debug}]\n")
	m := scrape(t, gw)
	var found []string
	for series, v := range m {
		if !strings.HasPrefix(series, "otlpgw_build_info{") {
			continue
		}
		found = append(found, series)
		if v != 1 {
			t.Errorf("%s = %v, want 1", series, v)
		}
		for _, want := range []string{
			label("goversion", runtime.Version()),
			label("abi", strconv.Itoa(int(wasmhost.ABIVersion))),
			`wazero="`, // test binaries carry no module list: see TestBuildInfoFromModuleList
			`version="`,
		} {
			if !strings.Contains(series, want) {
				t.Errorf("%s: want %s", series, want)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("otlpgw_build_info series: %v, want exactly one", found)
	}
}
