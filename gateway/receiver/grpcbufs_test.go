package receiver

import "testing"

func TestDirtyBufferPool(t *testing.T) {
	var p dirtyBufferPool
	for _, n := range []int{0, 1, 255, 256, 257, 16 << 10, 1 << 20, 1<<20 + 1, 5 << 20} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		if n <= 1<<20 {
			if c := cap(*b); c&(c-1) != 0 || c < 256 {
				t.Fatalf("Get(%d): capacity %d is not a class", n, c)
			}
		}
		p.Put(b)
	}
	// A buffer put back serves a later Get of its class at the length asked.
	b := p.Get(3000)
	(*b)[0] = 1
	p.Put(b)
	for range 100 { // sync.Pool may drop it; it must never come back wrong
		c := p.Get(4096)
		if len(*c) != 4096 || cap(*c) != 4096 {
			t.Fatalf("Get(4096) after Put: len %d cap %d", len(*c), cap(*c))
		}
		p.Put(c)
	}
	// Buffers of other capacities are not kept.
	odd := make([]byte, 1000)
	p.Put(&odd)
	small := make([]byte, 128)
	p.Put(&small)
	if c := p.Get(100); cap(*c) != 256 {
		t.Fatalf("Get(100): capacity %d, want 256", cap(*c))
	}
}
