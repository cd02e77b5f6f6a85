package config

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The standard OpenTelemetry exporter variables. They configure the
// default exporter when no file names an exporter; the per-signal variants
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and so on) are not read.
const (
	envEndpoint    = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envProtocol    = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envHeaders     = "OTEL_EXPORTER_OTLP_HEADERS"
	envTimeout     = "OTEL_EXPORTER_OTLP_TIMEOUT"
	envCompression = "OTEL_EXPORTER_OTLP_COMPRESSION"
)

// expandEnv replaces ${env:NAME} and ${env:NAME:-default} in a file's text
// and turns $$ into $, except on whole-line comments. Expanded values are
// not expanded again. Every bad reference is reported, as "file:line: what
// is wrong".
func expandEnv(name string, text []byte, env func(string) (string, bool)) ([]byte, []error) {
	if bytes.IndexByte(text, '$') < 0 {
		return text, nil
	}
	var out bytes.Buffer
	out.Grow(len(text))
	var errs []error
	line := 1
	fail := func(format string, args ...any) {
		errs = append(errs, &FieldError{Path: fmt.Sprintf("%s:%d", name, line), Msg: fmt.Sprintf(format, args...)})
	}
	for i := 0; i < len(text); i++ {
		if i == 0 || text[i-1] == '\n' {
			// Whole-line comments are copied as they are, so that
			// documentation may mention ${env:NAME} freely.
			if t := bytes.TrimLeft(text[i:], " \t"); len(t) > 0 && t[0] == '#' {
				end := bytes.IndexByte(text[i:], '\n')
				if end < 0 {
					out.Write(text[i:])
					break
				}
				out.Write(text[i : i+end])
				i += end - 1 // the loop's i++ lands on the newline
				continue
			}
		}
		c := text[i]
		if c == '\n' {
			line++
		}
		if c != '$' || i+1 >= len(text) || (text[i+1] != '$' && text[i+1] != '{') {
			out.WriteByte(c)
			continue
		}
		if text[i+1] == '$' {
			out.WriteByte('$')
			i++
			continue
		}
		// text[i:] starts with "${"; the reference ends on the same line.
		rest := text[i+2:]
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[:nl]
		}
		end := bytes.IndexByte(rest, '}')
		if end < 0 {
			fail("unterminated ${ (want ${env:NAME} or ${env:NAME:-default}; write $$ for a literal $)")
			out.Write(text[i : i+2])
			i++
			continue
		}
		ref := string(rest[:end])
		i += 2 + end // now on the closing brace
		spec, ok := strings.CutPrefix(ref, "env:")
		if !ok {
			fail("${%s}: unsupported reference (want ${env:NAME} or ${env:NAME:-default}; write $$ for a literal $)", ref)
			continue
		}
		varName, def, hasDef := strings.Cut(spec, ":-")
		if !validEnvName(varName) {
			fail("${%s}: invalid variable name (got %q, want letters, digits and _, not starting with a digit)", ref, varName)
			continue
		}
		v, set := env(varName)
		switch {
		case hasDef && v == "":
			out.WriteString(def)
		case set:
			out.WriteString(v)
		default:
			fail("${%s}: environment variable %s is not set (want it set, or a default: ${env:%s:-value})", ref, varName, varName)
		}
	}
	return out.Bytes(), errs
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// envExporter builds the exporter used when no file names one: an exporter
// named "otlp" from the OTEL_EXPORTER_OTLP_* variables when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, otherwise the debug exporter.
//
// OTEL_EXPORTER_OTLP_PROTOCOL defaults to http/protobuf, as the
// OpenTelemetry specification says; grpc selects the otlp type, whose
// endpoint loses its scheme (http:// meaning plaintext).
func envExporter(env func(string) (string, bool)) (Exporter, []error) {
	endpoint, _ := env(envEndpoint)
	endpoint = strings.TrimSpace(endpoint)
	if endpoint == "" {
		return debugExporter(), nil
	}
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	e := defaultExporter()
	e.Name = "otlp"

	protocol, _ := env(envProtocol)
	switch protocol = strings.TrimSpace(protocol); protocol {
	case "grpc":
		e.Type = "otlp"
		u, err := url.Parse(endpoint)
		switch {
		case err == nil && u.Scheme == "http" && u.Host != "":
			e.Endpoint, e.TLS.Insecure = u.Host, true
		case err == nil && u.Scheme == "https" && u.Host != "":
			e.Endpoint = u.Host
		default:
			// host:port without a scheme: TLS on, as for a file's otlp exporter.
			e.Endpoint = endpoint
		}
		// Checked here so that the problem names the variable, not an
		// exporters[0] that no file holds.
		if msg := checkHostPort(e.Endpoint, true); msg != "" {
			fail(envEndpoint, "%s (got %q, want host:port, or http://host:port for plaintext, for protocol grpc)", msg, endpoint)
		}
	case "", "http/protobuf":
		e.Type = "otlphttp"
		e.Endpoint = endpoint
		if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			fail(envEndpoint, "not a URL (got %q, want http://host:port or https://host:port for protocol http/protobuf)", endpoint)
		}
	case "http/json":
		fail(envProtocol, "not supported yet (got %q, want grpc or http/protobuf)", protocol)
	default:
		fail(envProtocol, "unknown protocol (got %q, want grpc or http/protobuf)", protocol)
	}

	if h, ok := env(envHeaders); ok && strings.TrimSpace(h) != "" {
		headers, err := parseEnvHeaders(h)
		if err != nil {
			fail(envHeaders, "%v", err)
		}
		e.Headers = headers
	}
	if t, ok := env(envTimeout); ok && strings.TrimSpace(t) != "" {
		ms, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil || ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
			fail(envTimeout, "not a timeout (got %q, want a positive number of milliseconds)", t)
		} else {
			e.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if c, ok := env(envCompression); ok && strings.TrimSpace(c) != "" {
		switch c = strings.TrimSpace(c); c {
		case "none", "gzip", "zstd":
			e.Compression = c
		default:
			fail(envCompression, "unknown compression (got %q, want none, gzip or zstd)", c)
		}
	}
	if len(errs) > 0 {
		// The problems are reported against the variables; a placeholder
		// keeps Validate from reporting them again under exporters[0].
		return debugExporter(), errs
	}
	resolveExporterDefaults(&e)
	return e, errs
}

// parseEnvHeaders parses k=v,k2=v2 with percent-encoded keys and values.
func parseEnvHeaders(s string) (map[string]string, error) {
	out := make(map[string]string)
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		var kerr, verr error
		if ok {
			k, kerr = url.PathUnescape(strings.TrimSpace(k))
			v, verr = url.PathUnescape(strings.TrimSpace(v))
		}
		if !ok || strings.TrimSpace(k) == "" || kerr != nil || verr != nil {
			return nil, fmt.Errorf("malformed header (got %q, want key=value pairs separated by commas, percent-encoded)", strings.TrimSpace(pair))
		}
		out[k] = v
	}
	return out, nil
}
