// Package hook lets package sdktest drive package sdk's export path
// natively without sdk exporting it to filter authors. Package sdk fills
// these in at init.
package hook

// Hooks into package sdk; filter is an sdk.Filter, any here because this
// package cannot import sdk.
var (
	// Process runs the current filter over one batch, exactly as the
	// otlpgw_process_* exports do, and returns the edit list (nil for
	// none). The slice is reused by the next call.
	Process func(sig uint8, req, index []byte) []byte
	// Init runs the current filter's Init as otlpgw_init does and returns
	// its status (0 ready).
	Init func(config []byte) int32
	// Swap makes filter (an sdk.Filter, or nil for none) current and
	// returns the previous one, for Swap to restore.
	Swap func(filter any) any
	// BulkOnly reports whether the current filter called sdk.BulkOnly in
	// its Init.
	BulkOnly func() bool
)
