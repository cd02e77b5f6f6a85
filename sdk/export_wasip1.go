//go:build wasip1

package sdk

//lint:file-ignore U1000 the host calls the wasmexport functions; Go code does not

import (
	"runtime"
	"unsafe"
)

// The module's exports (ABI.md §1). The host places every input with
// otlpgw_alloc, so inputs are sliced out of that one buffer: a pointer
// outside it is a host bug and traps.

// arena is the buffer otlpgw_alloc hands out; it stays referenced so the
// collector never frees memory the host is about to write.
var arena []byte

// calls counts otlpgw_process_* calls, for yielding every 16th.
var calls uint32

//go:wasmexport otlpgw_abi_version
func exportABIVersion() int32 { return ABIVersion }

//go:wasmexport otlpgw_alloc
func exportAlloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	if int(size) > cap(arena) || cap(arena) == 0 {
		// Grow by a quarter at least, in whole 64 KiB pages, so a slowly
		// growing batch size does not reallocate every call, without
		// doubling a large buffer under the instance's memory limit.
		n := max(int(size), cap(arena)+cap(arena)/4, 64<<10)
		n = (n + 64<<10 - 1) &^ (64<<10 - 1)
		arena = nil // let the collector reclaim the old buffer first
		arena = make([]byte, n)
	}
	arena = arena[:size]
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(arena))))
}

// input returns the arena bytes at guest pointer ptr, n long.
func input(ptr, n int32) []byte {
	base := int64(uintptr(unsafe.Pointer(unsafe.SliceData(arena))))
	off := int64(uint32(ptr)) - base
	if n < 0 || off < 0 || off+int64(n) > int64(len(arena)) {
		panic("otlpgw sdk: the host passed memory not obtained from otlpgw_alloc")
	}
	return arena[off : off+int64(n) : off+int64(n)]
}

//go:wasmexport otlpgw_init
func exportInit(cfgPtr, cfgLen int32) int32 {
	// The filter may keep its config; the arena is overwritten next call.
	var cfg []byte
	if cfgLen != 0 {
		cfg = append(cfg, input(cfgPtr, cfgLen)...)
	}
	r := initFilter(cfg)
	runtime.Gosched()
	return r
}

// The signals the registered filter handles, so the host calls only those
// (ABI.md §1); Register runs from init, before the host asks.
//
//go:wasmexport otlpgw_signals
func exportSignals() int32 { return signalMask() }

// Whether Init declared the filter bulk-only (ABI.md §1), read by the host
// after otlpgw_init.
//
//go:wasmexport otlpgw_bulk_only
func exportBulkOnly() int32 {
	if bulkOnly {
		return 1
	}
	return 0
}

//go:wasmexport otlpgw_process_traces
func exportProcessTraces(reqPtr, reqLen, idxPtr, idxLen int32) int64 {
	return exportProcess(SignalTraces, reqPtr, reqLen, idxPtr, idxLen)
}

//go:wasmexport otlpgw_process_metrics
func exportProcessMetrics(reqPtr, reqLen, idxPtr, idxLen int32) int64 {
	return exportProcess(SignalMetrics, reqPtr, reqLen, idxPtr, idxLen)
}

//go:wasmexport otlpgw_process_logs
func exportProcessLogs(reqPtr, reqLen, idxPtr, idxLen int32) int64 {
	return exportProcess(SignalLogs, reqPtr, reqLen, idxPtr, idxLen)
}

func exportProcess(sig Signal, reqPtr, reqLen, idxPtr, idxLen int32) int64 {
	edits := process(sig, input(reqPtr, reqLen), input(idxPtr, idxLen))
	// A Go wasip1 reactor finishes a garbage collection only when its
	// scheduler runs; without this yield the heap grows every call until
	// the instance runs out of memory (ARCHITECTURE.md §4). A bulk-only
	// filter allocates next to nothing per call, and a yield costs more
	// than the rest of its call (measured: ~35 of ~55 µs), so it yields
	// every 16th call instead.
	calls++
	if !bulkOnly || calls%16 == 0 {
		runtime.Gosched()
	}
	if len(edits) == 0 {
		return 0
	}
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(edits))))
	return int64(uint64(ptr)<<32 | uint64(uint32(len(edits))))
}
