//go:build wasip1

package host

import "unsafe"

//go:wasmimport otlpgw log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport otlpgw metric_define
func hostMetricDefine(kind int32, namePtr unsafe.Pointer, nameLen int32, helpPtr unsafe.Pointer, helpLen int32) int32

//go:wasmimport otlpgw metric_add
func hostMetricAdd(id int32, v float64)

//go:wasmimport otlpgw metric_record
func hostMetricRecord(id int32, v float64)

//go:wasmimport otlpgw health_report
func hostHealthReport(status int32, ptr unsafe.Pointer, n int32)

//go:wasmimport otlpgw gateway_pressure
func hostPressure() float64

//go:wasmimport otlpgw gateway_health
func hostGatewayHealth() int32

//go:wasmimport otlpgw now
func hostNow() int64

// Log writes msg to the gateway's log at level (0 debug … 3 error).
func Log(level int32, msg string) {
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

// MetricDefine defines a module metric; -1 when the host refuses it.
func MetricDefine(kind int32, name, help string) int32 {
	return hostMetricDefine(kind,
		unsafe.Pointer(unsafe.StringData(name)), int32(len(name)),
		unsafe.Pointer(unsafe.StringData(help)), int32(len(help)))
}

// MetricAdd adds v to a counter or gauge.
func MetricAdd(id int32, v float64) { hostMetricAdd(id, v) }

// MetricRecord sets a gauge or observes v in a histogram.
func MetricRecord(id int32, v float64) { hostMetricRecord(id, v) }

// HealthReport reports the filter's health (0 healthy, 1 degraded, 2 unhealthy).
func HealthReport(status int32, msg string) {
	hostHealthReport(status, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

// Pressure is how full the fullest exporter queue is, 0..1.
func Pressure() float64 { return hostPressure() }

// GatewayHealth is 0 healthy, 1 degraded, 2 draining.
func GatewayHealth() int32 { return hostGatewayHealth() }

// Now is the host's clock, Unix nanoseconds.
func Now() int64 { return hostNow() }
