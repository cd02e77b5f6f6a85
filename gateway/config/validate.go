package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FieldError is one configuration problem at one key path, such as
// "exporters[0].timeout" with "must be > 0 (got 0s)". For problems found
// before the YAML is parsed (an unset variable, a syntax error) Path is the
// file, with the line when known.
type FieldError struct {
	Path string
	Msg  string

	// rename is the known key an unknown one is near enough to be renamed
	// to by validate --fix; empty for every other problem.
	rename string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Problems returns one line per problem in err, in order, as `otlpgw
// validate` prints them. It understands the joined errors Load and Validate
// return; any other error is one problem per line of its message.
func Problems(err error) []string {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		for l := range strings.SplitSeq(err.Error(), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	walk(err)
	return lines
}

// validator collects problems; no method stops at the first.
type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) positiveDuration(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be > 0 (got %s)", d)
	}
}

func (v *validator) positiveSize(path string, s Size) {
	if s <= 0 {
		v.add(path, "must be > 0 (got %s)", s)
	}
}

func (v *validator) oneOf(path, what, got string, want ...string) {
	for _, w := range want {
		if got == w {
			return
		}
	}
	v.add(path, "unknown %s (got %q, want %s)", what, got, orList(want))
}

// listenAddr checks a listener address: host:port, host optional, port 0-65535.
func (v *validator) listenAddr(path, addr string) {
	if msg := checkHostPort(addr, false); msg != "" {
		v.add(path, "%s (got %q, want host:port, such as 0.0.0.0:4317)", msg, addr)
	}
}

func checkHostPort(addr string, needHost bool) string {
	if strings.Contains(addr, "://") {
		return "unexpected scheme"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "not a host:port address"
	}
	n, err := strconv.Atoi(port)
	lowest := 0
	if needHost {
		lowest = 1
	}
	if err != nil || n < lowest || n > 65535 {
		return "invalid port"
	}
	if needHost && host == "" {
		return "missing host"
	}
	return ""
}

func orList(want []string) string {
	switch len(want) {
	case 1:
		return want[0]
	case 2:
		return want[0] + " or " + want[1]
	}
	return strings.Join(want[:len(want)-1], ", ") + " or " + want[len(want)-1]
}

// validName reports whether a filter or exporter name is safe as a metric
// label and in log lines.
func validName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// Validate checks the whole configuration without changing it and returns
// every problem joined, each a *FieldError whose message names the key
// path, what is wrong, what was found and what is wanted.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateReceivers(v)
	c.validateFilters(v)
	c.validateBatchAndQueue(v)
	c.validateExporters(v)
	c.validateMemoryLimit(v)
	v.listenAddr("admin.endpoint", c.Admin.Endpoint)
	v.serverTLS("admin.tls", c.Admin.TLS)
	if tok := c.Admin.Auth.BearerToken; strings.ContainsAny(tok, " \t\r\n") {
		v.add("admin.auth.bearer_token", "a token cannot contain whitespace")
	}
	v.oneOf("log.level", "log level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", "log format", c.Log.Format, "text", "json")
	v.oneOf("runtime.procs", "procs mode", c.Runtime.Procs, "adaptive", "fixed")
	v.positiveDuration("shutdown_timeout", c.ShutdownTimeout)
	if c.Reload.Probation < 0 {
		v.add("reload.probation", "must be >= 0 (got %s, 0 disables probation)", c.Reload.Probation)
	}
	if c.Reload.FailureRatio <= 0 || c.Reload.FailureRatio > 1 {
		v.add("reload.failure_ratio", "must be in (0, 1] (got %g)", c.Reload.FailureRatio)
	}
	if c.Reload.MinCalls < 1 {
		v.add("reload.min_calls", "must be >= 1 (got %d)", c.Reload.MinCalls)
	}
	return errors.Join(v.errs...)
}

