// Module oversize returns a DROP_ITEM record whose reason claims 2 GiB in a 20-byte list.
package main

import (
	"unsafe"
)

func main() {}

var buf []byte

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

//go:wasmexport otlpgw_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport otlpgw_init
func initFilter(ptr, n uint32) int32 { return 0 }

var edits = []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0x7f, 0, 0, 0, 0}

//go:wasmexport otlpgw_process_traces
func processTraces(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	return uint64(uintptr(unsafe.Pointer(&edits[0])))<<32 | uint64(len(edits))
}
