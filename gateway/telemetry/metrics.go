// Package telemetry holds the gateway's own Prometheus metrics and its
// health and readiness model. Every metric named in the contract lives
// here, so there is one place to read what the gateway reports.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "otlpgw"

// Metrics is the set of otlpgw_* metrics. One Metrics outlives config
// generations: a reload swaps pipelines, not counters.
type Metrics struct {
	Registry *prometheus.Registry

	ReceiverAccepted *prometheus.CounterVec // signal, transport
	ReceiverRefused  *prometheus.CounterVec // signal, transport, reason
	ReceiverRequests *prometheus.CounterVec // signal, transport, code

	FilterItems    *prometheus.CounterVec   // filter, signal, outcome
	FilterDuration *prometheus.HistogramVec // filter, signal
	FilterFailures *prometheus.CounterVec   // filter, kind
	FilterDropped  *prometheus.CounterVec   // filter, signal, reason

	QueueSize     *prometheus.GaugeVec // exporter
	QueueCapacity *prometheus.GaugeVec // exporter
	QueueItems    *prometheus.GaugeVec // exporter

	JournalCorruptRecords *prometheus.CounterVec // exporter
	JournalSkippedBytes   *prometheus.CounterVec // exporter
	JournalWriteErrors    *prometheus.CounterVec // exporter, op
	JournalHealthy        *prometheus.GaugeVec   // exporter
	JournalBacklog        *prometheus.GaugeVec   // exporter

	ExporterSent        *prometheus.CounterVec   // exporter, signal
	ExporterFailed      *prometheus.CounterVec   // exporter, signal, reason
	ExporterRejected    *prometheus.CounterVec   // exporter, signal (upstream partial_success)
	ExporterRetries     *prometheus.CounterVec   // exporter
	ExporterPossibleDup *prometheus.CounterVec   // exporter, reason
	ExporterDuration    *prometheus.HistogramVec // exporter
	ExporterConcurrency *prometheus.GaugeVec     // exporter
	ExporterMalformed   *prometheus.CounterVec   // exporter, kind

	ConfigReloads            *prometheus.CounterVec // result
	ConfigLastReloadOK       prometheus.Gauge
	ConfigLastReloadSuccessT prometheus.Gauge
	ConfigGeneration         prometheus.Gauge

	BuildInfo *prometheus.GaugeVec // version, goversion, wazero, abi

	MemoryPressure prometheus.Gauge
	MemoryInUse    prometheus.Gauge
	MemoryLimit    *prometheus.GaugeVec // limit: soft, hard

	Draining       prometheus.Gauge
	ShutdownAtRisk *prometheus.GaugeVec // exporter
}

