// Package host is the SDK's side of the otlpgw host module (ABI.md §2).
//
// In a wasip1 build every function is a //go:wasmimport of module "otlpgw".
// In any other build the same functions talk to an in-memory recorder, so
// filters and the SDK itself are unit-tested natively through the very code
// that runs in the gateway; package sdktest reads and steers the recorder.
package host

// Metric kinds of metric_define.
const (
	KindCounter   int32 = 0
	KindGauge     int32 = 1
	KindHistogram int32 = 2
)

// MaxMetrics is how many metrics one instance may define (ABI.md §2).
const MaxMetrics = 64

// ValidMetricName reports whether name is one the host accepts:
// [a-z_][a-z0-9_]*, at most 64 bytes.
func ValidMetricName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
