// Package config defines what operators write in otlpgw's YAML files, its
// defaults, how files are loaded and merged, and how a config is validated.
// It is for the commands (run, validate, diagnose) and the reload machinery;
// components receive the parts they need as plain values.
//
// Loading, in order: every key starts at its default in code (Default); the
// files are read, ${env:NAME} references in their text are expanded, and they
// are parsed and merged in order (maps merge key by key, a later file replaces
// a list whole); the result is decoded strictly over the defaults (unknown keys
// are errors); batch presets and the OTEL_EXPORTER_OTLP_* variables fill in
// what the files left out; and Validate checks the whole. Every problem is
// reported at once, each as "path.to.key: what is wrong (got X, want Y)".
//
// Environment references: ${env:NAME} is replaced by the variable's value and
// ${env:NAME:-default} by the value, or by default when the variable is unset
// or empty. Expansion happens in the raw file text before YAML parsing, so it
// works in keys and values alike, and the value is inserted as written
// (quote the reference if the value may contain YAML syntax such as ": " or
// "#"). Write $$ for a literal dollar sign; any other ${...} is an error, so
// a typo such as ${FOO} cannot slip through as literal text. Whole-line
// comments are left alone; comments after a value are expanded like the
// rest of the line.
//
// A Config is an immutable value once Load returns it: the gateway builds a
// running generation from one Config and never reads fields through locks.
package config

import "time"

//go:generate go run ./internal/gendoc

// Config is the whole gateway configuration, as users write it.
//
// Struct tags: koanf names the key; secret:"true" marks a value that
// config print and /-/config redact (Redact); reload says what a hot
// reload does with a change: "restart" means it needs a restart (a reload
// that changes it is refused, or, for shutdown_timeout and reload.watch,
// the value loaded at start stays in force), "endpoint" means it needs a
// restart unless the receiver's endpoint changes too (a new listener is
// then built); no tag means it changes on reload. A tag holds for every
// key below the field. docs/config.md is generated from these fields,
// their tags and their comments (go generate ./gateway/config, or make
// docs).
type Config struct {
	// Receivers are the OTLP listeners (gRPC on 0.0.0.0:4317, HTTP on 0.0.0.0:4318 by default).
	Receivers Receivers `koanf:"receivers"`
	// Filters is the ordered chain of WASM filters every batch runs through.
	// Default: none (the embedded default file adds the stock validate filter
	// once the WASM host exists).
	Filters []Filter `koanf:"filters"`
	// Batch controls how requests are grouped before export.
	Batch Batch `koanf:"batch"`
	// Queue bounds what waits in front of each exporter.
	Queue Queue `koanf:"queue"`
	// Exporters all receive every batch (fan-out), each through its own queue.
	// Default: when no file names an exporter, one exporter built from the
	// OTEL_EXPORTER_OTLP_* variables if OTEL_EXPORTER_OTLP_ENDPOINT is set,
	// otherwise one debug exporter named "debug".
	Exporters []Exporter `koanf:"exporters"`
	// MemoryLimit makes receivers push back before the process runs out of memory.
	MemoryLimit MemoryLimit `koanf:"memory_limit" reload:"restart"`
	// Admin is the HTTP server for metrics, health, reload and pprof.
	Admin Admin `koanf:"admin" reload:"restart"`
	// ShutdownTimeout bounds draining on SIGINT/SIGTERM: whatever is still
	// queued when it expires is counted as lost and the exit status is 1.
	// The value loaded at start applies. Default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" reload:"restart"`
	// Reload controls hot reload: file watching and the probation that
	// rolls a misbehaving new configuration back.
	Reload Reload `koanf:"reload"`
	// Log configures the gateway's own log on stderr.
	Log Log `koanf:"log"`
	// Runtime tunes the Go runtime under the gateway.
	Runtime Runtime `koanf:"runtime" reload:"restart"`
}

