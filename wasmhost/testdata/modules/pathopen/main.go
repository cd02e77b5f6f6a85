// Module pathopen imports WASI path_open (file system access), which no filter may.
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

//go:wasmimport wasi_snapshot_preview1 path_open
func pathOpen(fd, dirflags, path, pathLen, oflags uint32, rightsBase, rightsInheriting uint64, fdflags, fdPtr uint32) uint32

//go:wasmexport otlpgw_process_traces
func processTraces(reqPtr, reqLen, idxPtr, idxLen uint32) uint64 {
	if reqLen == 12345 {
		return uint64(pathOpen(3, 0, reqPtr, 4, 0, 0, 0, 0, idxPtr))
	}
	return 0
}