func (c *Config) validateReceivers(v *validator) {
	g, h := c.Receivers.OTLP.GRPC, c.Receivers.OTLP.HTTP
	if g.Endpoint == "" && h.Endpoint == "" {
		v.add("receivers.otlp", `no receiver enabled (got empty grpc.endpoint and http.endpoint, want at least one set)`)
	}
	if g.Endpoint != "" {
		v.listenAddr("receivers.otlp.grpc.endpoint", g.Endpoint)
		v.positiveSize("receivers.otlp.grpc.max_recv_msg_size", g.MaxRecvMsgSize)
		v.serverTLS("receivers.otlp.grpc.tls", g.TLS)
		v.receiverAuth("receivers.otlp.grpc.auth", g.Auth)
		v.grpcKeepalive("receivers.otlp.grpc.keepalive", g.Keepalive)
		if g.MaxConcurrentStreams < 0 || int64(g.MaxConcurrentStreams) > math.MaxUint32 {
			v.add("receivers.otlp.grpc.max_concurrent_streams", "must be in [0, %d] (got %d, 0 means no limit)", uint32(math.MaxUint32), g.MaxConcurrentStreams)
		}
	}
	if h.Endpoint != "" {
		v.listenAddr("receivers.otlp.http.endpoint", h.Endpoint)
		v.positiveSize("receivers.otlp.http.max_request_body_size", h.MaxRequestBodySize)
		v.serverTLS("receivers.otlp.http.tls", h.TLS)
		v.receiverAuth("receivers.otlp.http.auth", h.Auth)
		v.cors("receivers.otlp.http.cors", h.CORS)
	}
	// Port 0 picks a free port, so only fixed ports can clash.
	used := map[string]string{}
	for _, l := range []struct{ path, addr string }{
		{"receivers.otlp.grpc.endpoint", g.Endpoint},
		{"receivers.otlp.http.endpoint", h.Endpoint},
		{"admin.endpoint", c.Admin.Endpoint},
	} {
		if l.addr == "" || strings.HasSuffix(l.addr, ":0") {
			continue
		}
		if first, ok := used[l.addr]; ok {
			v.add(l.path, "address already used by %s (got %q)", first, l.addr)
			continue
		}
		used[l.addr] = l.path
	}
}

// serverTLS checks a receiver's TLS settings; that the files hold what
// they should is checked when the receiver loads them (and by validate).
func (v *validator) serverTLS(p string, t ServerTLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add(p, "cert_file and key_file go together (got cert_file %q, key_file %q)", t.CertFile, t.KeyFile)
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		v.add(p+".client_ca_file", "needs cert_file and key_file: mutual TLS is TLS first")
	}
	v.oneOf(p+".min_version", "TLS version", t.MinVersion, "1.2", "1.3")
}

func (v *validator) grpcKeepalive(p string, k GRPCKeepalive) {
	// grpc-go raises a Time under 1s to 1s silently; say so instead.
	if k.Time < time.Second {
		v.add(p+".time", "must be >= 1s (got %s)", k.Time)
	}
	v.positiveDuration(p+".timeout", k.Timeout)
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"max_connection_idle", k.MaxConnectionIdle}, {"max_connection_age", k.MaxConnectionAge}, {"max_connection_age_grace", k.MaxConnectionAgeGrace}} {
		if d.d < 0 {
			v.add(p+"."+d.key, "must be >= 0 (got %s, 0 means never)", d.d)
		}
	}
}