// Runtime tunes the Go runtime. Changing it needs a restart.
type Runtime struct {
	// Procs is adaptive or fixed. adaptive runs on one P (GOMAXPROCS=1)
	// while the gateway uses little CPU and on every core the runtime
	// allows as soon as it needs more (gateway/internal/procs): cheaper per
	// item at low load, no ceiling at high load. fixed leaves GOMAXPROCS to
	// the Go runtime (the GOMAXPROCS variable, or the CPU quota). Setting
	// the GOMAXPROCS variable also turns adapting off. Default adaptive.
	Procs string `koanf:"procs"`
}

// Receivers holds the OTLP receivers.
type Receivers struct {
	// OTLP is the only receiver: OTLP over gRPC and over HTTP.
	OTLP OTLPReceiver `koanf:"otlp"`
}

// OTLPReceiver configures the OTLP/gRPC and OTLP/HTTP listeners. At least
// one of the two must be enabled.
type OTLPReceiver struct {
	GRPC GRPCReceiver `koanf:"grpc"`
	HTTP HTTPReceiver `koanf:"http"`
}

// GRPCReceiver is the OTLP/gRPC listener. An empty Endpoint disables it.
type GRPCReceiver struct {
	// Endpoint is host:port to listen on; port 0 picks a free port. Default 0.0.0.0:4317.
	Endpoint string `koanf:"endpoint"`
	// MaxRecvMsgSize caps one request message, in bytes, after decompression;
	// larger requests get RESOURCE_EXHAUSTED. Default 16MiB.
	MaxRecvMsgSize Size `koanf:"max_recv_msg_size" reload:"endpoint"`
	// TLS serves TLS when a certificate is set. Default: plaintext.
	TLS ServerTLS `koanf:"tls" reload:"endpoint"`
	// Auth, when set, refuses export calls without one of its credentials.
	// Default: none (the grpc.health.v1 service never asks).
	Auth ReceiverAuth `koanf:"auth" reload:"endpoint"`
	// Keepalive is the server side of gRPC keepalive and connection
	// lifetime.
	Keepalive GRPCKeepalive `koanf:"keepalive" reload:"endpoint"`
	// MaxConcurrentStreams caps the calls one client connection may have
	// open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client
	// queues further calls until one finishes. 0 means no limit. Default 0.
	MaxConcurrentStreams int `koanf:"max_concurrent_streams" reload:"endpoint"`
}

// GRPCKeepalive is what the gRPC server does with long-lived client
// connections. The policy of how often clients may ping (every 10s, even
// idle) is fixed and not part of it.
type GRPCKeepalive struct {
	// Time is how long a connection may be silent before the server pings
	// the client to see that it is still there; at least 1s. Default 2h.
	Time time.Duration `koanf:"time"`
	// Timeout is how long the server waits for the answer to that ping
	// before it closes the connection. Default 20s.
	Timeout time.Duration `koanf:"timeout"`
	// MaxConnectionIdle closes a connection that has had no call for this
	// long (with GOAWAY, so the client reconnects when it next needs to).
	// 0 keeps idle connections open. Default 0.
	MaxConnectionIdle time.Duration `koanf:"max_connection_idle"`
	// MaxConnectionAge sends a connection GOAWAY once it is this old
	// (±10 %, so clients do not reconnect in step). SDKs hold one gRPC
	// connection for their whole life, so behind a Kubernetes ClusterIP
	// Service (an L4 balancer) new replicas from a scale-out would get no
	// traffic until clients reconnect; a finite age makes them. The client
	// moves new calls to a fresh connection, nothing is lost. 0 means
	// never. Default 10m.
	MaxConnectionAge time.Duration `koanf:"max_connection_age"`
	// MaxConnectionAgeGrace is how long calls in flight on a connection
	// past MaxConnectionAge may take to finish before it is closed. 0
	// waits for them however long they take. Default 30s.
	MaxConnectionAgeGrace time.Duration `koanf:"max_connection_age_grace"`
}

