package wasmhost

// HostEnv is what a filter may learn from and tell the gateway. The gateway
// implements it; Load takes one per filter (nil gives a quiet default:
// no pressure, healthy, metrics discarded).
//
// Its methods are called from the guest's calls, on the data path: they
// must be cheap and must not block.
type HostEnv interface {
	// Pressure is how full the fullest exporter queue is, 0..1.
	Pressure() float64
	// Health is the gateway's state: GatewayHealthy, GatewayDegraded or
	// GatewayDraining.
	Health() int
	// DefineMetric registers otlpgw_module_<name>{filter="<filter>"} of the
	// given kind, or returns the one already registered under that name and
	// kind (a reload defines the same metrics again). name has been checked
	// against [a-z_][a-z0-9_]*, at most 64 bytes. An error makes the guest's
	// metric_define return -1.
	DefineMetric(filter string, kind MetricKind, name, help string) (MetricHandle, error)
	// Report records the guest's own view of its health (health_report),
	// for /readyz. status is StatusHealthy, StatusDegraded or
	// StatusUnhealthy.
	Report(filter string, status int, msg string)
}

// MetricKind is the kind of a module-defined metric; the values are the
// ABI's.
type MetricKind int

// Metric kinds.
const (
	MetricCounter   MetricKind = 0
	MetricGauge     MetricKind = 1
	MetricHistogram MetricKind = 2
)

// String returns counter, gauge or histogram.
func (k MetricKind) String() string {
	switch k {
	case MetricCounter:
		return "counter"
	case MetricGauge:
		return "gauge"
	case MetricHistogram:
		return "histogram"
	}
	return "unknown"
}

// MetricHandle updates one module-defined metric. It is called
// concurrently (from every instance of the filter). The host checks the
// guest's call before passing it on, so an implementation sees only:
// counters: Add with a finite v >= 0; gauges: Add (finite, any sign) and
// Record (set); histograms: Record (observe, finite).
type MetricHandle interface {
	Add(v float64)
	Record(v float64)
}

// Health statuses of a filter (Filter.Health, HostEnv.Report), as in the
// ABI's health_report.
const (
	StatusHealthy   = 0
	StatusDegraded  = 1
	StatusUnhealthy = 2
)

// Gateway states (HostEnv.Health), as in the ABI's gateway_health.
const (
	GatewayHealthy  = 0
	GatewayDegraded = 1 // memory over the soft limit or a queue over 80 %
	GatewayDraining = 2
)

type nopHost struct{}

func (nopHost) Pressure() float64 { return 0 }
func (nopHost) Health() int       { return GatewayHealthy }
func (nopHost) DefineMetric(string, MetricKind, string, string) (MetricHandle, error) {
	return nopMetric{}, nil
}
func (nopHost) Report(string, int, string) {}

type nopMetric struct{}

func (nopMetric) Add(float64)    {}
func (nopMetric) Record(float64) {}
