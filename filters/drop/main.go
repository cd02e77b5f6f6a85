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
	"github.com/otlpgw/otlpgw/filters/internal/match"
	"github.com/otlpgw/otlpgw/sdk"
)

// config is the filter's `config:` block.
type config struct {
	// Rules drop the items any of them matches; a rule matches when all of
	// its conditions do.
	Rules []rule
	// SampleThreshold keeps a span (or a log record with a trace ID) when
	// the low 56 bits of its trace ID are at or above it: sample_percent
	// as an OpenTelemetry sampling threshold. 0 keeps everything.
	SampleThreshold uint64
	// Shed is nil when shedding is off.
	Shed *shed
	// exactOnly: every rule is one set of exact item names or exact log
	// bodies, and there is no sampling or shedding, so the gateway can do
	// all the matching and the filter never reads a batch.
	exactOnly bool
}

// rule is one entry of rules: nil conditions are absent.
type rule struct {
	reason string // "dropped by rules[N]"
	name   *match.Matcher
	body   *match.Matcher
	attr   *attrCond
}

// attrCond is a rule's attribute condition: the key exists, its value
// equals a string, number or boolean, or its string value matches.
type attrCond struct {
	key     string
	kind    condKind
	s       string
	f       float64
	b       bool
	matches *match.Matcher
}

type condKind uint8

const (
	condExists condKind = iota
	condString
	condNumber
	condBool
	condMatches
)

// shed is what to drop while the gateway's pressure is above a level.
type shed struct {
	AbovePressure float64
	// MaxSeverity: log records with severity_number 1..MaxSeverity are
	// dropped; 0 drops none.
	MaxSeverity int
	// SampleThreshold is applied to spans on top of the normal sampling.
	SampleThreshold uint64
}

// threshold converts a percentage kept into a rejection threshold over 56
// random bits, as OpenTelemetry's consistent probability sampling does.
func threshold(percent float64) uint64 {
	return uint64((1 - percent/100) * (1 << 56))
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
		r.name = regex(ro, "name_regex")
		r.body = regex(ro, "body_regex")
		if ao, ok := ro.Object("attribute"); ok {
			r.attr = parseAttr(d, ao)
		}
		if r.name == nil && r.body == nil && r.attr == nil {
			d.Failf(ro.Path(), "a rule needs name_regex, body_regex or attribute")
		}
		c.Rules = append(c.Rules, r)
	}
	percent := 100.0
	if o.Float("sample_percent", &percent, 0, 100) {
		c.SampleThreshold = threshold(percent)
	}
	if so, ok := o.Object("shed"); ok {
		s := &shed{AbovePressure: 0.8, MaxSeverity: int(sdk.SeverityDebug + 3)}
		so.Float("above_pressure", &s.AbovePressure, 0, 1)
		so.Int("max_severity", &s.MaxSeverity, 0, 24)
		p := 100.0
		if so.Float("sample_percent", &p, 0, 100) {
			s.SampleThreshold = threshold(p)
		}
		c.Shed = s
	}
	if err := d.Err(); err != nil {
		return c, err
	}
	if len(c.Rules) == 0 && c.SampleThreshold == 0 && c.Shed == nil {
		return c, errors.New("nothing to drop: set rules, sample_percent or shed")
	}
	c.exactOnly = len(c.Rules) > 0 && c.SampleThreshold == 0 && c.Shed == nil
	for _, r := range c.Rules {
		m := r.name
		if m == nil {
			m = r.body
		}
		if r.attr != nil || r.name != nil && r.body != nil {
			c.exactOnly = false
			break
		}
		_, exact := m.Exact()
		c.exactOnly = c.exactOnly && exact
	}
	return c, nil
}

func regex(o *jsoncfg.Object, key string) *match.Matcher {
	var p string
	if !o.String(key, &p) {
		return nil
	}
	m, err := match.Compile(p)
	if err != nil {
		o.Fail(key, err.Error())
		return nil
	}
	return m
}

func parseAttr(d *jsoncfg.Decoder, o *jsoncfg.Object) *attrCond {
	a := &attrCond{}
	if !o.String("key", &a.key) || a.key == "" {
		d.Failf(o.Path(), "want a non-empty key")
	}
	eq, hasEq := o.Get("equals")
	a.matches = regex(o, "matches")
	switch {
	case hasEq && a.matches != nil:
		o.Fail("matches", "set equals or matches, not both")
	case a.matches != nil:
		a.kind = condMatches
	case hasEq:
		switch eq.Kind {
		case jsoncfg.String:
			a.kind, a.s = condString, eq.String
		case jsoncfg.Number:
			a.kind, a.f = condNumber, eq.Number
		case jsoncfg.Bool:
			a.kind, a.b = condBool, eq.Bool
		default:
			o.Fail("equals", "want a string, number or boolean, got "+eq.Describe())
		}
	}
	return a
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
			if c.exactOnly {
				sdk.BulkOnly()
			}
			return nil
		},
		Traces:  dropTraces,
		Metrics: dropMetrics,
		Logs:    dropLogs,
	})
}

func main() {}