// HTTPReceiver is the OTLP/HTTP listener. An empty Endpoint disables it.
type HTTPReceiver struct {
	// Endpoint is host:port to listen on; port 0 picks a free port. Default 0.0.0.0:4318.
	Endpoint string `koanf:"endpoint"`
	// MaxRequestBodySize caps a request body, in bytes, before and after
	// decompression; larger bodies get 413. Default 16MiB.
	MaxRequestBodySize Size `koanf:"max_request_body_size" reload:"endpoint"`
	// TLS serves HTTPS when a certificate is set. Default: plaintext.
	TLS ServerTLS `koanf:"tls" reload:"endpoint"`
	// Auth, when set, refuses requests without one of its credentials.
	// Default: none.
	Auth ReceiverAuth `koanf:"auth" reload:"endpoint"`
	// CORS lets web pages on other origins (browser OTLP exporters) send
	// to this receiver. Default: off, no CORS headers at all.
	CORS CORS `koanf:"cors" reload:"endpoint"`
}

// CORS is cross-origin resource sharing for the HTTP receiver. Setting
// AllowedOrigins turns it on: preflight OPTIONS requests from those
// origins are answered, and responses to them carry
// Access-Control-Allow-Origin.
type CORS struct {
	// AllowedOrigins are the origins allowed to send, such as
	// https://app.example.com. One * stands for any run of characters
	// (https://*.example.com), and * alone for every origin. Default: none.
	AllowedOrigins []string `koanf:"allowed_origins"`
	// AllowedHeaders are request headers a page may send besides those
	// always allowed (Accept, Content-Type, Content-Encoding, Origin,
	// X-Requested-With), such as Authorization; * allows any. Default: none.
	AllowedHeaders []string `koanf:"allowed_headers"`
	// MaxAge is how many seconds a browser may cache a preflight's answer
	// (Access-Control-Max-Age); 0 leaves it to the browser. Default 0.
	MaxAge int `koanf:"max_age"`
}

// ServerTLS is a receiver's TLS. Setting CertFile and KeyFile turns it on.
type ServerTLS struct {
	// CertFile and KeyFile are the server's certificate chain and private
	// key, PEM. The receiver rereads them when they change on disk, so a
	// renewed certificate is served without a restart.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ClientCAFile, when set, makes TLS mutual: every client must present
	// a certificate signed by one of these CAs (PEM). Default: none.
	ClientCAFile string `koanf:"client_ca_file"`
	// MinVersion is the oldest TLS version accepted: 1.2 or 1.3. Default 1.2.
	MinVersion string `koanf:"min_version"`
}

// Enabled says whether TLS is configured.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// ReceiverAuth is how a receiver authenticates clients.
type ReceiverAuth struct {
	// BearerTokens are the tokens a request may carry as "Authorization:
	// Bearer TOKEN" (gRPC metadata or HTTP header); several allow rotating
	// one without refusing clients that still send the other. Use
	// ${env:NAME} rather than writing tokens in the file. Empty: no
	// authentication.
	BearerTokens []string `koanf:"bearer_tokens" secret:"true"`
}

// Filter is one entry of the filter chain: one WASM module instance.
type Filter struct {
	// Name identifies the filter in metrics, logs and partial-success
	// messages. Required, unique; letters, digits and . _ - / only.
	Name string `koanf:"name"`
	// Module is builtin:NAME for a filter shipped in the binary, or the path
	// of a .wasm file. Required.
	Module string `koanf:"module"`
	// Signals limits the filter to some of traces, metrics and logs.
	// Default (empty): every signal the module handles.
	Signals []string `koanf:"signals"`
	// OnError says what happens to a batch when the module traps, times out,
	// runs out of memory or returns garbage: pass (forward it unfiltered),
	// drop (discard it, counted) or reject (refuse it to the client). Default pass.
	OnError string `koanf:"on_error"`
	// Timeout bounds one call of the module on one batch. Default 50ms.
	Timeout time.Duration `koanf:"timeout"`
	// MemoryLimit caps the linear memory of each module instance. Default 64MiB.
	MemoryLimit Size `koanf:"memory_limit"`
	// Config is free-form; the module receives it as JSON when it starts.
	// config print and /-/config redact the values of keys that name a
	// secret (password, secret, token, api_key, apikey, authorization,
	// credential, in any case, at any depth). Default: empty.
	Config map[string]any `koanf:"config"`
}

