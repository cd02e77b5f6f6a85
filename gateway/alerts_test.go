package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/otlpgw/otlpgw/filters"
	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
)

// shippedExprs returns every PromQL expression in the shipped alert rules
// and Grafana dashboard, each with where it comes from.
func shippedExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	b, err := os.ReadFile("../configs/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	b, err = os.ReadFile("../configs/grafana/otlpgw.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			if tg.Expr != "" {
				out["panel "+p.Title+" target "+string(rune('A'+i))] = tg.Expr
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d expressions in the shipped rules and dashboard", len(out))
	}
	return out
}

var (
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// bornLater are series that cannot exist before the event they count,
// with why no alert or panel misses anything by it.
var bornLater = map[string]string{
	// by reason, and reasons are the filter's own texts; the panel
	// graphs rates, and no alert reads it.
	"otlpgw_filter_dropped_items_total": "reason is free text",
}

// TestShippedAlertAndPanelSeriesExistAtStart reads every metric selector
// in configs/prometheus/alerts.yaml and configs/grafana/otlpgw.json and
// checks that a just-started gateway (one filter, one exporter) already
// exposes a series matching it. A counter series born at its first
// increment has no increase, so an alert on increase() misses the first
// event: OtlpgwConfigRolledBack missed the first rollback that way.
func TestShippedAlertAndPanelSeriesExistAtStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte(`
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:0}
    http: {endpoint: 127.0.0.1:0}
admin: {endpoint: 127.0.0.1:0}
filters: [{name: validate, module: builtin:validate}]
exporters: [{name: upstream, type: debug}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{file}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheDir: wasmCache, Builtins: filters.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(gw, 10*time.Second) })

	mfs, err := gw.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// series by exposed name (histograms also as _bucket, _count, _sum).
	series := map[string][]map[string]string{}
	for _, mf := range mfs {
		names := []string{mf.GetName()}
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_count", mf.GetName()+"_sum")
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for _, n := range names {
				series[n] = append(series[n], labels)
			}
		}
	}

	checked := 0
	for where, expr := range shippedExprs(t) {
		for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
			name := sel[1]
			if name == "up" || bornLater[name] != "" {
				continue
			}
			type matcher struct {
				label, op string
				re        *regexp.Regexp
				val       string
			}
			var ms []matcher
			for _, m := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
				if m[1] == "job" || m[1] == "instance" { // added by the scraper
					continue
				}
				mt := matcher{label: m[1], op: m[2], val: m[3]}
				if strings.HasSuffix(mt.op, "~") {
					mt.re = regexp.MustCompile("^(?:" + m[3] + ")$")
				}
				ms = append(ms, mt)
			}
			found := false
			for _, labels := range series[name] {
				ok := true
				for _, m := range ms {
					v := labels[m.label]
					switch m.op {
					case "=":
						ok = ok && v == m.val
					case "!=":
						ok = ok && v != m.val
					case "=~":
						ok = ok && m.re.MatchString(v)
					case "!~":
						ok = ok && !m.re.MatchString(v)
					}
				}
				if ok {
					found = true
					break
				}
			}
			checked++
			if !found {
				t.Errorf("%s: no series %s{%s} at start-up", where, name, sel[2])
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d selectors", checked)
	}
}
