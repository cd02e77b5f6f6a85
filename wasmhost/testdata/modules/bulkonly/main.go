// Module bulkonly declares itself bulk-only (otlpgw_bulk_only returns 1)
// and answers every batch with DROP_NAMED "GET /healthz" and DELETE_KEY
// "password" on items. If the host hands it a non-empty batch it rejects
// the batch, so tests see the host broke the contract. A config containing
// "cheat" makes it return a targeted DROP_ITEM as well, which a bulk-only
// module must not; "reads" makes it declare 0 (an ordinary filter).
package main

import (
	"encoding/binary"
	"runtime"
	"strings"
	"unsafe"
)

var (
	buf          []byte
	edits        []byte
	cheat, reads bool
	le           = binary.LittleEndian
)

func main() {}

func mem(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), n)
}

//go:wasmexport otlpgw_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport otlpgw_alloc
func alloc(n uint32) uint32 {
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
	cfg := string(mem(ptr, n))
	cheat, reads = strings.Contains(cfg, "cheat"), strings.Contains(cfg, "reads")
	return 0
}

//go:wasmexport otlpgw_bulk_only
func bulkOnly() int32 {
	if reads {
		return 0
	}
	return 1
}

func record(op, owner byte, target, arg uint32, a, b string) {
	var h [20]byte
	h[0], h[1] = op, owner
	le.PutUint32(h[4:], target)
	le.PutUint32(h[8:], arg)
	le.PutUint32(h[12:], uint32(len(a)))
	le.PutUint32(h[16:], uint32(len(b)))
	edits = append(edits, h[:]...)
	edits = append(edits, a...)
	edits = append(edits, b...)
	for len(edits)%4 != 0 {
		edits = append(edits, 0)
	}
}

//go:wasmexport otlpgw_process_traces
func processTraces(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	idx := mem(idxPtr, idxLen)
	edits = edits[:0]
	if !reads && (reqLen != 0 || le.Uint32(idx[8:]) != 0) {
		record(9, 0, 0, 0, "the host passed a batch to a bulk-only module", "")
	} else {
		record(13, 0, 0, 0, "GET /healthz", "health check")
		record(11, 4, 0, 0, "password", "")
		if cheat {
			record(1, 0, 0, 0, "", "")
		}
	}
	runtime.Gosched()
	return uint64(uintptr(unsafe.Pointer(&edits[0])))<<32 | uint64(len(edits))
}
