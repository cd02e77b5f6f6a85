package otlpwire

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// abiFields lists, per ABI record, the Go field names in the order
// sdk/ABI.md §3 gives them (off end res_off res_end ... ).
var abiFields = []struct {
	typ    reflect.Type
	size   uintptr
	fields []string
}{
	{reflect.TypeFor[Resource](), 40, []string{"Off", "End", "ResOff", "ResEnd", "ScopeStart", "ScopeEnd", "AttrStart", "AttrEnd", "ItemStart", "ItemEnd"}},
	{reflect.TypeFor[Scope](), 44, []string{"Off", "End", "ScopeOff", "ScopeEnd", "Resource", "AttrStart", "AttrEnd", "ItemStart", "ItemEnd", "MetricStart", "MetricEnd"}},
	{reflect.TypeFor[Metric](), 40, []string{"Off", "End", "Scope", "Type", "DataOff", "DataEnd", "NameOff", "NameEnd", "ItemStart", "ItemEnd"}},
	{reflect.TypeFor[Item](), 40, []string{"Off", "End", "Resource", "Scope", "Metric", "AttrStart", "AttrEnd", "NameOff", "NameEnd", "TraceIDOff"}},
	{reflect.TypeFor[Attr](), 36, []string{"Off", "End", "Owner", "Parent", "KeyOff", "KeyEnd", "ValType", "ValOff", "ValEnd"}},
}

func TestABIFieldOffsets(t *testing.T) {
	for _, rec := range abiFields {
		if rec.typ.Size() != rec.size {
			t.Errorf("%s is %d bytes, ABI record is %d", rec.typ.Name(), rec.typ.Size(), rec.size)
		}
		if rec.typ.NumField() != len(rec.fields) {
			t.Errorf("%s has %d fields, ABI record has %d", rec.typ.Name(), rec.typ.NumField(), len(rec.fields))
			continue
		}
		for k, name := range rec.fields {
			f := rec.typ.Field(k)
			if f.Name != name || f.Offset != uintptr(4*k) || f.Type.Kind() != reflect.Int32 {
				t.Errorf("%s field %d is %s %s at %d, ABI wants int32 %s at %d", rec.typ.Name(), k, f.Name, f.Type, f.Offset, name, 4*k)
			}
		}
	}
}

// abiRecord reads the i32 fields of one record from the ABI bytes.
func abiRecord(b []byte, off, n int) []int32 {
	out := make([]int32, n)
	for k := range out {
		out[k] = int32(binary.LittleEndian.Uint32(b[off+4*k:]))
	}
	return out
}

