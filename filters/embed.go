// Package filters ships the stock filters inside the otlpgw binary. Each
// folder holds one filter: its source (a Go main package built with the
// guest SDK), its README, tests, an example config and the built .wasm,
// which is committed, embedded here and loaded as "builtin:NAME".
//
// `make filters` rebuilds the .wasm files reproducibly; CI fails when a
// committed one is stale.
package filters

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed */*.wasm
var modules embed.FS

// Builtin maps a stock filter's name (its folder) to its module's bytes.
var Builtin = func() map[string][]byte {
	out := map[string][]byte{}
	files, _ := fs.Glob(modules, "*/*.wasm")
	for _, f := range files {
		name := path.Dir(f)
		if strings.TrimSuffix(path.Base(f), ".wasm") != name {
			continue // only NAME/NAME.wasm is a stock filter
		}
		b, err := modules.ReadFile(f)
		if err == nil {
			out[name] = b
		}
	}
	return out
}()
