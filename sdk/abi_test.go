package sdk_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// The worked example of ABI.md §4, written out by hand: one span "login"
// with attributes password="hunter2" (attr 0) and user="bob" (attr 1), no
// resource or scope fields.
func workedExampleRequest() []byte {
	return unhex(
		"0a31" + // resource_spans, 49 bytes                        @0
			"122f" + // scope_spans, 47 bytes                       @2
			"122d" + // spans, 45 bytes                             @4
			"2a05" + hex.EncodeToString([]byte("login")) + // name  @6, bytes 8..13
			"4a15" + // attributes[0], 21 bytes                     @13
			"0a08" + hex.EncodeToString([]byte("password")) + // key 17..25
			"1209" + "0a07" + hex.EncodeToString([]byte("hunter2")) + // value 29..36
			"4a0d" + // attributes[1], 13 bytes                     @36
			"0a04" + hex.EncodeToString([]byte("user")) + // key 40..44
			"1205" + "0a03" + hex.EncodeToString([]byte("bob"))) // value 48..51
}

// workedExampleIndex is the request's index per ABI.md §3, by hand.
func workedExampleIndex() []byte {
	return u32s(
		// header: version, signal, items, resources, scopes, metrics,
		// n_items, attrs, then the five table offsets
		1, 0, 1, 1, 1, 0, 1, 2, 52, 92, 136, 136, 176,
		// resource 0: off end res_off res_end scopes attrs items
		0, 51, 0, 0, 0, 1, 0, 0, 0, 1,
		// scope 0: off end scope_off scope_end resource attrs items metrics
		2, 51, 0, 0, 0, 0, 0, 0, 1, 0, 0,
		// item 0: off end resource scope metric attrs name trace_id_off
		4, 51, 0, 0, -1, 0, 2, 8, 13, 0,
		// attr 0, attr 1: off end owner parent key val_type val
		13, 36, 3, 0, 17, 25, 1, 29, 36,
		36, 51, 3, 0, 40, 44, 1, 48, 51,
	)
}

func TestWorkedExampleIndex(t *testing.T) {
	req := workedExampleRequest()
	if len(req) != 51 {
		t.Fatalf("request is %d bytes, want 51", len(req))
	}
	got, err := sdktest.Index(sdk.SignalTraces, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := workedExampleIndex(); !bytes.Equal(got, want) {
		t.Fatalf("sdktest.Index:\n got %x\nwant %x", got, want)
	}
}

func TestWorkedExampleViews(t *testing.T) {
	req, idx := workedExampleRequest(), workedExampleIndex()
	var seen []string
	sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		if tr.Len() != 1 {
			t.Errorf("Len = %d, want 1", tr.Len())
		}
		s := tr.Span(0)
		seen = append(seen, "name="+s.Name())
		for k, v := range s.Attributes().All() {
			seen = append(seen, k+"="+v.Str())
		}
		if s.Scope().Name() != "" || s.Resource().Attributes().Len() != 0 {
			t.Errorf("scope %q, resource attrs %d: want none", s.Scope().Name(), s.Resource().Attributes().Len())
		}
	}}, sdk.SignalTraces, req, idx)
	if got, want := strings.Join(seen, " "), "name=login password=hunter2 user=bob"; got != want {
		t.Errorf("views read %q, want %q", got, want)
	}
}

func TestWorkedExampleEdits(t *testing.T) {
	redact := sdk.Filter{Traces: func(tr *sdk.Traces) {
		for s := range tr.Spans() {
			if s.Attributes().Delete("password") {
				s.SetName("redacted")
			}
		}
	}}
	edits, _ := sdktest.RunFilter(redact, sdk.SignalTraces, workedExampleRequest(), workedExampleIndex())
	// ABI.md lists these bytes (and calls them 44 bytes; two 20-byte
	// headers and 8 bytes of name are 48).
	want := unhex(
		"02000000" + "00000000" + "00000000" + "00000000" + "00000000" + // DELETE_ATTR attr 0
			"06030000" + "00000000" + "00000000" + "08000000" + "00000000" + // SET_NAME item 0, len_a 8
			hex.EncodeToString([]byte("redacted")))
	if !bytes.Equal(edits, want) {
		t.Fatalf("edits:\n got %x\nwant %x", edits, want)
	}
	if got := sdktest.Describe(edits); strings.Join(got, "; ") != `DELETE_ATTR attr 0; SET_NAME item 0 "redacted"` {
		t.Errorf("Describe = %q", got)
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func u32s(vs ...int32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}
