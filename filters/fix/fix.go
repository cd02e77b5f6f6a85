package main

import (
	"math"

	"github.com/otlpgw/otlpgw/sdk"
)

// The filter reads no item: each batch it sends the gateway one bulk edit
// per key to normalise (NORMALIZE_KEY), one per default resource
// attribute (SET_DEFAULT) and one to clamp timestamps (CLAMP_FUTURE), which
// the gateway applies natively, in that order. Normalising first means a
// resource that sent Service.Name keeps its value as service.name instead
// of getting the default beside it.

// fixer is what the three signals' batches share of the SDK's edits.
type fixer interface {
	NormalizeKey(key string, where sdk.Owners)
	SetDefault(key string, v sdk.Scalar, where sdk.Owners)
	ClampFuture(limit, now uint64)
}

func fix(f fixer) {
	for _, k := range cfg.LowercaseKeys {
		f.NormalizeKey(k, sdk.Everywhere)
	}
	for _, d := range cfg.ResourceDefaults {
		f.SetDefault(d.key, d.value, sdk.OnResources)
	}
	if cfg.MaxFuture == 0 {
		return
	}
	n := sdk.Now() // one host call per batch
	if n < 0 {
		n = 0
	}
	now := uint64(n)
	limit := now + uint64(cfg.MaxFuture)
	if limit < now {
		limit = math.MaxUint64
	}
	f.ClampFuture(limit, now)
}

func fixTraces(t *sdk.Traces)   { fix(t) }
func fixMetrics(m *sdk.Metrics) { fix(m) }
func fixLogs(l *sdk.Logs)       { fix(l) }
