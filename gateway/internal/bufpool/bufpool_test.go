package bufpool

import (
	"sync"
	"testing"
)

func TestGetLengthAndClass(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 100_000, 64 << 20} {
		b := Get(n)
		if len(b.B) != n || b.Refs() != 1 {
			t.Fatalf("Get(%d): len %d refs %d", n, len(b.B), b.Refs())
		}
		if cap(b.B) < n {
			t.Fatalf("Get(%d): cap %d", n, cap(b.B))
		}
		b.Release()
	}
	if b := Get(64<<20 + 1); b.class != -1 {
		t.Fatal("a buffer over the largest class is pooled")
	}
}

func TestLastReleaseRecycles(t *testing.T) {
	b := Get(10_000)
	b.Retain(2)
	b.Release()
	b.Release()
	if b.Refs() != 1 {
		t.Fatalf("refs = %d, want 1", b.Refs())
	}
	b.Release()
	if b.Refs() != 0 {
		t.Fatalf("refs = %d after the last release", b.Refs())
	}
}

func TestDoubleReleaseNeverReturnsToPool(t *testing.T) {
	b := Get(10_000)
	b.Release()
	b.Release() // a caller bug: must not put the buffer in the pool twice
	if b.class != -1 {
		t.Fatal("a buffer released too often stays poolable")
	}
}

func TestNilRelease(t *testing.T) {
	var b *Buf
	b.Release()
}

// TestConcurrentSharing checks that a buffer is never handed out again
// while a holder still has a reference: each owner stamps the buffer and
// every holder checks the stamp before releasing.
func TestConcurrentSharing(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				b := Get(5000 + i)
				stamp := byte(g*31 + i)
				for k := range b.B {
					b.B[k] = stamp
				}
				b.Retain(3)
				var inner sync.WaitGroup
				for range 4 {
					inner.Add(1)
					go func() {
						defer inner.Done()
						if b.B[0] != stamp || b.B[len(b.B)-1] != stamp {
							t.Errorf("buffer reused while still referenced")
						}
						b.Release()
					}()
				}
				inner.Wait()
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGetRelease(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Get(54_000).Release()
	}
}