func (v *validator) cors(p string, c CORS) {
	for i, o := range c.AllowedOrigins {
		ip := fmt.Sprintf("%s.allowed_origins[%d]", p, i)
		switch {
		case o == "":
			v.add(ip, "empty origin (an unset ${env:...}?)")
		case strings.Count(o, "*") > 1:
			v.add(ip, "at most one * (got %q, want such as https://*.example.com)", o)
		case o != "*" && !strings.Contains(o, "://"):
			v.add(ip, "not an origin (got %q, want scheme://host[:port], such as https://app.example.com)", o)
		case strings.HasSuffix(o, "/"):
			v.add(ip, "an origin has no path (got %q, want it without the trailing /)", o)
		}
	}
	for i, hd := range c.AllowedHeaders {
		if strings.TrimSpace(hd) == "" || strings.ContainsAny(hd, " \t,:") {
			v.add(fmt.Sprintf("%s.allowed_headers[%d]", p, i), "not a header name (got %q)", hd)
		}
	}
	if c.MaxAge < 0 {
		v.add(p+".max_age", "must be >= 0 seconds (got %d)", c.MaxAge)
	}
	if len(c.AllowedOrigins) == 0 && (len(c.AllowedHeaders) > 0 || c.MaxAge != 0) {
		v.add(p+".allowed_origins", "empty, so CORS is off and allowed_headers and max_age do nothing (want at least one origin)")
	}
}

func (v *validator) receiverAuth(p string, a ReceiverAuth) {
	for i, tok := range a.BearerTokens {
		switch {
		case tok == "":
			v.add(fmt.Sprintf("%s.bearer_tokens[%d]", p, i), "empty token (an unset ${env:...}?)")
		case strings.ContainsAny(tok, " \t\r\n"):
			v.add(fmt.Sprintf("%s.bearer_tokens[%d]", p, i), "a token cannot contain whitespace")
		}
	}
}

func (c *Config) validateFilters(v *validator) {
	names := map[string]int{}
	for i, f := range c.Filters {
		p := fmt.Sprintf("filters[%d]", i)
		switch {
		case f.Name == "":
			v.add(p+".name", "required (got empty, want a unique name)")
		case !validName(f.Name):
			v.add(p+".name", "invalid name (got %q, want letters, digits and . _ - / only)", f.Name)
		default:
			if j, dup := names[f.Name]; dup {
				v.add(p+".name", "duplicate name (got %q, also used by filters[%d])", f.Name, j)
			} else {
				names[f.Name] = i
			}
		}
		switch name, builtin := strings.CutPrefix(f.Module, "builtin:"); {
		case f.Module == "":
			v.add(p+".module", "required (got empty, want builtin:NAME or the path of a .wasm file)")
		case builtin && name == "":
			v.add(p+".module", "missing builtin name (got %q, want builtin:NAME)", f.Module)
		}
		seen := map[string]bool{}
		for j, s := range f.Signals {
			sp := fmt.Sprintf("%s.signals[%d]", p, j)
			// Spelled out rather than via otlpwire so config builds on its own.
			if s != "traces" && s != "metrics" && s != "logs" {
				v.add(sp, "unknown signal (got %q, want traces, metrics or logs)", s)
			} else if seen[s] {
				v.add(sp, "duplicate signal (got %q)", s)
			}
			seen[s] = true
		}
		v.oneOf(p+".on_error", "on_error action", f.OnError, "pass", "drop", "reject")
		v.positiveDuration(p+".timeout", f.Timeout)
		v.positiveSize(p+".memory_limit", f.MemoryLimit)
	}
}

func (c *Config) validateBatchAndQueue(v *validator) {
	b, q := c.Batch, c.Queue
	if _, ok := presets[b.Preset]; b.Preset != "" && !ok {
		v.add("batch.preset", "unknown preset (got %q, want low_latency or high_throughput)", b.Preset)
	}
	if b.MaxItems < 1 {
		v.add("batch.max_items", "must be >= 1 (got %d)", b.MaxItems)
	}
	v.positiveSize("batch.max_bytes", b.MaxBytes)
	v.positiveDuration("batch.timeout", b.Timeout)
	v.positiveSize("queue.max_bytes", q.MaxBytes)
	if b.MaxBytes > 0 && q.MaxBytes > 0 && b.MaxBytes > q.MaxBytes {
		v.add("batch.max_bytes", "larger than queue.max_bytes (got %s, want at most %s)", b.MaxBytes, q.MaxBytes)
	}
	if q.BlockTimeout < 0 {
		v.add("queue.block_timeout", "must be >= 0 (got %s)", q.BlockTimeout)
	}
	if d := q.Persistent.Directory; d != "" && !filepath.IsAbs(d) {
		// Relative to the working directory, which a service manager picks.
		v.add("queue.persistent.directory", "want an absolute path (got %q)", d)
	}
}