// Batch controls how queued requests are concatenated before export. A
// batch is sent when it reaches MaxItems or MaxBytes, or Timeout after its
// first request arrived, whichever comes first.
type Batch struct {
	// Preset picks a named set of values:
	//   low_latency:     max_items 100,  max_bytes 1MiB, timeout 50ms, queue.max_bytes 32MiB
	//   high_throughput: max_items 8192, max_bytes 8MiB, timeout 1s,   queue.max_bytes 1GiB
	// Keys written beside the preset (and an explicit queue.max_bytes) win.
	// Default: no preset.
	Preset string `koanf:"preset"`
	// MaxItems is the most items (spans, data points or log records) in one
	// exported request. Default 8192.
	MaxItems int `koanf:"max_items"`
	// MaxBytes is the most encoded protobuf bytes in one exported request.
	// Must not exceed queue.max_bytes. Default 4MiB.
	MaxBytes Size `koanf:"max_bytes"`
	// Timeout is how long a batch may wait to fill up. Default 200ms.
	Timeout time.Duration `koanf:"timeout"`
}

// Queue bounds what waits for each exporter.
type Queue struct {
	// MaxBytes is the capacity of each exporter's queue in encoded protobuf
	// bytes. When it is full, receivers answer with backpressure
	// (UNAVAILABLE / 503 with a retry delay). Default 256MiB.
	MaxBytes Size `koanf:"max_bytes"`
	// BlockTimeout is how long a receiver may wait for room before refusing. Default 0 (refuse at once).
	BlockTimeout time.Duration `koanf:"block_timeout"`
	// Persistent is the crash-safe on-disk queue.
	Persistent Persistent `koanf:"persistent"`
}

// Persistent configures the on-disk queue.
type Persistent struct {
	// Directory, when set, makes every exporter's queue crash-safe: each
	// accepted request is written there, and on stable storage, before
	// the client is answered, and what a crash or a stop left undelivered
	// is sent at the next start (gateway/queue journal; at least once),
	// streamed from disk within min(queue.max_bytes/2, 64MiB) of memory
	// while new data is accepted. An
	// absolute path on a local disk, one per gateway. Default: none
	// (in-memory queues). Changing it needs a restart.
	Directory string `koanf:"directory" reload:"restart"`
}

