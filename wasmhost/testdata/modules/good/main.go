// Module good is a well-behaved filter written against the raw ABI: it
// deletes every attribute whose key is "password", counts what it deleted
// in a module metric, logs, reports health, and sheds nothing. The first
// item's name can trigger test behaviour: "panic" panics, "sleep" sleeps
// for an hour, "log-oob" calls log with a pointer outside memory, "drop"
// drops the item, "reject" rejects the batch. A config containing
// "alloc0" makes otlpgw_alloc return 0 once init has run.
package main

import (
	"encoding/binary"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

//go:wasmimport otlpgw log
func hostLog(level, ptr, n uint32)

//go:wasmimport otlpgw metric_define
func metricDefine(kind, namePtr, nameLen, helpPtr, helpLen uint32) int32

//go:wasmimport otlpgw metric_add
func metricAdd(id int32, v float64)

//go:wasmimport otlpgw health_report
func healthReport(status, ptr, n uint32)

//go:wasmimport otlpgw gateway_pressure
func gatewayPressure() float64

//go:wasmimport otlpgw now
func now() int64

func ptrOf(s string) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))) }

func logf(level uint32, s string) { hostLog(level, ptrOf(s), uint32(len(s))) }

func mem(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), n)
}

var (
	alloc0   bool
	buf      []byte
	edits    []byte
	redacted int32 = -1
	le             = binary.LittleEndian
)

func main() {}

//go:wasmexport otlpgw_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport otlpgw_alloc
func alloc(n uint32) uint32 {
	if alloc0 {
		return 0
	}
	if n == 0 {
		n = 1
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport otlpgw_init
func initFilter(ptr, n uint32) int32 {
	name, help := "redacted_total", "Attributes deleted because their key is password."
	redacted = metricDefine(0, ptrOf(name), uint32(len(name)), ptrOf(help), uint32(len(help)))
	if again := metricDefine(0, ptrOf(name), uint32(len(name)), ptrOf(help), uint32(len(help))); again != redacted {
		logf(3, "metric_define is not idempotent")
		return 2
	}
	if now() <= 0 {
		return 3
	}
	cfg := string(mem(ptr, n))
	alloc0 = strings.Contains(cfg, "alloc0")
	logf(1, "ready with config "+cfg)
	ok := "ready"
	healthReport(0, ptrOf(ok), uint32(len(ok)))
	return 0
}

func record(op, owner byte, target uint32, a, b string) {
	var h [20]byte
	h[0], h[1] = op, owner
	le.PutUint32(h[4:], target)
	le.PutUint32(h[12:], uint32(len(a)))
	le.PutUint32(h[16:], uint32(len(b)))
	edits = append(edits, h[:]...)
	edits = append(edits, a...)
	edits = append(edits, b...)
	for len(edits)%4 != 0 {
		edits = append(edits, 0)
	}
}

func process(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	req, idx := mem(reqPtr, reqLen), mem(idxPtr, idxLen)
	edits = edits[:0]
	if le.Uint32(idx[24:]) > 0 {
		it := idx[le.Uint32(idx[44:]):]
		switch string(req[le.Uint32(it[28:]):le.Uint32(it[32:])]) {
		case "panic":
			panic("boom")
		case "sleep":
			time.Sleep(time.Hour)
		case "log-oob":
			hostLog(1, 0xFFFFFF00, 1000)
		case "drop":
			record(1, 0, 0, "dropped by test", "")
		case "reject":
			record(9, 0, 0, "no thanks", "")
		}
	}
	if len(edits) == 0 {
		nAttrs, attrsOff := le.Uint32(idx[28:]), le.Uint32(idx[48:])
		n := 0
		for i := uint32(0); i < nAttrs; i++ {
			a := idx[attrsOff+36*i:]
			if string(req[le.Uint32(a[16:]):le.Uint32(a[20:])]) == "password" {
				record(2, 0, i, "", "")
				n++
			}
		}
		if n > 0 {
			metricAdd(redacted, float64(n))
		}
	}
	if gatewayPressure() > 0.9 {
		s := "shedding"
		healthReport(1, ptrOf(s), uint32(len(s)))
	}
	// A Go reactor finishes a garbage collection only when its scheduler
	// runs (ARCHITECTURE §4).
	runtime.Gosched()
	if len(edits) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&edits[0])))<<32 | uint64(len(edits))
}

//go:wasmexport otlpgw_process_traces
func processTraces(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	return process(reqPtr, reqLen, idxPtr, idxLen)
}

//go:wasmexport otlpgw_process_logs
func processLogs(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	return process(reqPtr, reqLen, idxPtr, idxLen)
}

//go:wasmexport otlpgw_process_metrics
func processMetrics(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	return process(reqPtr, reqLen, idxPtr, idxLen)
}