var exporterTypes = []string{"otlp", "otlphttp", "debug", "file"}

// minExporterKeepalive is grpc-go's floor for a client's keepalive time.
const minExporterKeepalive = 10 * time.Second

func (c *Config) validateExporters(v *validator) {
	if len(c.Exporters) == 0 {
		v.add("exporters", "no exporter (want at least one)")
	}
	names := map[string]int{}
	for i, e := range c.Exporters {
		p := fmt.Sprintf("exporters[%d]", i)
		switch {
		case e.Name == "":
			v.add(p+".name", "required (got empty, want a unique name)")
		case !validName(e.Name):
			v.add(p+".name", "invalid name (got %q, want letters, digits and . _ - / only)", e.Name)
		default:
			if j, dup := names[e.Name]; dup {
				v.add(p+".name", "duplicate name (got %q, also used by exporters[%d])", e.Name, j)
			} else {
				names[e.Name] = i
			}
		}
		if e.Type == "" {
			v.add(p+".type", "required (got empty, want %s)", orList(exporterTypes))
		} else {
			v.oneOf(p+".type", "exporter type", e.Type, exporterTypes...)
		}

		switch e.Type {
		case "otlp":
			if e.Endpoint == "" {
				v.add(p+".endpoint", "required for type otlp (got empty, want host:port, such as collector:4317)")
			} else if msg := checkHostPort(e.Endpoint, true); msg != "" {
				if u, err := url.Parse(e.Endpoint); err == nil && msg == "unexpected scheme" && (u.Scheme == "https" && e.TLS.Insecure || u.Scheme == "http" && !e.TLS.Insecure) {
					// validate --fix leaves these alone: the scheme and tls disagree.
					msg = fmt.Sprintf("unexpected scheme, and %s:// contradicts tls.insecure: %t", u.Scheme, e.TLS.Insecure)
				}
				v.add(p+".endpoint", "%s (got %q, want host:port, such as collector:4317; tls.insecure turns TLS off)", msg, e.Endpoint)
			}
		case "otlphttp":
			switch {
			case e.Endpoint == "":
				v.add(p+".endpoint", "required for type otlphttp (got empty, want a URL, such as https://collector:4318)")
			case strings.Contains(e.Endpoint, "://"):
				u, err := url.Parse(e.Endpoint)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
					v.add(p+".endpoint", "not an http(s) base URL (got %q, want a URL, such as https://collector:4318)", e.Endpoint)
				} else if u.Scheme == "https" && e.TLS.Insecure {
					v.add(p+".tls.insecure", "conflicts with the https:// endpoint (got true, want false, or an http:// endpoint)")
				}
			default:
				if msg := checkHostPort(e.Endpoint, true); msg != "" {
					v.add(p+".endpoint", "%s (got %q, want a URL, such as https://collector:4318)", msg, e.Endpoint)
				}
			}
		case "debug", "file":
			if e.Endpoint != "" {
				v.add(p+".endpoint", "not used by type %s (got %q, want empty)", e.Type, e.Endpoint)
			}
		}
		if e.Type == "file" && e.Path == "" {
			v.add(p+".path", "required for type file (got empty, want the file to append OTLP JSON lines to)")
		}
		if e.Type != "file" && e.Type != "" && e.Path != "" {
			v.add(p+".path", "only used by type file (got %q with type %s)", e.Path, e.Type)
		}
		v.oneOf(p+".compression", "compression", e.Compression, "none", "gzip", "zstd")
		v.oneOf(p+".verbosity", "verbosity", e.Verbosity, "basic", "detailed")
		v.positiveDuration(p+".timeout", e.Timeout)
		// grpc-go raises a keepalive time under 10s to 10s silently; say so instead.
		if e.Keepalive.Time < minExporterKeepalive {
			v.add(p+".keepalive.time", "must be >= %s (got %s)", minExporterKeepalive, e.Keepalive.Time)
		}
		v.positiveDuration(p+".keepalive.timeout", e.Keepalive.Timeout)
		for k := range e.Headers {
			if strings.TrimSpace(k) == "" {
				v.add(p+".headers", "empty header name")
			}
		}

		t := e.TLS
		if (t.CertFile == "") != (t.KeyFile == "") {
			v.add(p+".tls", "cert_file and key_file go together (got cert_file %q, key_file %q)", t.CertFile, t.KeyFile)
		}
		if t.Insecure && e.Type == "otlp" {
			for _, o := range []struct{ key, val string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"server_name", t.ServerName}} {
				if o.val != "" {
					v.add(p+".tls.insecure", "conflicts with tls.%s (insecure turns TLS off)", o.key)
				}
			}
		}

		r := e.Retry
		v.positiveDuration(p+".retry.initial_interval", r.InitialInterval)
		if r.MaxInterval < r.InitialInterval {
			v.add(p+".retry.max_interval", "must be >= retry.initial_interval (got %s, want at least %s)", r.MaxInterval, r.InitialInterval)
		}
		if !(r.Multiplier >= 1) || math.IsInf(r.Multiplier, 0) {
			v.add(p+".retry.multiplier", "must be >= 1 (got %v)", r.Multiplier)
		}
		if !(r.Jitter >= 0 && r.Jitter <= 1) {
			v.add(p+".retry.jitter", "must be in [0, 1] (got %v)", r.Jitter)
		}
		if r.MaxElapsedTime < 0 {
			v.add(p+".retry.max_elapsed_time", "must be >= 0 (got %s, 0 retries until shutdown)", r.MaxElapsedTime)
		}

		v.oneOf(p+".concurrency.mode", "concurrency mode", e.Concurrency.Mode, "fixed", "adaptive")
		if e.Concurrency.Max < 1 {
			v.add(p+".concurrency.max", "must be >= 1 (got %d)", e.Concurrency.Max)
		}
	}
}

