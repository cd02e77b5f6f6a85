// Command redact is the stock otlpgw filter that removes sensitive data
// from attributes: it deletes listed keys, replaces the values of other
// listed keys by a salted SHA-256, and masks card numbers, e-mail
// addresses, bearer tokens, JWTs or custom patterns inside string values.
// See README.md for its config.
//
// Build (the gateway embeds the result as builtin:redact):
//
//	go generate ./filters/redact
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-s -o redact.wasm .

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/otlpgw/otlpgw/filters/internal/jsoncfg"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block. Keys are compared without
// regard to ASCII case and are kept lower-cased here.
type config struct {
	// DeleteKeys are attribute keys deleted wherever they occur.
	DeleteKeys []string
	// HashKeys are attribute keys whose values are replaced by the hex
	// SHA-256 of HashSalt followed by the value.
	HashKeys []string
	HashSalt string
	// Mask rules run over string values, in order.
	Mask []rule
}

// rule is one mask rule: a builtin detector or a regular expression, the
// text that replaces each match, and the keys it is limited to (none: all).
type rule struct {
	builtin string
	find    detector
	re      *regexp.Regexp
	repl    string
	keys    []string
}

// defaultReplacement replaces each match when a rule names none.
const defaultReplacement = "***"

func parseConfig(raw []byte) (config, error) {
	var c config
	d, o, err := jsoncfg.Root(raw)
	if err != nil {
		return c, err
	}
	o.Strings("delete_keys", &c.DeleteKeys)
	o.Strings("hash_keys", &c.HashKeys)
	o.String("hash_salt", &c.HashSalt)
	lowerAll(c.DeleteKeys)
	lowerAll(c.HashKeys)
	for _, k := range c.HashKeys {
		if inKeys(c.DeleteKeys, k) {
			d.Failf("hash_keys", strconv.Quote(k)+" is in delete_keys too")
		}
	}
	rules, _ := o.Objects("mask")
	for _, ro := range rules {
		r := rule{repl: defaultReplacement}
		var pattern string
		hasBuiltin, hasPattern := ro.String("builtin", &r.builtin), ro.String("pattern", &pattern)
		switch {
		case hasBuiltin && hasPattern:
			ro.Fail("pattern", "set builtin or pattern, not both")
		case hasBuiltin:
			if r.find = builtins[r.builtin]; r.find == nil {
				ro.Fail("builtin", "want credit_card, email, bearer_token or jwt, got "+strconv.Quote(r.builtin))
			}
		case hasPattern:
			if r.re, err = regexp.Compile(pattern); err != nil {
				ro.Fail("pattern", err.Error())
			}
		default:
			d.Failf(ro.Path(), "set builtin or pattern")
		}
		ro.String("replacement", &r.repl)
		ro.Strings("keys", &r.keys)
		lowerAll(r.keys)
		c.Mask = append(c.Mask, r)
	}
	if err := d.Err(); err != nil {
		return c, err
	}
	if len(c.DeleteKeys) == 0 && len(c.HashKeys) == 0 && len(c.Mask) == 0 {
		return c, errors.New("nothing to redact: set delete_keys, hash_keys or mask")
	}
	return c, nil
}

func lowerAll(keys []string) {
	for i, k := range keys {
		b := []byte(k)
		for j, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[j] = c + 'a' - 'A'
			}
		}
		keys[i] = string(b)
	}
}

var cfg config

// A WASI reactor runs package initialisers but never main: register here.
func init() {
	sdk.Register(sdk.Filter{
		Init: func(raw []byte) error {
			c, err := parseConfig(raw)
			if err != nil {
				return err
			}
			cfg = c
			if len(c.HashKeys) == 0 && len(c.Mask) == 0 {
				// Only batch-wide deletes: see deleteKeys.
				sdk.BulkOnly()
			}
			return nil
		},
		Traces:  redactTraces,
		Metrics: redactMetrics,
		Logs:    redactLogs,
	})
}

func main() {}
