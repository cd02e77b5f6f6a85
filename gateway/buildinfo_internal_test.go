package gateway

import (
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/otlpgw/otlpgw/wasmhost"
)

// TestBuildInfoFromModuleList: the wazero label comes from the binary's
// module list (a replacement's version wins), the version from the stamp,
// else the main module's version, else "(devel)".
func TestBuildInfoFromModuleList(t *testing.T) {
	wz := &debug.Module{Path: "github.com/tetratelabs/wazero", Version: "v1.12.0"}
	other := &debug.Module{Path: "example.com/x", Version: "v9.9.9"}
	cases := []struct {
		name, stamp     string
		bi              *debug.BuildInfo
		version, wazero string
	}{
		{"stamped", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.1"}, Deps: []*debug.Module{other, wz}}, "v1.2.3", "v1.12.0"},
		{"module version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.1"}, Deps: []*debug.Module{wz}}, "v0.0.1", "v1.12.0"},
		{"replaced", "", &debug.BuildInfo{Deps: []*debug.Module{{Path: wz.Path, Version: "v1.12.0", Replace: &debug.Module{Path: "../wazero", Version: "v1.13.0-fork"}}}}, "(devel)", "v1.13.0-fork"},
		{"no module list", "", nil, "(devel)", "unknown"},
	}
	for _, c := range cases {
		v, _, w, abi := buildInfoFrom(c.stamp, c.bi)
		if want := strconv.Itoa(int(wasmhost.ABIVersion)); v != c.version || w != c.wazero || abi != want {
			t.Errorf("%s: version %q wazero %q abi %q, want %q %q %q", c.name, v, w, abi, c.version, c.wazero, want)
		}
	}
}