// Exporter sends every batch to one destination.
type Exporter struct {
	// Name identifies the exporter in metrics and logs. Required, unique;
	// letters, digits and . _ - / only.
	Name string `koanf:"name"`
	// Type is otlp (OTLP/gRPC), otlphttp (OTLP/HTTP protobuf), debug (logs
	// what passes) or file (appends OTLP JSON lines to Path). Required.
	Type string `koanf:"type"`
	// Endpoint is where to send. For otlp: host:port, e.g. collector:4317
	// (TLS unless tls.insecure). For otlphttp: a base URL, e.g.
	// https://collector:4318, to which /v1/traces, /v1/metrics and /v1/logs
	// are appended; its scheme decides TLS (host:port alone means https, or
	// http with tls.insecure). Required for otlp and otlphttp, unused by
	// debug and file.
	Endpoint string `koanf:"endpoint"`
	// Compression of request bodies: none, gzip or zstd. Default gzip for
	// otlp and otlphttp, none for the others (which ignore it).
	Compression string `koanf:"compression"`
	// Timeout bounds one export request (one attempt). Default 10s.
	Timeout time.Duration `koanf:"timeout"`
	// Headers are added to every request (gRPC metadata for otlp), e.g. an
	// authorization token from ${env:TOKEN}. Every value is treated as a
	// secret (config print and /-/config show <redacted>): API keys travel
	// under many header names. Default: none.
	Headers map[string]string `koanf:"headers" secret:"true"`
	// TLS configures the client side of TLS for otlp and otlphttp.
	TLS TLS `koanf:"tls"`
	// Retry is the back-off for retryable failures.
	Retry Retry `koanf:"retry"`
	// Concurrency is how many requests may be in flight at once.
	Concurrency Concurrency `koanf:"concurrency"`
	// Keepalive makes otlp and otlphttp notice a connection to the
	// upstream that died without a close or reset (a NAT or load balancer
	// that dropped the flow), close it and retry on a new one.
	Keepalive ExporterKeepalive `koanf:"keepalive"`
	// Verbosity is for the debug exporter: basic (a periodic count per
	// signal) or detailed (prints every item). Default basic.
	Verbosity string `koanf:"verbosity"`
	// Path is for the file exporter: the file OTLP JSON lines are appended to. Required for file.
	Path string `koanf:"path"`
	// WaitForReady makes start-up (and reload) fail when the endpoint cannot
	// be reached, instead of queueing until it can. Default false.
	WaitForReady bool `koanf:"wait_for_ready"`
}

// TLS configures client TLS for an exporter. By default TLS is on and the
// server certificate is verified against the system roots.
type TLS struct {
	// Insecure turns TLS off (plaintext). For otlphttp an http:// endpoint
	// does the same. Default false.
	Insecure bool `koanf:"insecure"`
	// InsecureSkipVerify keeps TLS but accepts any server certificate. Testing only. Default false.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`
	// CAFile is a PEM bundle used instead of the system roots to verify the server.
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and key for mutual
	// TLS; set both or neither.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ServerName overrides the name the server certificate is checked against.
	// Default: the endpoint's host.
	ServerName string `koanf:"server_name"`
}

// ExporterKeepalive is how the exporter checks that a silent connection to
// the upstream is still there: when nothing has come back on it for Time,
// it sends a ping (HTTP/2 PING, for otlp and for otlphttp over HTTP/2) and
// closes the connection if no answer arrives within Timeout; requests
// that were on it are retried on a new connection. For otlp the ping is
// sent only while requests are in flight, so an idle connection sends
// none. HTTP/1.1 has no ping; there a request that times out closes its
// connection, and idle connections are closed after 60s.
type ExporterKeepalive struct {
	// Time is how long a connection may receive nothing before the
	// exporter pings the upstream; at least 10s (gRPC's minimum). Keep it
	// at or above the upstream's ping policy (a gRPC server's keepalive
	// enforcement min_time; otlpgw's own receiver allows 10s): a server
	// pinged more often closes the connection with GOAWAY too_many_pings,
	// and the exporter then doubles Time. Default 30s.
	Time time.Duration `koanf:"time"`
	// Timeout is how long the exporter waits for the answer to that ping
	// before it closes the connection and retries its requests on a new
	// one. Default 10s.
	Timeout time.Duration `koanf:"timeout"`
}

// Retry is exponential back-off with jitter. The wait starts at
// InitialInterval, grows by Multiplier per attempt up to MaxInterval, and is
// randomised by ±Jitter; a server's RetryInfo or Retry-After takes precedence
// when longer, up to 1m (a longer or malformed one is clamped or ignored).
type Retry struct {
	// Enabled turns retrying on. Default true.
	Enabled bool `koanf:"enabled"`
	// InitialInterval is the first wait. Default 100ms.
	InitialInterval time.Duration `koanf:"initial_interval"`
	// MaxInterval caps one wait. Default 30s.
	MaxInterval time.Duration `koanf:"max_interval"`
	// Multiplier grows the wait after each attempt; at least 1. Default 2.
	Multiplier float64 `koanf:"multiplier"`
	// Jitter is the random fraction added to or removed from each wait, in [0, 1]. Default 0.2.
	Jitter float64 `koanf:"jitter"`
	// MaxElapsedTime gives up on a batch (counted as failed) this long after
	// its first attempt; 0 retries until shutdown. Default 5m.
	MaxElapsedTime time.Duration `koanf:"max_elapsed_time"`
}

