// Package sdk is the Go guest SDK for otlpgw filters: WebAssembly modules
// that the gateway calls once per batch of spans, metric data points or log
// records.
//
// A filter registers its callbacks from an init function (a WASI reactor
// never runs main) and builds with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
//
// Each callback gets a read-only, zero-copy view of the batch (the request's
// protobuf bytes plus the host's index of where everything sits) and records
// edits on it: drop an item, set, delete, rename or truncate an attribute,
// set a name, status or timestamp, reject or replace the batch. The host
// applies the edits natively after the callback returns. Views always show
// the batch as it arrived: an edit is not visible through them.
//
// Strings, byte slices and views handed to a callback point into the
// request's memory and are valid only until the callback returns; copy what
// you keep (strings.Clone, bytes.Clone).
//
// Guest code compiled to WebAssembly walks bytes 6-8 times slower than the
// host, so the SDK reads from the index wherever it can and walks an item's
// own bytes only for fields the index lacks, once per item, when asked.
//
// The same code runs natively, against an in-memory host, for unit tests:
// see package sdktest.
package sdk

import (
	"strconv"

	"github.com/otlpgw/otlpgw/sdk/internal/hook"
)

// ABIVersion is the filter ABI version this SDK implements (ABI.md).
const ABIVersion = 1

// signalMask is the otlpgw_signals bitmask of the registered filter:
// bit 0 traces, bit 1 metrics, bit 2 logs.
func signalMask() int32 {
	var m int32
	if registered.Traces != nil {
		m |= 1 << SignalTraces
	}
	if registered.Metrics != nil {
		m |= 1 << SignalMetrics
	}
	if registered.Logs != nil {
		m |= 1 << SignalLogs
	}
	return m
}

// Signal is a kind of telemetry; its values are the ABI's signal numbers.
type Signal uint8

// Signals.
const (
	SignalTraces  Signal = 0
	SignalMetrics Signal = 1
	SignalLogs    Signal = 2
)

// String returns "traces", "metrics" or "logs".
func (s Signal) String() string {
	switch s {
	case SignalTraces:
		return "traces"
	case SignalMetrics:
		return "metrics"
	case SignalLogs:
		return "logs"
	}
	return "signal(" + strconv.Itoa(int(s)) + ")"
}

// Filter is what a module registers: callbacks the gateway calls. Every
// field is optional; a signal whose callback is nil passes through
// unchanged.
type Filter struct {
	// Init is called once per instance, before any batch, with the
	// filter's config from the gateway configuration as JSON ("{}" when it
	// has none). The slice is the filter's to keep. A non-nil error refuses
	// the config: the gateway logs it and fails the load.
	Init func(config []byte) error
	// Traces is called once per batch of spans.
	Traces func(*Traces)
	// Metrics is called once per batch of metric data points.
	Metrics func(*Metrics)
	// Logs is called once per batch of log records.
	Logs func(*Logs)
}

var (
	registered Filter
	isSet      bool
	cur        batch // one instance handles one call at a time
	gotInit    bool
	bulkOnly   bool
)

// Validity is what DropInvalid checks, and the reason each failed check
// gives the client. The checks, in the order they apply to one item:
//
//   - spans: IDs (trace_id present and not all zero), Names (name not
//     empty), IDs (span_id), Timestamps (start and end present, within
//     [MinTime, MaxTime], end not before start);
//   - data points: Names (the metric's name not empty), Timestamps (time
//     present and within the window; start_time, when present, within it
//     and not after time), Histograms (a histogram point with buckets has
//     one more than its bounds, and its count is their sum);
//   - log records: Severity (severity_number in 0..24), Timestamps (time or
//     observed time present, each present one within the window).
type Validity struct {
	IDs, Timestamps, Names, Histograms, Severity bool
	MinTime, MaxTime                             uint64 // Unix ns
	Reasons                                      ValidityReasons
}

// ValidityReasons are DropInvalid's drop reasons, one per failed check.
type ValidityReasons struct {
	TraceID, SpanID, EmptyName, MissingTime, OldTime, FutureTime, StartAfterEnd, BucketCounts, HistogramCount, Severity string
}

// BulkOnly declares, from Init, that with the config it was given the
// filter never reads a batch: its callbacks only make batch-wide edits
// (DeleteKey, DropNamed, DropWhere, MaskValues, Sample and the like), Reject,
// log, and update metrics. The gateway then passes the callbacks an empty
// batch (no resources, no items) instead of copying each batch into the
// module, and applies the edits of consecutive bulk-only filters together
// in one native pass: the filter costs one short call per batch. Declare
// it only when it holds for every batch: anything the callbacks read from
// the batch is empty. It is undone by an Init that returns an error.
func BulkOnly() { bulkOnly = true }

// Register installs f as the module's filter. Call it exactly once, from an
// init function of package main: a WASI reactor runs package initialisers
// but never main. A second call panics, failing the module's load.
func Register(f Filter) {
	if isSet {
		panic("otlpgw sdk: Register called twice")
	}
	registered, isSet = f, true
}

func init() {
	hook.Process = func(sig uint8, req, index []byte) []byte { return process(Signal(sig), req, index) }
	hook.Init = initFilter
	hook.BulkOnly = func() bool { return bulkOnly }
	hook.Swap = func(f any) any {
		var prev any
		if isSet {
			prev = registered
		}
		if f == nil {
			registered, isSet = Filter{}, false
		} else {
			registered, isSet = f.(Filter), true
		}
		return prev
	}
}

// initFilter is otlpgw_init's body. cfg must already be the filter's own copy.
func initFilter(cfg []byte) int32 {
	gotInit, bulkOnly = true, false
	defineMetrics()
	if !isSet {
		Log(LevelError, "the module registered no filter (call sdk.Register from an init function)")
		return 1
	}
	var err error
	if registered.Init != nil {
		err = registered.Init(cfg)
	}
	flushMetrics()
	if err != nil {
		bulkOnly = false
		// The host quotes this line when it fails the load.
		Log(LevelError, err.Error())
		return 1
	}
	return 0
}

// process is the body of every otlpgw_process_* export, minus the memory
// boundary: it returns the encoded edit list, nil for none.
func process(sig Signal, req, index []byte) []byte {
	b := &cur
	b.reset(sig, req, index)
	switch sig {
	case SignalTraces:
		if registered.Traces != nil {
			b.traces.b = b
			registered.Traces(&b.traces)
		}
	case SignalMetrics:
		if registered.Metrics != nil {
			b.metrics.b = b
			registered.Metrics(&b.metrics)
		}
	case SignalLogs:
		if registered.Logs != nil {
			b.logs.b = b
			registered.Logs(&b.logs)
		}
	}
	flushMetrics()
	// Views kept past the call fail loudly instead of reading the next
	// request.
	b.req, b.idx, b.inCall = nil, nil, false
	b.havePressure, b.haveHealth = false, false
	if b.ed.n == 0 {
		return nil
	}
	return b.ed.buf
}
