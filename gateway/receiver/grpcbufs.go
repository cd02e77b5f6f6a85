package receiver

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// dirtyBufferPool is the buffer pool of the gRPC server: the buffers
// grpc-go reads HTTP/2 data frames into (and decompresses into). Unlike
// grpc-go's default pool it does not zero a buffer it hands out again:
// grpc-go fills every byte of the length it asks for before anyone reads
// it, and what lies past that length is never read. Zeroing every frame
// buffer cost about 4 % of the gateway's CPU at 100k spans/s, the same
// memory bandwidth again as copying the request out.
//
// Buffers are kept in power-of-two classes from 256 B to 1 MiB, as in
// grpc-go's default pool; larger requests for memory are allocated and
// left to the garbage collector.
type dirtyBufferPool struct {
	classes [dirtyMaxShift - dirtyMinShift + 1]sync.Pool
}

const (
	dirtyMinShift = 8
	dirtyMaxShift = 20
)

var _ mem.BufferPool = (*dirtyBufferPool)(nil)

// Get returns a buffer of length n whose contents are whatever the last
// user left.
func (p *dirtyBufferPool) Get(n int) *[]byte {
	shift := max(bits.Len(uint(max(n, 1)-1)), dirtyMinShift)
	if shift > dirtyMaxShift {
		b := make([]byte, n)
		return &b
	}
	if v, ok := p.classes[shift-dirtyMinShift].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<shift)
	return &b
}

// Put keeps buf for reuse when its capacity is one of the classes (every
// buffer Get made is); others are dropped.
func (p *dirtyBufferPool) Put(buf *[]byte) {
	c := cap(*buf)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	shift := bits.Len(uint(c)) - 1
	if shift < dirtyMinShift || shift > dirtyMaxShift {
		return
	}
	p.classes[shift-dirtyMinShift].Put(buf)
}
