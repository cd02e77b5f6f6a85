// Package filters ships the stock filters inside the otlpgw binary. Each
// folder holds one filter: its source (a Go main package built with the
// guest SDK), its README, tests, an example config and the built .wasm,
// which is committed, embedded here and loaded as "builtin:NAME".
//
// `make filters` rebuilds the .wasm files reproducibly; CI fails when a
// committed one is stale.
package filters

import _ "embed" // the modules below

// Each module is its own []byte variable: the bytes stay in the binary's
// data segment instead of being copied onto the heap at start-up, where
// 11 MB of modules would also raise the garbage collector's target.
var (
	//go:embed drop/drop.wasm
	dropWasm []byte
	//go:embed fix/fix.wasm
	fixWasm []byte
	//go:embed limits/limits.wasm
	limitsWasm []byte
	//go:embed redact/redact.wasm
	redactWasm []byte
	//go:embed validate/validate.wasm
	validateWasm []byte
)

// Builtin maps a stock filter's name (its folder) to its module's bytes.
// Callers must not modify them.
var Builtin = map[string][]byte{
	"drop":     dropWasm,
	"fix":      fixWasm,
	"limits":   limitsWasm,
	"redact":   redactWasm,
	"validate": validateWasm,
}
