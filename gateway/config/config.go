// Package config defines what operators write in otlpgw's YAML files, its
// defaults, how files are loaded and merged, and how a config is validated.
//
// A Config is an immutable value once Load returns it: the gateway builds a
// running generation from one Config and never reads fields through locks.
package config

import "time"

// Config is the whole gateway configuration, as users write it.
type Config struct {
	Receivers       Receivers     `koanf:"receivers"`
	Filters         []Filter      `koanf:"filters"`
	Batch           Batch         `koanf:"batch"`
	Queue           Queue         `koanf:"queue"`
	Exporters       []Exporter    `koanf:"exporters"`
	MemoryLimit     MemoryLimit   `koanf:"memory_limit"`
	Admin           Admin         `koanf:"admin"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	Log             Log           `koanf:"log"`
}

// Receivers holds the OTLP receivers.
type Receivers struct {
	OTLP OTLPReceiver `koanf:"otlp"`
}

// OTLPReceiver configures the OTLP/gRPC and OTLP/HTTP listeners.
type OTLPReceiver struct {
	GRPC GRPCReceiver `koanf:"grpc"`
	HTTP HTTPReceiver `koanf:"http"`
}

// GRPCReceiver is the OTLP/gRPC listener. An empty Endpoint disables it.
type GRPCReceiver struct {
	// Endpoint is host:port to listen on. Default 0.0.0.0:4317.
	Endpoint string `koanf:"endpoint"`
	// MaxRecvMsgSize caps one request message, in bytes. Default 16MiB.
	MaxRecvMsgSize Size `koanf:"max_recv_msg_size"`
}

// HTTPReceiver is the OTLP/HTTP listener. An empty Endpoint disables it.
type HTTPReceiver struct {
	// Endpoint is host:port to listen on. Default 0.0.0.0:4318.
	Endpoint string `koanf:"endpoint"`
	// MaxRequestBodySize caps a request body after decompression, in bytes. Default 16MiB.
	MaxRequestBodySize Size `koanf:"max_request_body_size"`
}

// Filter is one entry of the filter chain: one WASM module instance.
type Filter struct {
	Name        string         `koanf:"name"`
	Module      string         `koanf:"module"`
	Signals     []string       `koanf:"signals"`
	OnError     string         `koanf:"on_error"`
	Timeout     time.Duration  `koanf:"timeout"`
	MemoryLimit Size           `koanf:"memory_limit"`
	Config      map[string]any `koanf:"config"`
}

// Batch controls how queued requests are concatenated before export.
type Batch struct {
	// Preset picks a named set of values: low_latency or high_throughput.
	// Explicit keys in the same section override the preset.
	Preset   string        `koanf:"preset"`
	MaxItems int           `koanf:"max_items"`
	MaxBytes Size          `koanf:"max_bytes"`
	Timeout  time.Duration `koanf:"timeout"`
}

// Queue bounds what waits for each exporter.
type Queue struct {
	// MaxBytes is the capacity of each exporter's queue in encoded protobuf bytes.
	MaxBytes Size `koanf:"max_bytes"`
	// BlockTimeout is how long a receiver may wait for room before refusing. Default 0.
	BlockTimeout time.Duration `koanf:"block_timeout"`
	Persistent   Persistent    `koanf:"persistent"`
}

// Persistent configures the on-disk queue (not built yet: must stay empty).
type Persistent struct {
	Directory string `koanf:"directory"`
}

// Exporter sends every batch to one destination.
type Exporter struct {
	Name        string            `koanf:"name"`
	Type        string            `koanf:"type"` // otlp | otlphttp | debug | file
	Endpoint    string            `koanf:"endpoint"`
	Compression string            `koanf:"compression"` // none | gzip | zstd
	Timeout     time.Duration     `koanf:"timeout"`
	Headers     map[string]string `koanf:"headers"`
	TLS         TLS               `koanf:"tls"`
	Retry       Retry             `koanf:"retry"`
	Concurrency Concurrency       `koanf:"concurrency"`
	// Verbosity is for the debug exporter: basic (periodic summary) or detailed (prints items).
	Verbosity string `koanf:"verbosity"`
	// Path is for the file exporter: where OTLP JSON lines are appended.
	Path string `koanf:"path"`
	// WaitForReady makes start-up fail when the endpoint cannot be reached.
	WaitForReady bool `koanf:"wait_for_ready"`
}

// TLS configures client TLS for an exporter.
type TLS struct {
	Insecure           bool   `koanf:"insecure"`
	InsecureSkipVerify bool   `koanf:"insecure_skip_verify"`
	CAFile             string `koanf:"ca_file"`
	CertFile           string `koanf:"cert_file"`
	KeyFile            string `koanf:"key_file"`
	ServerName         string `koanf:"server_name"`
}

// Retry is exponential back-off with jitter.
type Retry struct {
	Enabled         bool          `koanf:"enabled"`
	InitialInterval time.Duration `koanf:"initial_interval"`
	MaxInterval     time.Duration `koanf:"max_interval"`
	Multiplier      float64       `koanf:"multiplier"`
	Jitter          float64       `koanf:"jitter"`
	MaxElapsedTime  time.Duration `koanf:"max_elapsed_time"`
}

// Concurrency sets how many requests an exporter has in flight.
type Concurrency struct {
	// Mode is fixed for now; adaptive is accepted and treated as fixed at Max
	// until adaptive concurrency is built.
	Mode string `koanf:"mode"`
	Max  int    `koanf:"max"`
}

// MemoryLimit is a soft and hard cap on the process heap, as a percentage
// of the cgroup limit ("80%") or a size ("2GiB").
type MemoryLimit struct {
	Soft string `koanf:"soft"`
	Hard string `koanf:"hard"`
}

// Admin is the admin HTTP server.
type Admin struct {
	Endpoint string `koanf:"endpoint"`
}

// Log configures the gateway's own structured log.
type Log struct {
	Level  string `koanf:"level"`  // debug | info | warn | error
	Format string `koanf:"format"` // text | json
}
