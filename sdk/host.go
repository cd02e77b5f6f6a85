package sdk

import (
	"strconv"

	"github.com/otlpgw/otlpgw/sdk/internal/host"
)

// Every call into the host costs 40-70 ns, so metric updates are buffered
// and flushed once at the end of each call, and the gateway's pressure and
// health are read once per call.

// Level is a log level.
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Log writes msg to the gateway's log, tagged with the filter's name. The
// host rate-limits it per instance: log what an operator needs to act on,
// not per item (count items with a Counter instead).
//
// There is no Logf: the SDK does not import fmt, because fmt imports os,
// whose initialisation makes the module import WASI file functions (and
// adds about 0.4 MB and 0.7 s of compile time). Build messages with
// strconv, or with fmt.Sprintf if your filter uses fmt anyway.
func Log(level Level, msg string) { host.Log(int32(level), msg) }

// HealthStatus is what a filter reports about itself.
type HealthStatus int32

// Health statuses.
const (
	Healthy   HealthStatus = 0
	Degraded  HealthStatus = 1
	Unhealthy HealthStatus = 2
)

// ReportHealth sets the filter's health, shown with msg under the filter in
// the gateway's /readyz. It calls the host at once.
func ReportHealth(status HealthStatus, msg string) { host.HealthReport(int32(status), msg) }

// GatewayStatus is the gateway's own health.
type GatewayStatus int32

// Gateway statuses.
const (
	GatewayHealthy GatewayStatus = 0
	// GatewayDegraded: memory over the soft limit or an exporter queue
	// over 80 % full.
	GatewayDegraded GatewayStatus = 1
	// GatewayDraining: the gateway is shutting down.
	GatewayDraining GatewayStatus = 2
)

// GatewayHealth is the gateway's health, read from the host once per call.
func GatewayHealth() GatewayStatus {
	b := &cur
	if !b.haveHealth {
		b.health, b.haveHealth = GatewayStatus(host.GatewayHealth()), b.inCall
	}
	return b.health
}

// Pressure is how full the gateway's fullest exporter queue is, from 0
// (empty) to 1 (full), read from the host once per call. Filters may shed
// low-value data as it rises.
func Pressure() float64 {
	b := &cur
	if !b.havePressure {
		b.pressure, b.havePressure = host.Pressure(), b.inCall
	}
	return b.pressure
}

// Now is the host's clock in Unix nanoseconds. Each call is a host call:
// call it once per batch, not per item.
func Now() int64 { return host.Now() }

// metric is a module metric with the updates buffered for this call.
type metric struct {
	name, help string
	kind       int32
	id         int32 // -1 until defined, or when the host refused it
	defined    bool
	dirty      bool
	add        float64   // counter, gauge: sum of Add since the last flush
	set        float64   // gauge: last Set since the last flush
	hasSet     bool      // gauge
	obs        []float64 // histogram: observations since the last flush
}

var (
	allMetrics []*metric // to define
	undefined  int       // allMetrics[undefined:] are not defined yet
	dirty      []*metric // updated since the last flush
)

func newMetric(kind int32, name, help string) *metric {
	if !host.ValidMetricName(name) {
		panic("otlpgw sdk: invalid metric name " + strconv.Quote(name) + ": want [a-z_][a-z0-9_]*, at most 64 bytes")
	}
	m := &metric{name: name, help: help, kind: kind, id: -1}
	allMetrics = append(allMetrics, m)
	if gotInit { // package init runs inside _initialize, before the host is ready for us
		defineMetrics()
	}
	return m
}

// defineMetrics defines every metric created since the last time.
func defineMetrics() {
	for _, m := range allMetrics[undefined:] {
		m.id = host.MetricDefine(m.kind, m.name, m.help)
		m.defined = true
		if m.id < 0 {
			Log(LevelError, "metric "+m.name+" refused by the host (a name reused with another kind, or over 64 metrics); its updates are dropped")
		}
	}
	undefined = len(allMetrics)
}

func (m *metric) touch() {
	if !m.dirty {
		m.dirty = true
		dirty = append(dirty, m)
	}
}

// flushMetrics sends this call's buffered updates: one host call per
// updated counter or gauge, one per histogram observation.
func flushMetrics() {
	if undefined < len(allMetrics) {
		defineMetrics()
	}
	for _, m := range dirty {
		if m.id >= 0 {
			switch {
			case m.kind == host.KindHistogram:
				for _, v := range m.obs {
					host.MetricRecord(m.id, v)
				}
			case m.hasSet:
				host.MetricRecord(m.id, m.set+m.add)
			case m.add != 0:
				host.MetricAdd(m.id, m.add)
			}
		}
		m.dirty, m.add, m.set, m.hasSet, m.obs = false, 0, 0, false, m.obs[:0]
	}
	clear(dirty)
	dirty = dirty[:0]
}

// Counter is a module metric that only goes up, exposed by the gateway as
// otlpgw_module_<name>{filter="NAME"}.
type Counter struct{ m *metric }

// NewCounter defines a counter. Call it once, at package init or in Init,
// and keep the result. name must match [a-z_][a-z0-9_]* and be at most 64
// bytes (it panics otherwise); a module may define at most 64 metrics.
func NewCounter(name, help string) *Counter {
	return &Counter{newMetric(host.KindCounter, name, help)}
}

// Add adds v (ignored unless v > 0) at the end of the call.
func (c *Counter) Add(v float64) {
	if v > 0 {
		c.m.add += v
		c.m.touch()
	}
}

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Gauge is a module metric that goes up and down, exposed as
// otlpgw_module_<name>{filter="NAME"}.
type Gauge struct{ m *metric }

// NewGauge defines a gauge, as NewCounter does.
func NewGauge(name, help string) *Gauge {
	return &Gauge{newMetric(host.KindGauge, name, help)}
}

// Set sets the gauge to v at the end of the call (later Adds in the same
// call add to v).
func (g *Gauge) Set(v float64) {
	g.m.set, g.m.add, g.m.hasSet = v, 0, true
	g.m.touch()
}

// Add adds v (which may be negative) at the end of the call.
func (g *Gauge) Add(v float64) {
	g.m.add += v
	g.m.touch()
}

// Histogram is a module metric of observed values, exposed as
// otlpgw_module_<name>{filter="NAME"} with the host's buckets.
type Histogram struct{ m *metric }

// NewHistogram defines a histogram, as NewCounter does.
func NewHistogram(name, help string) *Histogram {
	return &Histogram{newMetric(host.KindHistogram, name, help)}
}

// Observe records v at the end of the call. Each observation costs one
// host call then: observe per batch, not per item.
func (h *Histogram) Observe(v float64) {
	h.m.obs = append(h.m.obs, v)
	h.m.touch()
}