// Concurrency sets how many requests an exporter has in flight.
type Concurrency struct {
	// Mode is fixed (Max workers, each with at most one request in
	// flight) or adaptive (Max workers, but only as many requests in
	// flight as the destination sustains: more while it answers quickly,
	// half as many when it signals overload; see gateway/exporter
	// limiter). Default fixed.
	Mode string `koanf:"mode"`
	// Max is the most requests in flight; at least 1. Default 16.
	Max int `koanf:"max"`
}

// MemoryLimit is a soft and a hard cap on the process's memory, each a
// percentage of the container (cgroup) memory limit, or of the machine's
// memory when there is none, such as "80%", or a size, such as "2GiB"; empty
// means no limit. Above soft, receivers answer with backpressure; hard
// becomes the Go runtime's memory limit, so the garbage collector works
// harder before the container is killed. Soft must be below hard.
// Default soft 80%, hard 90%.
type MemoryLimit struct {
	// Soft is where receivers start answering with backpressure. Default 80%.
	Soft string `koanf:"soft"`
	// Hard is the Go runtime's memory limit (GOMEMLIMIT). Default 90%.
	Hard string `koanf:"hard"`
}

// Reload configures hot reload. A reload is triggered by a change to any
// --config file (when Watch is on), by SIGHUP, or by POST /-/reload.
type Reload struct {
	// Watch reloads when a config file changes (including a Kubernetes
	// ConfigMap's symlink swap). Default true. Ignored for the embedded
	// default config, which has no file.
	Watch bool `koanf:"watch" reload:"restart"`
	// Probation is how long a new configuration is watched after it is
	// swapped in; 0 disables probation and rollback. Default 30s.
	Probation time.Duration `koanf:"probation"`
	// FailureRatio is the share of one filter's calls that may fail
	// (traps, timeouts, out-of-memory, bad output) within the probation
	// window; above it the new configuration is rolled back, unless the
	// same filter failed as often before the reload. 0 < ratio <= 1.
	// Default 0.5.
	FailureRatio float64 `koanf:"failure_ratio"`
	// MinCalls is how many calls a filter must get within the window
	// before its FailureRatio is judged. Default 10.
	MinCalls int `koanf:"min_calls"`
	// Rollback turns automatic rollback on. Default true; when off, a
	// failing configuration is only reported.
	Rollback bool `koanf:"rollback"`
}

// Admin is the admin HTTP server: /metrics, /healthz, /readyz, /-/reload
// (and every other /-/ endpoint) and /debug/pprof/.
type Admin struct {
	// Endpoint is host:port to listen on. Keep it off public interfaces: it
	// exposes reload and pprof. Default localhost:8888.
	Endpoint string `koanf:"endpoint"`
	// Auth, when set, protects everything but the probes and the scrape.
	Auth AdminAuth `koanf:"auth"`
	// TLS serves the admin endpoints over HTTPS when a certificate is set
	// (probes and scrapers then need https). Default: plaintext.
	TLS ServerTLS `koanf:"tls"`
}

// AdminAuth protects the admin endpoints that change or reveal the
// gateway: /-/reload, every other /-/ path and /debug/pprof/. /healthz,
// /readyz and /metrics stay open for probes and scrapers.
type AdminAuth struct {
	// BearerToken, when set, must come as "Authorization: Bearer TOKEN";
	// a request without it, or with another, gets 401. Use ${env:NAME}
	// rather than writing it in the file. Default: none (open).
	BearerToken string `koanf:"bearer_token" secret:"true"`
}

