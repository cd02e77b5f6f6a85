package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// loadFilters loads cfg's filter chain in order. On error, what was
// loaded is closed again.
// loadFilters builds cfg's filter chain in order, taking from prev every
// filter whose entry and module bytes are unchanged: a reload then costs
// nothing for filters it does not touch (loading a module decodes and
// validates all of it, even from the compilation cache). It returns the
// chain and the filters it loaded anew; on error, those are closed again.
func loadFilters(ctx context.Context, rt *wasmhost.Runtime, cfg []config.Filter, builtins map[string][]byte, prev []*chainFilter, host wasmhost.HostEnv, m *telemetry.Metrics) (chain, loaded []*chainFilter, err error) {
	for i, fc := range cfg {
		sum := moduleSum(fc.Module, builtins)
		if f := reusableFilter(prev, fc, sum); f != nil {
			chain = append(chain, f)
			continue
		}
		lc, err := loadConfig(fc)
		if err != nil {
			closeFilters(loaded)
			return nil, nil, &filterError{fmt.Errorf("filters[%d]: %w", i, err)}
		}
		f, err := rt.Load(ctx, lc, host)
		if err != nil {
			closeFilters(loaded)
			return nil, nil, &filterError{fmt.Errorf("filters[%d]: %w", i, err)}
		}
		cf := newChainFilter(f, m)
		cf.spec, cf.moduleSum = fc, sum
		chain = append(chain, cf)
		loaded = append(loaded, cf)
	}
	return chain, loaded, nil
}

// filterError marks a filter that would not load: a problem with the
// configuration (module, ABI, init config), not with starting it.
type filterError struct{ err error }

func (e *filterError) Error() string { return e.err.Error() }
func (e *filterError) Unwrap() error { return e.err }

func reusableFilter(prev []*chainFilter, fc config.Filter, sum [32]byte) *chainFilter {
	for _, f := range prev {
		if f.spec.Name == fc.Name && f.moduleSum == sum && reflect.DeepEqual(f.spec, fc) {
			return f
		}
	}
	return nil
}

// moduleSum identifies a module's bytes, so that a .wasm rebuilt in place
// is loaded again. A file that cannot be read gets a zero sum; loading it
// then fails with the real error.
func moduleSum(module string, builtins map[string][]byte) [32]byte {
	if name, ok := strings.CutPrefix(module, "builtin:"); ok {
		return sha256.Sum256(builtins[name])
	}
	b, err := os.ReadFile(module)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

func closeFilters(fs []*chainFilter) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range fs {
		_ = f.f.Close(ctx)
	}
}

func loadConfig(fc config.Filter) (wasmhost.LoadConfig, error) {
	lc := wasmhost.LoadConfig{
		Name:        fc.Name,
		Module:      fc.Module,
		Timeout:     fc.Timeout,
		MemoryLimit: int64(fc.MemoryLimit),
		OnError:     fc.OnError,
	}
	for _, s := range fc.Signals {
		sig, err := otlpwire.ParseSignal(s)
		if err != nil {
			return lc, err
		}
		lc.Signals = append(lc.Signals, sig)
	}
	cfgJSON := []byte("{}")
	if len(fc.Config) > 0 {
		b, err := json.Marshal(fc.Config)
		if err != nil {
			return lc, fmt.Errorf("config: %w", err)
		}
		cfgJSON = b
	}
	lc.Config = cfgJSON
	return lc, nil
}

// chainFilter adapts a loaded WASM filter to the pipeline: it counts what
// the filter did and applies its on_error policy to failed calls.
type chainFilter struct {
	f        *wasmhost.Filter
	name     string
	sigs     [otlpwire.NumSignals]filterSignalMetrics
	failures map[string]prometheus.Counter // by kind; read-only after construction
	// calls and failuresN are this filter instance's own counts, for the
	// reload probation (the Prometheus counters outlive generations).
	calls, failuresN atomic.Int64
	// spec and moduleSum are what it was loaded from, to reuse it across
	// reloads that leave it unchanged.
	spec      config.Filter
	moduleSum [32]byte
}

type filterSignalMetrics struct {
	kept, dropped, modified prometheus.Counter
	duration                prometheus.Observer
	reasons                 *reasonCounters
}

// drop counts n items dropped for reason, in filter_items_total and
// filter_dropped_items_total.
func dropCount[T string | []byte](m *filterSignalMetrics, reason T, n int) {
	m.dropped.Add(float64(n))
	r := m.reasons
	r.mu.RLock()
	c := r.byReason[string(reason)] // no copy made for the lookup
	r.mu.RUnlock()
	if c == nil {
		c = r.create(string(reason))
	}
	c.Add(float64(n))
}

// Reasons filter_dropped_items_total uses for drops a filter gave no
// reason for.
const (
	reasonOnErrorDrop = "(failed, on_error: drop)"
	reasonReplaced    = "(batch replaced)"
)

