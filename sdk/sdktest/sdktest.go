//go:build !wasip1

// Package sdktest runs an otlpgw filter natively, for unit tests: the same
// SDK code that runs inside the gateway, minus the WebAssembly memory
// boundary, against an in-memory host that records logs, metric updates
// and health reports and whose pressure, health and clock tests set.
//
// A typical test builds a batch, runs the filter registered by the package
// under test, and checks the edits:
//
//	req, index := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{
//		Spans: []sdktest.Span{{Name: "healthcheck"}},
//	}}})
//	edits, _ := sdktest.Run(sdk.SignalTraces, req, index)
//	got := sdktest.Describe(edits) // ["DROP_ITEM item 0 \"health check\""]
//
// The filter is a process-wide singleton, as it is in a module instance, so
// Run and Init serialise their callers; tests that change the host
// (SetPressure, SetNow, SetGatewayHealth) must not run in parallel with
// tests that depend on it.
//
// The gateway module adds the other half: running a built .wasm through the
// real runtime over OTLP JSON fixtures (otlpgw filter test).
package sdktest

import (
	"errors"
	"sync"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/internal/hook"
	"github.com/otlpgw/otlpgw/sdk/internal/host"
)

var mu sync.Mutex // one call at a time, as in an instance

// BulkOnly reports whether the registered filter's last Init declared it
// bulk-only (sdk.BulkOnly): Run then hands it an empty batch, as the
// gateway does, whatever req and index hold.
func BulkOnly() bool {
	mu.Lock()
	defer mu.Unlock()
	return hook.BulkOnly()
}

// Recorded is what a filter asked of the host during one Run or Init.
type Recorded struct {
	Logs    []LogLine
	Metrics []MetricUpdate // flushed at the end of the call, in update order
	Health  []HealthReport
}

// LogLine is one sdk.Log call.
type LogLine struct {
	Level sdk.Level
	Msg   string
}

// MetricUpdate is one metric update sent to the host.
type MetricUpdate struct {
	Name string
	// Record is true for metric_record (a gauge's Set, a histogram's
	// Observe) and false for metric_add (a counter's or gauge's Add).
	Record bool
	Value  float64
}

// HealthReport is one sdk.ReportHealth call.
type HealthReport struct {
	Status sdk.HealthStatus
	Msg    string
}

func take() Recorded {
	r := host.Take()
	var out Recorded
	for _, l := range r.Logs {
		out.Logs = append(out.Logs, LogLine{sdk.Level(l.Level), l.Msg})
	}
	for _, u := range r.Updates {
		out.Metrics = append(out.Metrics, MetricUpdate{u.Name, u.Record, u.Value})
	}
	for _, h := range r.Health {
		out.Health = append(out.Health, HealthReport{sdk.HealthStatus(h.Status), h.Msg})
	}
	return out
}

// Run runs the registered filter over one batch exactly as the module's
// otlpgw_process_* export does: req is an encoded Export*ServiceRequest of
// signal sig and index its ABI index (Batch and Index build both). It
// returns the encoded edit list (nil for none; decode it with DecodeEdits or
// Describe) and what the filter asked of the host during the call. Anything
// recorded before the call (by package init, say) is discarded.
func Run(sig sdk.Signal, req, index []byte) (edits []byte, rec Recorded) {
	mu.Lock()
	defer mu.Unlock()
	return run(sig, req, index)
}

// RunFilter is Run with f in place of the registered filter, for tests
// that try several filters in one package.
func RunFilter(f sdk.Filter, sig sdk.Signal, req, index []byte) (edits []byte, rec Recorded) {
	mu.Lock()
	defer mu.Unlock()
	prev := hook.Swap(f)
	defer hook.Swap(prev)
	return run(sig, req, index)
}

func run(sig sdk.Signal, req, index []byte) ([]byte, Recorded) {
	host.Take()
	if hook.BulkOnly() {
		// As the gateway does: a bulk-only filter gets an empty batch.
		req = nil
		var err error
		if index, err = Index(sig, nil); err != nil {
			panic("sdktest: indexing an empty batch: " + err.Error())
		}
	}
	out := hook.Process(uint8(sig), req, index)
	return append([]byte(nil), out...), take()
}

// Init calls the registered filter's Init with config as otlpgw_init does
// ("{}" when config is empty, as the gateway passes). The error is the one
// the filter returned (or that no filter is registered); the module would
// log it and refuse to load.
func Init(config []byte) (Recorded, error) {
	mu.Lock()
	defer mu.Unlock()
	return initFilter(config)
}

// InitFilter is Init with f in place of the registered filter.
func InitFilter(f sdk.Filter, config []byte) (Recorded, error) {
	mu.Lock()
	defer mu.Unlock()
	prev := hook.Swap(f)
	defer hook.Swap(prev)
	return initFilter(config)
}

func initFilter(config []byte) (Recorded, error) {
	host.Take()
	if len(config) == 0 {
		config = []byte("{}")
	}
	status := hook.Init(append([]byte(nil), config...))
	rec := take()
	if status != 0 {
		msg := "init failed"
		for _, l := range rec.Logs {
			if l.Level == sdk.LevelError {
				msg = l.Msg
			}
		}
		return rec, errors.New(msg)
	}
	return rec, nil
}

// SetPressure sets what sdk.Pressure returns, 0..1 (default 0).
func SetPressure(p float64) { host.SetPressure(p) }

// SetGatewayHealth sets what sdk.GatewayHealth returns (default healthy).
func SetGatewayHealth(s sdk.GatewayStatus) { host.SetGatewayHealth(int32(s)) }

// SetNow fixes what sdk.Now returns, Unix nanoseconds; 0 (the default)
// is the real clock.
func SetNow(ns int64) { host.SetNow(ns) }
