// Command drop is the stock otlpgw filter that drops what is not worth
// keeping: items matching rules (by name, attribute or log body), a
// consistent sample of traces decided on trace-ID bits, and low-value data
// when the gateway's queues fill up. See README.md for its config.
//
// Build (the gateway embeds the result as builtin:drop):
//
//	go generate ./filters/drop
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-s -o drop.wasm .

import (
	"errors"
	"strconv"

	"github.com/otlpgw/otlpgw/filters/internal/jsoncfg"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block.
type config struct {
	// Rules drop the items any of them matches; a rule matches when all of
	// its conditions do.
	Rules []rule
	// SampleThreshold drops a span (or a log record with a trace ID) when
	// the low 56 bits of its trace ID are below it: sample_percent as an
	// OpenTelemetry sampling threshold. 0 keeps everything.
	SampleThreshold uint64
	// Shed is nil when shedding is off.
	Shed *shed
}

// rule is one entry of rules, its conditions encoded for DROP_MATCH.
type rule struct {
	reason string // "dropped by rules[N]"
	when   sdk.Conditions
	body   bool // it has a body condition, so matches log records only
}

// shed is what to drop while the gateway's pressure is above a level.
type shed struct {
	AbovePressure float64
	// MaxSeverity: log records with severity_number 1..MaxSeverity are
	// dropped; 0 drops none.
	MaxSeverity int
	// SampleThreshold is applied to spans on top of the normal sampling.
	SampleThreshold uint64
}

func parseConfig(raw []byte) (config, error) {
	var c config
	d, o, err := jsoncfg.Root(raw)
	if err != nil {
		return c, err
	}
	rules, _ := o.Objects("rules")
	for i, ro := range rules {
		r := rule{reason: "dropped by rules[" + strconv.Itoa(i) + "]"}
		var conds []sdk.Cond
		if p, ok := pattern(ro, "name_regex"); ok {
			conds = append(conds, sdk.NameMatches(p))
		}
		if p, ok := pattern(ro, "body_regex"); ok {
			conds = append(conds, sdk.BodyMatches(p))
			r.body = true
		}
		if ao, ok := ro.Object("attribute"); ok {
			if cond, ok := parseAttr(d, ao); ok {
				conds = append(conds, cond)
			}
		}
		_, hasName := ro.Get("name_regex")
		_, hasBody := ro.Get("body_regex")
		_, hasAttr := ro.Get("attribute")
		if !hasName && !hasBody && !hasAttr {
			d.Failf(ro.Path(), "a rule needs name_regex, body_regex or attribute")
		}
		if len(conds) > 0 { // none only with an error reported
			r.when = sdk.Where(conds...)
		}
		c.Rules = append(c.Rules, r)
	}
	percent := 100.0
	if o.Float("sample_percent", &percent, 0, 100) {
		c.SampleThreshold = sdk.SampleThreshold(percent)
	}
	if so, ok := o.Object("shed"); ok {
		s := &shed{AbovePressure: 0.8, MaxSeverity: int(sdk.SeverityDebug + 3)}
		so.Float("above_pressure", &s.AbovePressure, 0, 1)
		so.Int("max_severity", &s.MaxSeverity, 0, 24)
		p := 100.0
		if so.Float("sample_percent", &p, 0, 100) {
			s.SampleThreshold = sdk.SampleThreshold(p)
		}
		c.Shed = s
	}
	if err := d.Err(); err != nil {
		return c, err
	}
	if len(c.Rules) == 0 && c.SampleThreshold == 0 && c.Shed == nil {
		return c, errors.New("nothing to drop: set rules, sample_percent or shed")
	}
	return c, nil
}

// pattern reads a regular expression the gateway will compile, checking it
// here so that a bad one fails the config, not every batch.
func pattern(o *jsoncfg.Object, key string) (string, bool) {
	var p string
	if !o.String(key, &p) {
		return "", false
	}
	if err := sdk.CheckPattern(p); err != nil {
		o.Fail(key, err.Error())
		return "", false
	}
	return p, true
}

func parseAttr(d *jsoncfg.Decoder, o *jsoncfg.Object) (sdk.Cond, bool) {
	var key string
	if !o.String("key", &key) || key == "" {
		d.Failf(o.Path(), "want a non-empty key")
		return sdk.Cond{}, false
	}
	eq, hasEq := o.Get("equals")
	re, hasRe := pattern(o, "matches")
	switch {
	case hasEq && hasRe:
		o.Fail("matches", "set equals or matches, not both")
	case hasRe:
		return sdk.AttrMatches(key, re), true
	case hasEq:
		switch eq.Kind {
		case jsoncfg.String:
			return sdk.AttrIs(key, eq.String), true
		case jsoncfg.Number:
			return sdk.AttrIsNumber(key, eq.Number), true
		case jsoncfg.Bool:
			return sdk.AttrIsBool(key, eq.Bool), true
		default:
			o.Fail("equals", "want a string, number or boolean, got "+eq.Describe())
		}
	default:
		// Neither, unless matches held a pattern refused above: the key
		// must exist.
		if _, refused := o.Get("matches"); !refused {
			return sdk.HasAttr(key), true
		}
	}
	return sdk.Cond{}, false
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
			sdk.BulkOnly() // see drop.go
			return nil
		},
		Traces:  dropTraces,
		Metrics: dropMetrics,
		Logs:    dropLogs,
	})
}

func main() {}
