package otlpwire

import (
	"encoding/binary"
	"unsafe"
)

// ABIVersion is the filter ABI version the index layout and the edit list
// format belong to (sdk/ABI.md). It is the first word of AppendABI's output.
const ABIVersion = 1

// ABIIndexHeaderSize is the size in bytes of the index header AppendABI
// writes before the five tables: 13 little-endian u32 words.
const ABIIndexHeaderSize = 52

// Record sizes of the five index tables in the ABI layout, in bytes.
const (
	abiResourceSize = 40
	abiScopeSize    = 44
	abiMetricSize   = 40
	abiItemSize     = 40
	abiAttrSize     = 36
)

// The tables are copied into guest memory as raw Go memory, so each struct
// must be exactly its ABI record: these fail to compile if a size drifts.
// Field order is checked by TestABIFieldOffsets and TestAppendABIFieldByField.
var (
	_ [unsafe.Sizeof(Resource{}) - abiResourceSize]struct{}
	_ [abiResourceSize - unsafe.Sizeof(Resource{})]struct{}
	_ [unsafe.Sizeof(Scope{}) - abiScopeSize]struct{}
	_ [abiScopeSize - unsafe.Sizeof(Scope{})]struct{}
	_ [unsafe.Sizeof(Metric{}) - abiMetricSize]struct{}
	_ [abiMetricSize - unsafe.Sizeof(Metric{})]struct{}
	_ [unsafe.Sizeof(Item{}) - abiItemSize]struct{}
	_ [abiItemSize - unsafe.Sizeof(Item{})]struct{}
	_ [unsafe.Sizeof(Attr{}) - abiAttrSize]struct{}
	_ [abiAttrSize - unsafe.Sizeof(Attr{})]struct{}
)

// hostLittleEndian is whether int32s sit in memory in the ABI's byte order.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// AppendABI appends ix in the filter ABI's binary layout (sdk/ABI.md §3) to
// dst and returns it: the 52-byte header, then the Resource, Scope, Metric,
// Item and Attr tables in that order, with table offsets counted from where
// the header starts in dst. It does not allocate when dst has room for
// ABIIndexHeaderSize + ix.ABISize() more bytes.
//
// The tables are copied as raw memory, which is the ABI's little-endian
// layout only on a little-endian host. Every platform the gateway ships for
// (amd64, arm64) is one; on a big-endian host AppendABI panics rather than
// hand a guest a garbled index.
func (ix *Index) AppendABI(dst []byte) []byte {
	if !hostLittleEndian {
		panic("otlpwire: AppendABI copies the index as little-endian memory; this host is big-endian")
	}
	nr, ns, nm, ni, na := len(ix.Resources), len(ix.Scopes), len(ix.Metrics), len(ix.ItemsAt), len(ix.Attrs)
	resOff := ABIIndexHeaderSize
	scopeOff := resOff + nr*abiResourceSize
	metricOff := scopeOff + ns*abiScopeSize
	itemOff := metricOff + nm*abiMetricSize
	attrOff := itemOff + ni*abiItemSize
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, ABIVersion)
	dst = le.AppendUint32(dst, uint32(ix.Signal))
	dst = le.AppendUint32(dst, uint32(ix.Items))
	dst = le.AppendUint32(dst, uint32(nr))
	dst = le.AppendUint32(dst, uint32(ns))
	dst = le.AppendUint32(dst, uint32(nm))
	dst = le.AppendUint32(dst, uint32(ni))
	dst = le.AppendUint32(dst, uint32(na))
	dst = le.AppendUint32(dst, uint32(resOff))
	dst = le.AppendUint32(dst, uint32(scopeOff))
	dst = le.AppendUint32(dst, uint32(metricOff))
	dst = le.AppendUint32(dst, uint32(itemOff))
	dst = le.AppendUint32(dst, uint32(attrOff))
	dst = append(dst, rawBytes(ix.Resources)...)
	dst = append(dst, rawBytes(ix.Scopes)...)
	dst = append(dst, rawBytes(ix.Metrics)...)
	dst = append(dst, rawBytes(ix.ItemsAt)...)
	return append(dst, rawBytes(ix.Attrs)...)
}

// ABISize is how many bytes AppendABI appends for ix.
func (ix *Index) ABISize() int {
	return ABIIndexHeaderSize + len(ix.Resources)*abiResourceSize + len(ix.Scopes)*abiScopeSize +
		len(ix.Metrics)*abiMetricSize + len(ix.ItemsAt)*abiItemSize + len(ix.Attrs)*abiAttrSize
}

// rawBytes views a slice of all-int32 index records as its memory.
func rawBytes[T Resource | Scope | Metric | Item | Attr](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}