func equalInt32s(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendABIFieldByField(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			req := mustMarshal(t, s.msg)
			var ix Index
			if err := ix.Parse(s.sig, req); err != nil {
				t.Fatal(err)
			}
			// The host writes the index right after the request, so offsets
			// must count from the header, not from dst[0].
			prefix := []byte("request bytes first")
			out := ix.AppendABI(append([]byte(nil), prefix...))
			if string(out[:len(prefix)]) != string(prefix) {
				t.Fatal("AppendABI overwrote dst's contents")
			}
			b := out[len(prefix):]
			if len(b) != ix.ABISize() {
				t.Fatalf("wrote %d bytes, ABISize says %d", len(b), ix.ABISize())
			}
			h := abiRecord(b, 0, 13)
			nr, ns, nm, ni, na := len(ix.Resources), len(ix.Scopes), len(ix.Metrics), len(ix.ItemsAt), len(ix.Attrs)
			wantHeader := []int32{1, int32(s.sig), int32(ix.Items), int32(nr), int32(ns), int32(nm), int32(ni), int32(na),
				52, int32(52 + 40*nr), int32(52 + 40*nr + 44*ns), int32(52 + 40*nr + 44*ns + 40*nm), int32(52 + 40*nr + 44*ns + 40*nm + 40*ni)}
			if !equalInt32s(h, wantHeader) {
				t.Fatalf("header %v, want %v", h, wantHeader)
			}
			if s.sig != Metrics && nm != 0 {
				t.Fatalf("n_metrics %d for %s", nm, s.sig)
			}
			for k, r := range ix.Resources {
				got := abiRecord(b, int(h[8])+40*k, 10)
				want := []int32{r.Off, r.End, r.ResOff, r.ResEnd, r.ScopeStart, r.ScopeEnd, r.AttrStart, r.AttrEnd, r.ItemStart, r.ItemEnd}
				if !equalInt32s(got, want) {
					t.Errorf("resource %d: %v, want %v", k, got, want)
				}
			}
			for k, sc := range ix.Scopes {
				got := abiRecord(b, int(h[9])+44*k, 11)
				want := []int32{sc.Off, sc.End, sc.ScopeOff, sc.ScopeEnd, sc.Resource, sc.AttrStart, sc.AttrEnd, sc.ItemStart, sc.ItemEnd, sc.MetricStart, sc.MetricEnd}
				if !equalInt32s(got, want) {
					t.Errorf("scope %d: %v, want %v", k, got, want)
				}
			}
			for k, m := range ix.Metrics {
				got := abiRecord(b, int(h[10])+40*k, 10)
				want := []int32{m.Off, m.End, m.Scope, int32(m.Type), m.DataOff, m.DataEnd, m.NameOff, m.NameEnd, m.ItemStart, m.ItemEnd}
				if !equalInt32s(got, want) {
					t.Errorf("metric %d: %v, want %v", k, got, want)
				}
			}
			for k, it := range ix.ItemsAt {
				got := abiRecord(b, int(h[11])+40*k, 10)
				want := []int32{it.Off, it.End, it.Resource, it.Scope, it.Metric, it.AttrStart, it.AttrEnd, it.NameOff, it.NameEnd, it.TraceIDOff}
				if !equalInt32s(got, want) {
					t.Errorf("item %d: %v, want %v", k, got, want)
				}
			}
			for k, a := range ix.Attrs {
				got := abiRecord(b, int(h[12])+36*k, 9)
				want := []int32{a.Off, a.End, int32(a.Owner), a.Parent, a.KeyOff, a.KeyEnd, int32(a.ValType), a.ValOff, a.ValEnd}
				if !equalInt32s(got, want) {
					t.Errorf("attr %d: %v, want %v", k, got, want)
				}
			}
		})
	}
}

// TestAppendABIKnownBytes pins the layout to literal bytes for a one-span
// request, so a change in both the code and the struct cannot go unseen.
func TestAppendABIKnownBytes(t *testing.T) {
	// resource_spans { scope_spans { spans { name "ab" attributes { key "k" } } } }
	span := raw(fld(5, []byte("ab")), fld(9, fld(1, []byte("k"))))
	req := wrap(span)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	b := ix.AppendABI(nil)
	u := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	var want []byte
	for _, v := range []uint32{1, 0, 1, 1, 1, 0, 1, 1, 52, 92, 136, 136, 176} {
		want = append(want, u(v)...)
	}
	// req: 0a 0d | 12 0b | 12 09 | 2a 02 'a' 'b' | 4a 03 0a 01 'k', 15 bytes.
	for _, v := range []int32{0, 15, 0, 0, 0, 1, 0, 0, 0, 1} { // resource
		want = append(want, u(uint32(v))...)
	}
	for _, v := range []int32{2, 15, 0, 0, 0, 0, 0, 0, 1, 0, 0} { // scope
		want = append(want, u(uint32(v))...)
	}
	for _, v := range []int32{4, 15, 0, 0, -1, 0, 1, 8, 10, 0} { // item
		want = append(want, u(uint32(v))...)
	}
	for _, v := range []int32{10, 15, 3, 0, 14, 15, 0, 0, 0} { // attr
		want = append(want, u(uint32(v))...)
	}
	if string(b) != string(want) {
		t.Fatalf("req % x\nindex % x\nwant  % x", req, b, want)
	}
}

func TestAppendABINoAllocs(t *testing.T) {
	var ix Index
	if err := ix.Parse(Metrics, mustMarshal(t, makeMetrics(2, 2, 3))); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, ix.ABISize())
	if n := testing.AllocsPerRun(100, func() { dst = ix.AppendABI(dst[:0]) }); n != 0 {
		t.Fatalf("AppendABI allocates %.1f times per call with room in dst", n)
	}
}

func BenchmarkAppendABI(b *testing.B) {
	var ix Index
	if err := ix.Parse(Traces, mustMarshal(b, benchSpans(1, 100))); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, ix.ABISize())
	b.SetBytes(int64(ix.ABISize()))
	b.ReportAllocs()
	for b.Loop() {
		dst = ix.AppendABI(dst[:0])
	}
	perSpan(b, 100)
}
