// Command validate is the stock otlpgw filter that drops invalid spans,
// metric data points and log records, each with a reason the client sees
// in the partial-success message. See README.md for its checks and config.
//
// Build (the gateway embeds the result as builtin:validate):
//
//	go generate ./filters/validate
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-s -o validate.wasm .

import (
	"github.com/otlpgw/otlpgw/filters/internal/jsoncfg"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block.
type config struct {
	// MaxFuture is how far past the gateway's clock a timestamp may lie,
	// in nanoseconds. (Not a time.Duration: package time would make the
	// module import WASI file functions; see jsoncfg.ParseDuration.)
	MaxFuture int64
	// Checks switches groups of checks on and off; all on by default.
	IDs, Timestamps, Names, Histograms, Severity bool
}

func defaultConfig() config {
	return config{MaxFuture: 24 * hour, IDs: true, Timestamps: true, Names: true, Histograms: true, Severity: true}
}

func parseConfig(raw []byte) (config, error) {
	c := defaultConfig()
	d, o, err := jsoncfg.Root(raw)
	if err != nil {
		return c, err
	}
	o.Duration("max_future", &c.MaxFuture)
	if ch, ok := o.Object("checks"); ok {
		ch.Bool("ids", &c.IDs)
		ch.Bool("timestamps", &c.Timestamps)
		ch.Bool("names", &c.Names)
		ch.Bool("histograms", &c.Histograms)
		ch.Bool("severity", &c.Severity)
	}
	return c, d.Err()
}

const hour = 3600 * 1_000_000_000

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
			sdk.BulkOnly() // every check is a batch-wide edit: see validity
			return nil
		},
		Traces:  validateTraces,
		Metrics: validateMetrics,
		Logs:    validateLogs,
	})
}

func main() {}
