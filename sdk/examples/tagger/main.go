// Command tagger is an example otlpgw filter: it adds the attribute
// team=<config.team> to every span that lacks one and drops spans named
// "healthcheck". See README.md for how to build, load and test it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block from the gateway configuration.
type config struct {
	Team string `json:"team"`
}

var (
	team string

	tagged  = sdk.NewCounter("tagger_spans_tagged_total", "Spans that got a team attribute.")
	dropped = sdk.NewCounter("tagger_healthchecks_dropped_total", "Health-check spans dropped.")
)

// A WASI reactor runs package initialisers but never main: register here.
func init() {
	sdk.Register(sdk.Filter{Init: configure, Traces: tag})
}

func configure(raw []byte) error {
	// json.Unmarshal, not a json.Decoder: a Decoder reads through an
	// io.Reader, which links os.File's Read and with it the WASI fd_read
	// import that the gateway refuses. Unknown keys are still errors.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for k := range keys {
		if k != "team" {
			return fmt.Errorf("config: unknown key %q", k)
		}
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Team == "" {
		return errors.New("config: team is required")
	}
	team = c.Team
	return nil
}

func tag(t *sdk.Traces) {
	for span := range t.Spans() {
		if span.Name() == "healthcheck" {
			span.Drop("healthcheck")
			dropped.Inc()
			continue
		}
		if attrs := span.Attributes(); !attrs.Has("team") {
			attrs.SetStr("team", team)
			tagged.Inc()
		}
	}
}

func main() {}
