package gateway

import (
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/otlpgw/otlpgw/wasmhost"
)

// buildInfo is what otlpgw_build_info's labels say: the gateway's version
// (version, as the binary was stamped, else the module version, else
// "(devel)"), the Go release it was built with, the wazero release it
// runs filters on (from the binary's module list; "unknown" when the
// binary has none, as in some test binaries) and the filter ABI version.
func buildInfo(version string) (v, goVersion, wazero, abi string) {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(version, bi)
}

// buildInfoFrom is buildInfo reading bi, which may be nil.
func buildInfoFrom(version string, bi *debug.BuildInfo) (v, goVersion, wazero, abi string) {
	v, wazero = version, "unknown"
	if bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				wazero = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					wazero = d.Replace.Version
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v, runtime.Version(), wazero, strconv.Itoa(int(wasmhost.ABIVersion))
}
