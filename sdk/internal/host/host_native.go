//go:build !wasip1

package host

import (
	"sync"
	"time"
)

// LogEntry is one log call.
type LogEntry struct {
	Level int32
	Msg   string
}

// Update is one metric_add (Record false) or metric_record (Record true).
type Update struct {
	Name   string
	Kind   int32
	Record bool
	Value  float64
}

// HealthEntry is one health_report call.
type HealthEntry struct {
	Status int32
	Msg    string
}

// Recording is what the filter asked of the host since the last Take.
type Recording struct {
	Logs    []LogEntry
	Updates []Update
	Health  []HealthEntry
}

type metricDef struct {
	name string
	kind int32
}

// rec stands in for the gateway. A filter instance is single-threaded, but
// native tests may drive it from several goroutines in turn, hence the lock.
var rec struct {
	sync.Mutex
	defs     []metricDef
	got      Recording
	pressure float64
	health   int32
	now      int64 // 0: the real clock
}

// Log records a log call.
func Log(level int32, msg string) {
	rec.Lock()
	rec.got.Logs = append(rec.got.Logs, LogEntry{level, msg})
	rec.Unlock()
}

// MetricDefine behaves as the host does: the same name and kind return the
// same id; an invalid name, a name reused with another kind, or a 65th
// metric return -1.
func MetricDefine(kind int32, name, help string) int32 {
	rec.Lock()
	defer rec.Unlock()
	if !ValidMetricName(name) || kind < KindCounter || kind > KindHistogram {
		return -1
	}
	for i, d := range rec.defs {
		if d.name == name {
			if d.kind != kind {
				return -1
			}
			return int32(i)
		}
	}
	if len(rec.defs) >= MaxMetrics {
		return -1
	}
	rec.defs = append(rec.defs, metricDef{name, kind})
	return int32(len(rec.defs) - 1)
}

func update(id int32, record bool, v float64) {
	rec.Lock()
	defer rec.Unlock()
	if id < 0 || int(id) >= len(rec.defs) {
		return
	}
	d := rec.defs[id]
	rec.got.Updates = append(rec.got.Updates, Update{Name: d.name, Kind: d.kind, Record: record, Value: v})
}

// MetricAdd records a metric_add call.
func MetricAdd(id int32, v float64) { update(id, false, v) }

// MetricRecord records a metric_record call.
func MetricRecord(id int32, v float64) { update(id, true, v) }

// HealthReport records a health_report call.
func HealthReport(status int32, msg string) {
	rec.Lock()
	rec.got.Health = append(rec.got.Health, HealthEntry{status, msg})
	rec.Unlock()
}

// Pressure returns what SetPressure set (0 by default).
func Pressure() float64 {
	rec.Lock()
	defer rec.Unlock()
	return rec.pressure
}

// GatewayHealth returns what SetGatewayHealth set (0 by default).
func GatewayHealth() int32 {
	rec.Lock()
	defer rec.Unlock()
	return rec.health
}

// Now returns what SetNow set, or the real clock when that is 0.
func Now() int64 {
	rec.Lock()
	n := rec.now
	rec.Unlock()
	if n != 0 {
		return n
	}
	return time.Now().UnixNano()
}

// Take returns everything recorded since the last Take and forgets it.
func Take() Recording {
	rec.Lock()
	defer rec.Unlock()
	r := rec.got
	rec.got = Recording{}
	return r
}

// SetPressure sets what Pressure returns.
func SetPressure(p float64) {
	rec.Lock()
	rec.pressure = p
	rec.Unlock()
}

// SetGatewayHealth sets what GatewayHealth returns.
func SetGatewayHealth(h int32) {
	rec.Lock()
	rec.health = h
	rec.Unlock()
}

// SetNow fixes the clock at ns; 0 goes back to the real clock.
func SetNow(ns int64) {
	rec.Lock()
	rec.now = ns
	rec.Unlock()
}

// MetricName returns the name defined under id, or "".
func MetricName(id int32) string {
	rec.Lock()
	defer rec.Unlock()
	if id < 0 || int(id) >= len(rec.defs) {
		return ""
	}
	return rec.defs[id].name
}
