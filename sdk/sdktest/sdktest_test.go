package sdktest_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

func header(op, owner byte, target, arg, la, lb uint32) []byte {
	b := []byte{op, owner, 0, 0}
	for _, v := range []uint32{target, arg, la, lb} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func TestDecodeEditsRefusesBadFraming(t *testing.T) {
	ok := append(header(1, 0, 3, 0, 2, 0), 'h', 'i', 0, 0)
	cases := map[string]struct {
		list []byte
		want string
	}{
		"short header":        {ok[:19], "want a 20-byte header"},
		"reserved":            {append(header(2, 0, 0, 0, 0, 0)[:2:2], append([]byte{1, 0}, header(2, 0, 0, 0, 0, 0)[4:]...)...), "reserved bytes"},
		"length past the end": {header(1, 0, 0, 0, 9, 0), "run past"},
		"unpadded":            {ok[:22], "run past"},
		"nonzero padding":     {append(append(header(1, 0, 3, 0, 2, 0), 'h', 'i', 0), 7), "nonzero padding"},
		"reject not alone":    {append(append([]byte(nil), ok...), header(9, 0, 0, 0, 0, 0)...), "want it alone"},
	}
	for name, c := range cases {
		if _, err := sdktest.DecodeEdits(c.list); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	es, err := sdktest.DecodeEdits(ok)
	if err != nil || len(es) != 1 || es[0].String() != `DROP_ITEM item 3 "hi"` {
		t.Errorf("a good list decoded as %v, %v", es, err)
	}
	if got := sdktest.Describe(ok[:19]); len(got) != 1 || !strings.HasPrefix(got[0], "malformed: ") {
		t.Errorf("Describe of a malformed list = %q", got)
	}
}

func TestEditStrings(t *testing.T) {
	cases := []struct {
		e    sdktest.Edit
		want string
	}{
		{sdktest.Edit{Op: sdktest.OpTruncateAttr, Target: 2, Arg: 16}, "TRUNCATE_ATTR attr 2 to 16"},
		{sdktest.Edit{Op: sdktest.OpSetAttr, Owner: 2, Target: 1, A: []byte("k"), B: []byte{0x3a, 0x01, 0xab}}, `SET_ATTR scope 1 "k"=bytes(ab)`},
		{sdktest.Edit{Op: sdktest.OpSetAttr, Owner: 1, A: []byte("k"), B: []byte{0x2a, 0x00}}, `SET_ATTR resource 0 "k"=anyvalue(2a00)`},
		{sdktest.Edit{Op: sdktest.OpSetAttr, Owner: 3, A: []byte("k")}, `SET_ATTR item 0 "k"=empty`},
		{sdktest.Edit{Op: sdktest.OpSetName, Owner: 4, Target: 7, A: []byte("m")}, `SET_NAME metric 7 "m"`},
		{sdktest.Edit{Op: sdktest.OpReplace, A: make([]byte, 12)}, "REPLACE 12 bytes"},
		{sdktest.Edit{Op: sdktest.OpDropMatch, A: []byte("\x03\x03a=b\x04\x00\x00"), B: []byte("r")}, `DROP_MATCH attr "a=b" exists attr ""="" "r"`},
		// Malformed bulk edits render raw rather than guess.
		{sdktest.Edit{Op: sdktest.OpDropMatch, A: []byte{9, 0}}, "DROP_MATCH owner 0 target 0 arg 0 a 0900 b "},
		{sdktest.Edit{Op: sdktest.OpDropMatch, A: []byte{4, 1, 'k'}}, "DROP_MATCH owner 0 target 0 arg 0 a 04016b b "},
		{sdktest.Edit{Op: sdktest.OpDropMatch, A: []byte{6, 1, 'k', 1, 2}}, "DROP_MATCH owner 0 target 0 arg 0 a 06016b0102 b "},
		{sdktest.Edit{Op: sdktest.OpDropMatch}, "DROP_MATCH owner 0 target 0 arg 0 a  b "},
		{sdktest.Edit{Op: sdktest.OpSample, A: []byte{1}}, "SAMPLE owner 0 target 0 arg 0 a 01 b "},
		{sdktest.Edit{Op: sdktest.OpMaskValues, Arg: 5, A: []byte{0}}, "MASK_VALUES owner 0 target 0 arg 5 a 00 b "},
		{sdktest.Edit{Op: sdktest.OpMaskValues, Arg: 2, A: []byte{0, 3, 'k'}}, "MASK_VALUES owner 0 target 0 arg 2 a 00036b b "},
		{sdktest.Edit{Op: 42, Owner: 9, Target: 1}, "OP(42) owner 9 target 1 arg 0 a  b "},
	}
	for _, c := range cases {
		if got := c.e.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestIndexRefusesMalformedRequests(t *testing.T) {
	cases := map[string][]byte{
		"truncated length":   {0x0a, 0x05, 0x12},
		"bad wire type":      {0x0b},
		"resource as varint": {0x08, 0x01},
		"truncated fixed64":  {0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x39, 0x00},
		// resource_spans { scope_spans { spans { trace_id: 3 bytes } } }
		"trace_id of 3 bytes": {0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x0a, 0x03, 1, 2, 3},
	}
	for name, req := range cases {
		if _, err := sdktest.Index(sdk.SignalTraces, req); err == nil {
			t.Errorf("%s: indexed without error", name)
		}
	}
	if _, err := sdktest.Index(7, nil); err == nil {
		t.Error("signal 7 indexed without error")
	}
	idx, err := sdktest.Index(sdk.SignalLogs, nil)
	if err != nil || len(idx) != 52 || binary.LittleEndian.Uint32(idx[4:]) != uint32(sdk.SignalLogs) {
		t.Errorf("empty request: index %x, %v; want a bare logs header", idx, err)
	}
}

func FuzzDecodeEdits(f *testing.F) {
	f.Add(append(header(1, 0, 3, 0, 2, 0), 'h', 'i', 0, 0))
	f.Add(append(header(3, 3, 0, 0, 1, 2), 'k', 0x10, 0x01, 0))
	f.Add(header(9, 0, 0, 0, 0, 0))
	f.Add(append(header(18, 0, 0, 0, 7, 1), 0x04, 0x01, 'k', 0x01, 'v', 0x01, 0x0a, 'r'))
	f.Add(append(header(22, 4, 0, 0x100, 3, 1), 0x00, 0x01, 'k', '*'))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := sdktest.DecodeEdits(b)
		for _, e := range es {
			_ = e.String()
		}
		if err == nil && len(b)%4 != 0 {
			t.Errorf("accepted a list of %d bytes, not a multiple of 4", len(b))
		}
	})
}