// limit is a parsed memory_limit value: a percentage, a size, or neither
// (empty: no limit).
type limit struct {
	percent float64
	size    Size
}

// parseLimit accepts what gateway/internal/memlimit resolves at run time.
func parseLimit(s string) (limit, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return limit{}, nil
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(f > 0 && f <= 100) {
			return limit{}, fmt.Errorf("invalid percentage (got %q, want more than 0%% and at most 100%%)", s)
		}
		return limit{percent: f}, nil
	}
	sz, err := ParseSize(t)
	if err != nil || sz <= 0 {
		return limit{}, fmt.Errorf("not a percentage or size (got %q, want such as 80%% or 2GiB, or empty for no limit)", s)
	}
	return limit{size: sz}, nil
}

func (c *Config) validateMemoryLimit(v *validator) {
	s, serr := parseLimit(c.MemoryLimit.Soft)
	if serr != nil {
		v.add("memory_limit.soft", "%v", serr)
	}
	h, herr := parseLimit(c.MemoryLimit.Hard)
	if herr != nil {
		v.add("memory_limit.hard", "%v", herr)
	}
	if serr != nil || herr != nil {
		return
	}
	// A percentage and a size compare only against the container limit,
	// which is known at run time, not here.
	switch {
	case s.percent > 0 && h.percent > 0 && s.percent >= h.percent,
		s.size > 0 && h.size > 0 && s.size >= h.size:
		v.add("memory_limit.soft", "must be below memory_limit.hard (got %s, hard is %s)", c.MemoryLimit.Soft, c.MemoryLimit.Hard)
	}
}
