// Command fix is the stock otlpgw filter that repairs common defects
// instead of dropping: it sets default resource attributes where they are
// missing, pulls timestamps from the far future back to the gateway's
// clock, and lower-cases attribute keys senders spell inconsistently. See
// README.md for its config.
//
// Build (the gateway embeds the result as builtin:fix):
//
//	go generate ./filters/fix
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-s -o fix.wasm .

import (
	"math"
	"strconv"
	"strings"

	"github.com/otlpgw/otlpgw/filters/internal/jsoncfg"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block.
type config struct {
	// ResourceDefaults are set on every resource that lacks the key (or
	// has it as an empty string), in this order.
	ResourceDefaults []attr
	// MaxFuture is how far past the gateway's clock a timestamp may lie
	// before it is set to the clock, in nanoseconds; 0 turns clamping off.
	MaxFuture int64
	// LowercaseKeys are attribute keys, lower-case, whose other spellings
	// ("HTTP.Method" for "http.method") are renamed to them.
	LowercaseKeys []string
}

// attr is one default attribute: a string, bool, integer or double.
type attr struct {
	key   string
	value sdk.Scalar
}

const hour = 3600 * 1_000_000_000

func defaultConfig() config {
	return config{
		ResourceDefaults: []attr{{key: "service.name", value: sdk.StrValue("unknown_service")}},
		MaxFuture:        24 * hour,
	}
}

func parseConfig(raw []byte) (config, error) {
	c := defaultConfig()
	d, o, err := jsoncfg.Root(raw)
	if err != nil {
		return c, err
	}
	if ms, ok := o.Members("resource_defaults"); ok {
		c.ResourceDefaults = c.ResourceDefaults[:0:0]
		for _, m := range ms {
			p := "resource_defaults." + m.Key
			a := attr{key: m.Key}
			switch v := m.Value; v.Kind {
			case jsoncfg.String:
				a.value = sdk.StrValue(v.String)
			case jsoncfg.Bool:
				a.value = sdk.BoolValue(v.Bool)
			case jsoncfg.Number:
				if v.Number == math.Trunc(v.Number) && math.Abs(v.Number) < 1<<63 {
					a.value = sdk.IntValue(int64(v.Number))
				} else {
					a.value = sdk.DoubleValue(v.Number)
				}
			default:
				d.Failf(p, "want a string, number or boolean, got "+v.Describe())
				continue
			}
			if m.Key == "" {
				d.Failf("resource_defaults", "an empty key")
				continue
			}
			c.ResourceDefaults = append(c.ResourceDefaults, a)
		}
	}
	o.Duration("max_future", &c.MaxFuture)
	if o.Strings("lowercase_keys", &c.LowercaseKeys) {
		for i, k := range c.LowercaseKeys {
			if k == "" {
				d.Failf("lowercase_keys["+strconv.Itoa(i)+"]", "an empty key")
			}
			c.LowercaseKeys[i] = strings.ToLower(k)
		}
	}
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
			sdk.BulkOnly() // see fix.go
			return nil
		},
		Traces:  fixTraces,
		Metrics: fixMetrics,
		Logs:    fixLogs,
	})
}

func main() {}