// NewMetrics registers every otlpgw metric, plus Go runtime and process
// collectors, on a fresh registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{r}
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		Registry: r,

		ReceiverAccepted: f.counter("receiver_accepted_items_total", "Items (spans, data points, log records) accepted and queued for every exporter.", "signal", "transport"),
		ReceiverRefused:  f.counter("receiver_refused_items_total", "Items refused to the client, by reason (invalid, too_large, backpressure, memory, storage, rejected, unauthenticated, internal). Refused items were never accepted.", "signal", "transport", "reason"),
		ReceiverRequests: f.counter("receiver_requests_total", "Export requests answered, by status code (gRPC code name or HTTP status).", "signal", "transport", "code"),

		FilterItems:    f.counter("filter_items_total", "Items seen by each filter, by outcome: dropped (removed by the filter), modified (left in a batch the filter edited), kept (in a batch it left as it was, or passed on after a failure).", "filter", "signal", "outcome"),
		FilterDuration: f.histogram("filter_duration_seconds", "Time one filter took for one batch.", latency, "filter", "signal"),
		FilterDropped:  f.counter("filter_dropped_items_total", "Items each filter dropped, by the reason it gave the client (the partial-success text). At most 64 reasons per filter and signal are told apart; later ones count as \"(other reasons)\". Sums to filter_items_total{outcome=\"dropped\"}.", "filter", "signal", "reason"),
		FilterFailures: f.counter("filter_failures_total", "Filter calls that failed, by kind (trap, timeout, oom, bad_output).", "filter", "kind"),

		QueueSize:     f.gauge("queue_size_bytes", "Encoded bytes waiting in the exporter's queue.", "exporter"),
		QueueCapacity: f.gauge("queue_capacity_bytes", "Capacity of the exporter's queue in encoded bytes.", "exporter"),
		QueueItems:    f.gauge("queue_size_items", "Items waiting in the exporter's queue.", "exporter"),

		JournalCorruptRecords: f.counter("queue_journal_corrupt_records_total", "Persistent queue: damaged or cut-short journal records that recovery skipped (the intact records around them are recovered).", "exporter"),
		JournalSkippedBytes:   f.counter("queue_journal_skipped_bytes_total", "Persistent queue: journal bytes that recovery skipped as belonging to no intact record.", "exporter"),
		JournalWriteErrors:    f.counter("queue_journal_write_errors_total", "Persistent queue: failed journal file operations, by op (write, sync, create, mark). A failed write, sync or create refuses the requests it carried (retryable); a failed mark only means a duplicate after a restart.", "exporter", "op"),
		JournalHealthy:        f.gauge("queue_journal_healthy", "Persistent queue: 1 while the journal writes and syncs, 0 while it fails (a full or failing disk: new data is refused, stored data is still delivered).", "exporter"),
		JournalBacklog:        f.gauge("queue_journal_backlog_bytes", "Persistent queue: bytes earlier runs left on disk that are not yet in the queue (streamed in as the replay window frees up; 0 when the replay is done).", "exporter"),

		ExporterSent:        f.counter("exporter_sent_items_total", "Items the upstream accepted.", "exporter", "signal"),
		ExporterFailed:      f.counter("exporter_failed_items_total", "Items given up on, by reason (permanent, retries_exhausted, shutdown).", "exporter", "signal", "reason"),
		ExporterRejected:    f.counter("exporter_rejected_items_total", "Items the upstream reported as rejected in an OTLP partial_success.", "exporter", "signal"),
		ExporterRetries:     f.counter("exporter_retries_total", "Export attempts retried after a retryable failure.", "exporter"),
		ExporterPossibleDup: f.counter("exporter_possible_duplicate_items_total", "Items sent again after an attempt the upstream may have taken: reason timeout (retried after the attempt timed out), shutdown (kept in the persistent queue for the next run after an attempt timed out or was cancelled in flight).", "exporter", "reason"),
		ExporterDuration:    f.histogram("exporter_request_duration_seconds", "Duration of one export attempt.", latency, "exporter"),
		ExporterConcurrency: f.gauge("exporter_concurrency", "Export requests the exporter may have in flight.", "exporter"),
		ExporterMalformed:   f.counter("exporter_malformed_responses_total", "Upstream answers that were not what OTLP promises, by kind: retry_delay (a RetryInfo or Retry-After that does not decode, is negative, or asks for more than 1m: ignored or clamped to 1m), body (a success whose body is not an Export*ServiceResponse: counted as delivered), content_type (an HTTP answer that is not application/x-protobuf: a success counts as delivered, an error is classified by its status alone).", "exporter", "kind"),

		ConfigReloads:            f.counter("config_reloads_total", "Configuration reloads, by result.", "result"),
		ConfigLastReloadOK:       f.gauge1("config_last_reload_successful", "1 if the last configuration load or reload succeeded."),
		ConfigLastReloadSuccessT: f.gauge1("config_last_reload_success_timestamp_seconds", "Unix time of the last successful configuration load."),
		ConfigGeneration:         f.gauge1("config_generation", "Number of the running configuration generation."),

		BuildInfo: f.gauge("build_info", "Always 1; its labels say which otlpgw (version), Go (goversion) and wazero release the binary was built with, and the filter ABI version it speaks (abi).", "version", "goversion", "wazero", "abi"),

		MemoryPressure: f.gauge1("memory_pressure", "1 while the memory in use is over memory_limit.soft and receivers refuse new data (receiver_refused_items_total{reason=\"memory\"}), else 0."),
		MemoryInUse:    f.gauge1("memory_in_use_bytes", "Memory the Go runtime holds from the OS, less what it released, at the last soft-limit check (every 250ms; not updated without a soft limit)."),
		MemoryLimit:    f.gauge("memory_limit_bytes", "Memory limits in bytes: limit=\"soft\" is memory_limit.soft (refuse new data above it), limit=\"hard\" the Go runtime's limit (GOMEMLIMIT when set, else memory_limit.hard). 0 = none.", "limit"),

		Draining:       f.gauge1("draining", "1 from the moment shutdown stops intake until the process exits; /readyz answers 503 \"draining\" meanwhile."),
		ShutdownAtRisk: f.gauge("shutdown_items_at_risk", "Items in the exporter's in-memory queue (queued or being sent) when the shutdown drain began; when the exporter's drain ends, what it lost at the shutdown_timeout (0 after a clean drain). 0 while running. A persistent queue keeps its items, so it counts none.", "exporter"),
	}
	return m
}

type factory struct{ r *prometheus.Registry }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.r.MustRegister(v)
	return v
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.r.MustRegister(v)
	return v
}

func (f factory) gauge1(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.r.MustRegister(v)
	return v
}
