// Package memlimit backs a guest's linear memory with a Go slice that
// refuses to grow past a byte limit and remembers that it refused.
//
// wazero's own WithMemoryLimitPages refuses a memory.grow before any hook
// sees it, so a host cannot tell "the guest ran out of memory" from any
// other trap. Enforcing the limit here instead gives the same guest-visible
// behaviour (memory.grow returns -1) and an exact out-of-memory signal.
package memlimit

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Memory is one instance's linear memory.
type Memory struct {
	limit   uint64
	buf     []byte
	refused atomic.Bool
}

// New returns a memory that never grows past limit bytes.
func New(limit uint64) *Memory { return &Memory{limit: limit} }

// Allocator returns an experimental.MemoryAllocator handing out m. It must
// serve exactly one instantiation.
func (m *Memory) Allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		if capacity > m.limit {
			capacity = m.limit
		}
		m.buf = make([]byte, 0, capacity)
		return m
	})
}

// Reallocate implements experimental.LinearMemory. Bytes past the old
// length are zero, as a fresh page must be: the slice never shrinks, so its
// spare capacity has never been written.
func (m *Memory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically like append, so a guest growing page by page costs
	// amortised O(1) copies, but never reserve past the limit.
	c := uint64(cap(m.buf)) * 2
	if c < size {
		c = size
	}
	if c > m.limit {
		c = m.limit
	}
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *Memory) Free() { m.buf = nil }

// Refused reports whether a grow was refused since the last Reset.
func (m *Memory) Refused() bool { return m.refused.Load() }

// Reset forgets earlier refusals.
func (m *Memory) Reset() { m.refused.Store(false) }
