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
	"slices"
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
	// masks are the mask rules, in order, built for MaskValues.
	masks []sdk.Mask
}

// detectors are the builtin detectors by their config name.
var detectors = map[string]sdk.Detector{
	"credit_card":  sdk.DetectCreditCard,
	"email":        sdk.DetectEmail,
	"bearer_token": sdk.DetectBearerToken,
	"jwt":          sdk.DetectJWT,
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
		if slices.Contains(c.DeleteKeys, k) {
			d.Failf("hash_keys", strconv.Quote(k)+" is in delete_keys too")
		}
	}
	rules, _ := o.Objects("mask")
	for _, ro := range rules {
		var name, pattern string
		repl := defaultReplacement
		var keys []string
		hasBuiltin, hasPattern := ro.String("builtin", &name), ro.String("pattern", &pattern)
		ro.String("replacement", &repl)
		ro.Strings("keys", &keys)
		lowerAll(keys)
		det := sdk.DetectPattern
		switch {
		case hasBuiltin && hasPattern:
			ro.Fail("pattern", "set builtin or pattern, not both")
			continue
		case hasBuiltin:
			var ok bool
			if det, ok = detectors[name]; !ok {
				ro.Fail("builtin", "want credit_card, email, bearer_token or jwt, got "+strconv.Quote(name))
				continue
			}
		case hasPattern:
			if err := sdk.CheckPattern(pattern); err != nil {
				ro.Fail("pattern", err.Error())
				continue
			}
		default:
			d.Failf(ro.Path(), "set builtin or pattern")
			continue
		}
		// A hashed value is not masked: the rule covers its keys less
		// hash_keys, or, with no keys, every key but hash_keys.
		except := len(keys) == 0
		if except {
			keys = c.HashKeys
		} else if keys = slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(c.HashKeys, k) }); len(keys) == 0 {
			continue // it covers hashed keys only
		}
		c.masks = append(c.masks, sdk.NewMask(det, pattern, repl, keys, except && len(keys) > 0))
	}
	if err := d.Err(); err != nil {
		return c, err
	}
	if len(c.DeleteKeys) == 0 && len(c.HashKeys) == 0 && len(rules) == 0 {
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
			sdk.BulkOnly() // see redact.go
			return nil
		},
		Traces:  redactTraces,
		Metrics: redactMetrics,
		Logs:    redactLogs,
	})
}

func main() {}
