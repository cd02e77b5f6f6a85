package memlimit

import "testing"

func TestMemory(t *testing.T) {
	m := New(4 << 16)
	lm := m.Allocator().Allocate(1<<16, 1<<32)
	b := lm.Reallocate(1 << 16)
	if len(b) != 1<<16 {
		t.Fatalf("initial %d bytes", len(b))
	}
	b[100] = 7
	b = lm.Reallocate(3 << 16)
	if len(b) != 3<<16 || b[100] != 7 || b[2<<16] != 0 {
		t.Fatalf("grow: %d bytes, kept %d, new page %d", len(b), b[100], b[2<<16])
	}
	if m.Refused() {
		t.Fatal("refused within the limit")
	}
	if lm.Reallocate(5<<16) != nil || !m.Refused() {
		t.Fatal("grew past the limit, or did not remember refusing")
	}
	if b := lm.Reallocate(4 << 16); len(b) != 4<<16 || b[100] != 7 {
		t.Fatal("could not grow up to the limit after a refusal")
	}
	m.Reset()
	if m.Refused() {
		t.Fatal("Reset did not forget")
	}
	lm.Free()
}
