// Package wasmhost runs otlpgw filters: WebAssembly modules that speak the
// filter ABI (sdk/ABI.md) and decide, batch by batch, what happens to the
// telemetry passing through the gateway.
//
// It is for the gateway's pipeline and for the `otlpgw filter test` and
// `otlpgw validate` commands. The surface is small: a Runtime (one per
// process: it owns the compilation cache), Load to compile, check and start
// a filter, and Filter.Process to run one batch through it. Everything that
// touches wazero directly lives here and in internal/.
//
// Guarantees, whatever a module does:
//   - a module is compiled and checked at Load (imports, exports, ABI
//     version, its init accepting its config), never on the data path;
//   - a call is bounded by the filter's timeout (the guest is stopped, even
//     in a tight loop: Load instruments its code with a fuel counter that
//     calls the host regularly) and each instance by its memory limit;
//   - every pointer and length the guest hands the host is bounds-checked;
//     a bad one fails that call, never the host;
//   - an instance that fails in any way is thrown away and replaced in the
//     background, and a module that keeps failing is backed off and
//     reported unhealthy.
package wasmhost
