// Command edgeguard is an example otlpgw filter built from the SDK's
// batch-wide edits only: it drops health-check spans, keeps a consistent
// sample of traces, hashes user e-mail addresses and masks card numbers,
// and never reads a span itself. See README.md.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block.
type config struct {
	// HealthPattern matches the names of spans to drop.
	HealthPattern string `json:"health_pattern"`
	// SamplePercent is the share of traces kept, 0..100.
	SamplePercent float64 `json:"sample_percent"`
	// HashSalt is mixed into the hashes of user.email.
	HashSalt string `json:"hash_salt"`
}

// What Init builds from the config and every batch reuses: the SDK encodes
// rules once, so a batch costs a few copied bytes.
var (
	healthChecks sdk.Conditions
	threshold    uint64
	salt         string
	cards        = sdk.NewMask(sdk.DetectCreditCard, "", "****", nil, false)
)

// A WASI reactor runs package initialisers but never main: register here.
func init() {
	sdk.Register(sdk.Filter{Init: configure, Traces: guardTraces, Logs: guardLogs})
}

func configure(raw []byte) error {
	c := config{HealthPattern: "^(GET|HEAD) /(healthz|readyz|livez)$", SamplePercent: 100}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for k := range keys {
		if k != "health_pattern" && k != "sample_percent" && k != "hash_salt" {
			return fmt.Errorf("config: unknown key %q", k)
		}
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := sdk.CheckPattern(c.HealthPattern); err != nil {
		return fmt.Errorf("config: health_pattern: %w", err)
	}
	if c.SamplePercent < 0 || c.SamplePercent > 100 {
		return fmt.Errorf("config: sample_percent: want 0..100, got %g", c.SamplePercent)
	}
	healthChecks = sdk.Where(sdk.NameMatches(c.HealthPattern))
	threshold = sdk.SampleThreshold(c.SamplePercent)
	salt = c.HashSalt
	// The filter reads no batch: the gateway then passes it none and
	// applies its edits natively, with its neighbours'.
	sdk.BulkOnly()
	return nil
}

func guardTraces(t *sdk.Traces) {
	t.DropWhere(healthChecks, "health check")
	if threshold > 0 {
		t.Sample(threshold, "sampled out")
	}
	t.HashValues("user.email", sdk.Everywhere, true, salt)
	t.MaskValues(cards, sdk.Everywhere)
}

func guardLogs(l *sdk.Logs) {
	if threshold > 0 {
		l.Sample(threshold, "sampled out")
	}
	l.HashValues("user.email", sdk.Everywhere, true, salt)
	l.MaskValues(cards, sdk.Everywhere)
}

func main() {}
