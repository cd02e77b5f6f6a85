// Package bufpool recycles the buffers that carry accepted requests from a
// receiver through the queues to the exporters. A request's bytes are
// shared by every exporter queue (fan-out) and by every piece it is split
// into, so a buffer goes back to the pool only when the last of them is
// done with it: it is reference-counted.
//
// Recycling matters on the hot path: without it every request is a fresh
// allocation of tens of kilobytes, zeroed, then garbage, and the collector
// runs several times a second under load.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

const (
	minShift = 12 // 4 KiB: smaller buffers are cheap enough to allocate
	maxShift = 26 // 64 MiB: larger ones are rare and not worth keeping
)

var pools [maxShift - minShift + 1]sync.Pool

// Buf is a pooled buffer. B has the length asked for; its capacity is the
// size class. Whoever holds a reference must not use B after Release.
type Buf struct {
	B     []byte
	refs  atomic.Int32
	class int8 // index into pools, or -1 when not pooled
}

// Get returns a buffer of length n holding one reference. Its contents are
// not zeroed: the caller overwrites all n bytes.
func Get(n int) *Buf {
	class := classOf(n)
	if class < 0 {
		b := &Buf{B: make([]byte, n), class: -1}
		b.refs.Store(1)
		return b
	}
	if v := pools[class].Get(); v != nil {
		b := v.(*Buf)
		b.B = b.B[:n]
		b.refs.Store(1)
		return b
	}
	b := &Buf{B: make([]byte, n, 1<<(class+minShift)), class: int8(class)}
	b.refs.Store(1)
	return b
}

func classOf(n int) int {
	if n <= 0 {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift < minShift {
		shift = minShift
	}
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Retain adds n references (n >= 0).
func (b *Buf) Retain(n int) {
	if n > 0 {
		b.refs.Add(int32(n))
	}
}

// Release drops one reference; the last one returns the buffer to the pool.
// A nil *Buf is allowed and does nothing, so owners may be optional.
func (b *Buf) Release() {
	if b == nil {
		return
	}
	switch r := b.refs.Add(-1); {
	case r > 0:
	case r == 0 && b.class >= 0:
		pools[b.class].Put(b)
	case r < 0:
		// A double release is a bug in the caller; keeping the buffer out
		// of the pool turns it into garbage instead of shared corruption.
		b.class = -1
	}
}

// Refs is the current reference count, for tests.
func (b *Buf) Refs() int { return int(b.refs.Load()) }
