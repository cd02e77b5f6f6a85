package wasmhost

import (
	"context"
	"log/slog"
	"math"

	"github.com/tetratelabs/wazero/api"
)

// maxMetrics is how many metrics one filter may define (ABI §2).
const maxMetrics = 64

// maxMetricName is the longest metric name a filter may define, in bytes.
const maxMetricName = 64

type moduleMetric struct {
	kind MetricKind
	h    MetricHandle
}

// hostEnv is the Filter seen by the otlpgw host module.
type hostEnv Filter

func (e *hostEnv) Log(ctx context.Context, mod api.Module, level int32, msg []byte) {
	f := (*Filter)(e)
	inst := f.lookup(mod)
	if inst == nil {
		return
	}
	var l slog.Level
	switch {
	case level <= 0:
		l = slog.LevelDebug
	case level == 1:
		l = slog.LevelInfo
	case level == 2:
		l = slog.LevelWarn
	default:
		l = slog.LevelError
	}
	inst.emit(ctx, l, msg)
}

func validMetricName(name []byte) bool {
	if len(name) == 0 || len(name) > maxMetricName {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_' || c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (e *hostEnv) MetricDefine(_ api.Module, kind int32, name, help []byte) int32 {
	f := (*Filter)(e)
	if kind < int32(MetricCounter) || kind > int32(MetricHistogram) || !validMetricName(name) {
		return -1
	}
	f.metricMu.Lock()
	defer f.metricMu.Unlock()
	if id, ok := f.metricID[string(name)]; ok {
		if f.metrics[id].Load().kind != MetricKind(kind) {
			return -1
		}
		return id
	}
	id := int32(len(f.metricID))
	if id >= maxMetrics {
		return -1
	}
	h, err := f.host.DefineMetric(f.name, MetricKind(kind), string(name), string(help))
	if err != nil || h == nil {
		f.log.Warn("module metric refused", slog.String("metric", string(name)), slog.Any("error", err))
		return -1
	}
	f.metrics[id].Store(&moduleMetric{kind: MetricKind(kind), h: h})
	f.metricID[string(name)] = id
	return id
}

func (e *hostEnv) metric(id int32) *moduleMetric {
	if id < 0 || id >= maxMetrics {
		return nil
	}
	return e.metrics[id].Load()
}

// MetricAdd passes on what the ABI allows (counter: add a finite v >= 0;
// gauge: add a finite v) and ignores the rest: a guest's bad metric call
// costs it the update, not the batch.
func (e *hostEnv) MetricAdd(_ api.Module, id int32, v float64) {
	m := e.metric(id)
	if m == nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	switch m.kind {
	case MetricCounter:
		if v >= 0 {
			m.h.Add(v)
		}
	case MetricGauge:
		m.h.Add(v)
	}
}

// MetricRecord passes on a gauge set or a histogram observation of a
// finite v and ignores the rest.
func (e *hostEnv) MetricRecord(_ api.Module, id int32, v float64) {
	m := e.metric(id)
	if m == nil || math.IsNaN(v) || math.IsInf(v, 0) || m.kind == MetricCounter {
		return
	}
	m.h.Record(v)
}

// HealthReport records the guest's health and tells the gateway when it
// changes (guests may report on every batch).
func (e *hostEnv) HealthReport(_ api.Module, status int32, msg []byte) {
	f := (*Filter)(e)
	s := int(min(max(status, StatusHealthy), StatusUnhealthy))
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	f.reportMu.Lock()
	if s == f.reportStatus && string(msg) == f.reportMsg {
		f.reportMu.Unlock()
		return
	}
	f.reportStatus, f.reportMsg = s, string(msg)
	f.reportMu.Unlock()
	f.host.Report(f.name, s, string(msg))
}

func (e *hostEnv) Pressure() float64 {
	p := e.host.Pressure()
	if !(p >= 0) { // NaN too
		return 0
	}
	return min(p, 1)
}

func (e *hostEnv) GatewayHealth() int32 { return int32(e.host.Health()) }