// maxDropReasons bounds filter_dropped_items_total's reasons per filter and
// signal: they come from the module, which could make every one unique.
const maxDropReasons = 64

// reasonCounters are one filter's filter_dropped_items_total children for
// one signal, made on first use.
type reasonCounters struct {
	vec            *prometheus.CounterVec
	filter, signal string
	mu             sync.RWMutex
	byReason       map[string]prometheus.Counter
}

func (r *reasonCounters) create(reason string) prometheus.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.byReason[reason]; c != nil {
		return c
	}
	if len(r.byReason) >= maxDropReasons {
		reason = wasmhost.OtherReasons
		if c := r.byReason[reason]; c != nil {
			return c
		}
	}
	c := r.vec.WithLabelValues(r.filter, r.signal, reason)
	r.byReason[reason] = c
	return c
}

func newChainFilter(f *wasmhost.Filter, m *telemetry.Metrics) *chainFilter {
	c := &chainFilter{f: f, name: f.Name(), failures: map[string]prometheus.Counter{}}
	for _, sig := range otlpwire.Signals {
		s := sig.String()
		c.sigs[sig] = filterSignalMetrics{
			kept:     m.FilterItems.WithLabelValues(c.name, s, "kept"),
			dropped:  m.FilterItems.WithLabelValues(c.name, s, "dropped"),
			modified: m.FilterItems.WithLabelValues(c.name, s, "modified"),
			duration: m.FilterDuration.WithLabelValues(c.name, s),
			reasons:  &reasonCounters{vec: m.FilterDropped, filter: c.name, signal: s, byReason: map[string]prometheus.Counter{}},
		}
	}
	for _, k := range []string{wasmhost.KindTrap, wasmhost.KindTimeout, wasmhost.KindOOM, wasmhost.KindBadOutput} {
		c.failures[k] = m.FilterFailures.WithLabelValues(c.name, k)
	}
	return c
}

func (c *chainFilter) Name() string { return c.name }

// Process runs the filter and turns its verdict into the pipeline's terms.
//
// filter_items_total outcomes: dropped counts items the filter removed;
// modified counts the remaining items of a batch the filter changed in any
// way; kept counts items of batches it left as they were (and of batches
// passed on after a failure under on_error: pass).
func (c *chainFilter) Process(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index) (pipeline.FilterResult, error) {
	if !c.f.Handles(sig) || ix.Items == 0 {
		return pipeline.FilterResult{}, nil
	}
	m := &c.sigs[sig]
	start := time.Now()
	c.calls.Add(1)
	res, err := c.f.Process(ctx, sig, req, ix)
	m.duration.Observe(time.Since(start).Seconds())
	items := ix.Items
	if err != nil {
		return c.failed(sig, items, err)
	}
	if res.Reject != "" {
		dropCount(m, res.Reject, items)
		return pipeline.FilterResult{}, gwerr.New(gwerr.Rejected, "filter[%s] rejected the batch: %s", c.name, res.Reject)
	}
	if res.Req == nil {
		m.kept.Add(float64(items))
		return pipeline.FilterResult{}, nil
	}
	m.countDrops(res)
	m.modified.Add(float64(items - res.Dropped))
	return pipeline.FilterResult{Req: res.Req, Dropped: res.Dropped, Reason: res.Reason}, nil
}

// countDrops counts what a successful call dropped, by reason.
func (m *filterSignalMetrics) countDrops(res wasmhost.Result) {
	rest := res.Dropped
	for _, d := range res.Drops {
		dropCount(m, d.Reason, d.Items)
		rest -= d.Items
	}
	if rest > 0 { // a REPLACE holds fewer items
		dropCount(m, reasonReplaced, rest)
	}
}

// failed applies on_error to a batch whose call failed.
func (c *chainFilter) failed(sig otlpwire.Signal, items int, err error) (pipeline.FilterResult, error) {
	var fe *wasmhost.FailureError
	if !errors.As(err, &fe) {
		// The client went away, or the filter was closed under a reload:
		// not the module's fault and not counted as one. Nothing was
		// accepted, so the client may retry.
		return pipeline.FilterResult{}, &gwerr.Error{Kind: gwerr.Backpressure, Msg: "filter[" + c.name + "] could not run", RetryAfter: time.Second, Err: err}
	}
	c.failuresN.Add(1)
	if ctr, ok := c.failures[fe.Kind]; ok {
		ctr.Inc()
	}
	m := &c.sigs[sig]
	switch fe.OnError {
	case wasmhost.OnErrorDrop:
		dropCount(m, reasonOnErrorDrop, items)
		return pipeline.FilterResult{Req: []byte{}, Dropped: items, Reason: fmt.Sprintf("failed (%s), batch dropped per on_error: drop", fe.Kind)}, nil
	case wasmhost.OnErrorReject:
		return pipeline.FilterResult{}, gwerr.New(gwerr.Rejected, "filter[%s] failed (%s); on_error: reject", c.name, fe.Kind)
	default:
		m.kept.Add(float64(items))
		return pipeline.FilterResult{}, nil
	}
}

