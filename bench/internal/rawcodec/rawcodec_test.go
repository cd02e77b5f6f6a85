package rawcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
)

type recorder struct{ got []byte }

func (r *recorder) Walk(b []byte) error { r.got = append([]byte(nil), b...); return nil }

func TestMarshalPassesBytesThroughWithoutCopying(t *testing.T) {
	b := []byte("encoded")
	for _, v := range []any{b, &b} {
		out, err := Codec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || &out[0].ReadOnlyData()[0] != &b[0] {
			t.Fatalf("Marshal(%T) did not hand over the caller's slice", v)
		}
	}
	if _, err := (Codec{}).Marshal("not bytes"); err == nil {
		t.Fatal("Marshal accepted a string")
	}
}

func TestUnmarshalJoinsBuffersForTheWalker(t *testing.T) {
	for name, data := range map[string]mem.BufferSlice{
		"one buffer":    {mem.SliceBuffer("abcdef")},
		"three buffers": {mem.SliceBuffer("ab"), mem.SliceBuffer("cd"), mem.SliceBuffer("ef")},
	} {
		t.Run(name, func(t *testing.T) {
			var r recorder
			if err := (Codec{}).Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.got, []byte("abcdef")) {
				t.Fatalf("walker saw %q, want %q", r.got, "abcdef")
			}
		})
	}
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer("x")}, new([]byte)); err == nil {
		t.Fatal("Unmarshal into a non-Walker succeeded")
	}
}
