package main

import "github.com/otlpgw/otlpgw/sdk"

// The filter reads no attribute: each batch it sends the gateway one bulk
// edit per deleted key (DELETE_KEY), per hashed key (HASH_VALUES) and per
// mask rule (MASK_VALUES), all of which the gateway applies natively, in
// this order, each seeing what the ones before it left. Deleting first
// means a key in delete_keys is gone before anything could hash or mask
// it; the mask rules skip hash_keys (see masks), so a hashed value is the
// hash of what arrived.

// redactor is what the three signals' batches share of the SDK's edits.
type redactor interface {
	DeleteKey(key string, where sdk.Owners, fold bool)
	HashValues(key string, where sdk.Owners, fold bool, salt string)
	MaskValues(m sdk.Mask, where sdk.Owners)
}

func redact(r redactor) {
	for _, k := range cfg.DeleteKeys {
		r.DeleteKey(k, sdk.Everywhere, true)
	}
	for _, k := range cfg.HashKeys {
		r.HashValues(k, sdk.Everywhere, true, cfg.HashSalt)
	}
	for _, m := range cfg.masks {
		r.MaskValues(m, sdk.Everywhere)
	}
}

func redactTraces(t *sdk.Traces)   { redact(t) }
func redactMetrics(m *sdk.Metrics) { redact(m) }
func redactLogs(l *sdk.Logs)       { redact(l) }