// Log configures the gateway's own structured log.
type Log struct {
	// Level is debug, info, warn or error. Default info. A reload changes
	// it in place.
	Level string `koanf:"level"`
	// Format is text or json. Default text. Changing it needs a restart.
	Format string `koanf:"format" reload:"restart"`
}

// Default returns the configuration in code: what Load yields for an empty
// file with no OTEL_EXPORTER_OTLP_* variables set. Every key has its default
// here; exporters and filters listed in a file start from their own per-entry
// defaults (see Exporter and Filter).
func Default() Config {
	return Config{
		Receivers: Receivers{OTLP: OTLPReceiver{
			GRPC: GRPCReceiver{
				Endpoint: "0.0.0.0:4317", MaxRecvMsgSize: 16 * MiB, TLS: ServerTLS{MinVersion: "1.2"},
				Keepalive: GRPCKeepalive{
					Time:                  2 * time.Hour,
					Timeout:               20 * time.Second,
					MaxConnectionAge:      10 * time.Minute,
					MaxConnectionAgeGrace: 30 * time.Second,
				},
			},
			HTTP: HTTPReceiver{Endpoint: "0.0.0.0:4318", MaxRequestBodySize: 16 * MiB, TLS: ServerTLS{MinVersion: "1.2"}},
		}},
		Batch:           Batch{MaxItems: 8192, MaxBytes: 4 * MiB, Timeout: 200 * time.Millisecond},
		Queue:           Queue{MaxBytes: 256 * MiB},
		Exporters:       []Exporter{debugExporter()},
		MemoryLimit:     MemoryLimit{Soft: "80%", Hard: "90%"},
		Admin:           Admin{Endpoint: "localhost:8888", TLS: ServerTLS{MinVersion: "1.2"}},
		ShutdownTimeout: 30 * time.Second,
		Reload:          Reload{Watch: true, Probation: 30 * time.Second, FailureRatio: 0.5, MinCalls: 10, Rollback: true},
		Log:             Log{Level: "info", Format: "text"},
		Runtime:         Runtime{Procs: "adaptive"},
	}
}

// DefaultFilter is what every entry of filters starts from before its
// keys are decoded over it.
func DefaultFilter() Filter { return defaultFilter() }

// DefaultExporter is what every entry of exporters starts from before
// its keys are decoded over it (compression, whose default depends on
// the type, aside).
func DefaultExporter() Exporter { return defaultExporter() }

// defaultFilter is what every entry of filters starts from before the file's
// keys are decoded over it.
func defaultFilter() Filter {
	return Filter{OnError: "pass", Timeout: 50 * time.Millisecond, MemoryLimit: 64 * MiB}
}

// defaultExporter is what every entry of exporters starts from before the
// file's keys are decoded over it. Compression stays empty here because its
// default depends on the type (see resolveExporterDefaults).
func defaultExporter() Exporter {
	return Exporter{
		Timeout:   10 * time.Second,
		Keepalive: ExporterKeepalive{Time: 30 * time.Second, Timeout: 10 * time.Second},
		Retry: Retry{
			Enabled:         true,
			InitialInterval: 100 * time.Millisecond,
			MaxInterval:     30 * time.Second,
			Multiplier:      2,
			Jitter:          0.2,
			MaxElapsedTime:  5 * time.Minute,
		},
		Concurrency: Concurrency{Mode: "fixed", Max: 16},
		Verbosity:   "basic",
	}
}

func debugExporter() Exporter {
	e := defaultExporter()
	e.Name, e.Type = "debug", "debug"
	resolveExporterDefaults(&e)
	return e
}

// resolveExporterDefaults fills the defaults that depend on other keys of
// the same exporter.
func resolveExporterDefaults(e *Exporter) {
	if e.Compression == "" {
		switch e.Type {
		case "otlp", "otlphttp":
			e.Compression = "gzip"
		default:
			e.Compression = "none"
		}
	}
}
