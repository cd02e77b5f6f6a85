// Command limits is the stock otlpgw filter that bounds the size of what
// passes: it truncates long string and bytes attribute values and caps the
// number of attributes per span, data point and log record. See README.md
// for its config.
//
// Build (the gateway embeds the result as builtin:limits):
//
//	go generate ./filters/limits
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-s -o limits.wasm .

import (
	"math"

	"github.com/otlpgw/otlpgw/filters/internal/jsoncfg"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block; 0 turns a limit off.
type config struct {
	// MaxValueLength is the most bytes of a string or bytes attribute value
	// on any owner (resource, scope, item); strings are cut at a UTF-8
	// character boundary. Default 4096.
	MaxValueLength int
	// MaxAttributes is the most attributes of one span, data point or log
	// record; the first MaxAttributes are kept. Default 128.
	MaxAttributes int
}

func defaultConfig() config { return config{MaxValueLength: 4096, MaxAttributes: 128} }

func parseConfig(raw []byte) (config, error) {
	c := defaultConfig()
	d, o, err := jsoncfg.Root(raw)
	if err != nil {
		return c, err
	}
	o.Int("max_value_length", &c.MaxValueLength, 0, math.MaxInt32)
	o.Int("max_attributes", &c.MaxAttributes, 0, math.MaxInt32)
	return c, d.Err()
}

var cfg = defaultConfig()

// A WASI reactor runs package initialisers but never main: register here.
func init() {
	sdk.Register(sdk.Filter{
		Init: func(raw []byte) error {
			c, err := parseConfig(raw)
			if err != nil {
				return err
			}
			cfg = c
			sdk.BulkOnly() // every limit is a batch-wide edit: see limit
			return nil
		},
		Traces:  limitTraces,
		Metrics: limitMetrics,
		Logs:    limitLogs,
	})
}

func main() {}