// hostEnv is what filters see of the gateway through the host API.
type hostEnv struct {
	g *Gateway

	mu      sync.Mutex
	metrics map[string]moduleMetric
	reports map[string]filterReport
}

type moduleMetric struct {
	kind wasmhost.MetricKind
	vec  prometheus.Collector
}

type filterReport struct {
	Status  string    `json:"status"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

func newHostEnv(g *Gateway) *hostEnv {
	return &hostEnv{g: g, metrics: map[string]moduleMetric{}, reports: map[string]filterReport{}}
}

func (h *hostEnv) Pressure() float64 {
	if gen := h.g.cur.Load(); gen != nil {
		return gen.pipe.Pressure()
	}
	return 0
}

func (h *hostEnv) Health() int {
	switch gen := h.g.cur.Load(); {
	case gen != nil && gen.pipe.Draining():
		return wasmhost.GatewayDraining
	case h.g.mem.Over() || h.Pressure() > 0.8:
		return wasmhost.GatewayDegraded
	}
	return wasmhost.GatewayHealthy
}

// DefineMetric registers otlpgw_module_<name>{filter}. Two filters may
// define the same name with the same kind: they share the metric family
// and differ by label.
func (h *hostEnv) DefineMetric(filter string, kind wasmhost.MetricKind, name, help string) (wasmhost.MetricHandle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	mm, ok := h.metrics[name]
	if ok && mm.kind != kind {
		return nil, fmt.Errorf("metric otlpgw_module_%s is already a %s", name, mm.kind)
	}
	if !ok {
		if help == "" {
			help = "Defined by a filter through the host API."
		}
		opts := prometheus.Opts{Namespace: "otlpgw", Subsystem: "module", Name: name, Help: help}
		switch kind {
		case wasmhost.MetricCounter:
			mm.vec = prometheus.NewCounterVec(prometheus.CounterOpts(opts), []string{"filter"})
		case wasmhost.MetricGauge:
			mm.vec = prometheus.NewGaugeVec(prometheus.GaugeOpts(opts), []string{"filter"})
		default:
			mm.vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "otlpgw", Subsystem: "module", Name: name, Help: help}, []string{"filter"})
		}
		if err := h.g.metrics.Registry.Register(mm.vec); err != nil {
			return nil, fmt.Errorf("registering otlpgw_module_%s: %w", name, err)
		}
		mm.kind = kind
		h.metrics[name] = mm
	}
	switch v := mm.vec.(type) {
	case *prometheus.CounterVec:
		return counterHandle{v.WithLabelValues(filter)}, nil
	case *prometheus.GaugeVec:
		return gaugeHandle{v.WithLabelValues(filter)}, nil
	default:
		return histogramHandle{mm.vec.(*prometheus.HistogramVec).WithLabelValues(filter)}, nil
	}
}

func (h *hostEnv) Report(filter string, status int, msg string) {
	s := "healthy"
	switch status {
	case wasmhost.StatusDegraded:
		s = "degraded"
	case wasmhost.StatusUnhealthy:
		s = "unhealthy"
	}
	h.mu.Lock()
	h.reports[filter] = filterReport{Status: s, Message: msg, At: time.Now()}
	h.mu.Unlock()
}

func (h *hostEnv) report(filter string) (filterReport, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.reports[filter]
	return r, ok
}

type counterHandle struct{ c prometheus.Counter }

func (h counterHandle) Add(v float64)  { h.c.Add(v) }
func (h counterHandle) Record(float64) {}

type gaugeHandle struct{ g prometheus.Gauge }

func (h gaugeHandle) Add(v float64)    { h.g.Add(v) }
func (h gaugeHandle) Record(v float64) { h.g.Set(v) }

type histogramHandle struct{ o prometheus.Observer }

func (h histogramHandle) Add(float64)      {}
func (h histogramHandle) Record(v float64) { h.o.Observe(v) }

// CheckFilters loads every filter of cfg (compile, ABI and export checks,
// one instance with its config) and closes it again, reporting every
// failure with its key path. It is what `otlpgw validate` adds to config
// validation, and the same code that builds the running chain.
func CheckFilters(ctx context.Context, cfg *config.Config, builtins map[string][]byte, cacheDir string) error {
	if len(cfg.Filters) == 0 {
		return nil
	}
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.RuntimeConfig{CacheDir: cacheDir, Builtins: builtins})
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	defer rt.Close(ctx)
	var errs []error
	for i, fc := range cfg.Filters {
		lc, err := loadConfig(fc)
		if err == nil {
			lc.Instances = 1
			var f *wasmhost.Filter
			if f, err = rt.Load(ctx, lc, nil); err == nil {
				_ = f.Close(ctx)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("filters[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
