package receiver

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
)

func zlibBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func snappyBlock(b []byte) []byte { return snappy.Encode(nil, b) }

func snappyFramed(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := snappy.NewBufferedWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTTPDeflateZlibAndSnappyBodies(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	pb := marshal(t, traceRequest())
	js := toJSON(t, otlpwire.Traces)
	fromJS := jsonToProto(t, otlpwire.Traces, js)
	cases := []struct {
		name, enc, ct string
		body, want    []byte
	}{
		{"deflate protobuf", "deflate", ctProtobuf, zlibBytes(t, pb), pb},
		{"zlib protobuf", "zlib", ctProtobuf, zlibBytes(t, pb), pb},
		{"deflate JSON", "deflate", ctJSON, zlibBytes(t, js), fromJS},
		{"snappy block protobuf", "snappy", ctProtobuf, snappyBlock(pb), pb},
		{"snappy block JSON", "snappy", ctJSON, snappyBlock(js), fromJS},
		// Senders from before the Collector's switch to the block format.
		{"snappy framed sent as snappy", "snappy", ctProtobuf, snappyFramed(t, pb), pb},
		{"x-snappy-framed", "x-snappy-framed", ctProtobuf, snappyFramed(t, pb), pb},
		{"empty snappy block", "snappy", ctProtobuf, snappyBlock(nil), nil},
	}
	for _, tc := range cases {
		if res := f.post(t, "/v1/traces", tc.ct, tc.enc, bytes.NewReader(tc.body)); res.code != 200 {
			t.Errorf("%s: %d %q", tc.name, res.code, res.body)
		}
	}
	got := c.requests()
	if len(got) != len(cases) {
		t.Fatalf("consumer saw %d requests, want %d", len(got), len(cases))
	}
	for i, tc := range cases {
		if !bytes.Equal(got[i].req, tc.want) {
			t.Errorf("%s: consumer got other bytes than were sent", tc.name)
		}
	}
	for _, enc := range []string{"deflate", "zlib", "snappy", "x-snappy-framed"} {
		if res := f.post(t, "/v1/traces", ctProtobuf, enc, bytes.NewReader([]byte("\xff\xffnot compressed at all"))); res.code != 400 {
			t.Errorf("corrupt %s: %d, want 400", enc, res.code)
		}
	}
	if n := refusedCount(t, f.metrics, "traces", "http", "invalid"); n != 4 {
		t.Errorf("refused{invalid} = %v, want 4", n)
	}
}

// snappyLiar is a snappy block whose header claims n decoded bytes.
func snappyLiar(n uint64) []byte {
	b := binary.AppendUvarint(nil, n)
	return append(b, 0x00, 'x') // a one-byte literal
}

func TestHTTPDeflateAndSnappyBombsAre413(t *testing.T) {
	const limit = 1 << 20
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, limit)
	const inflated = 16 * limit
	zl := zlibBytes(t, make([]byte, inflated))
	// A framed stream is chunks of at most 64 KiB: one chunk of zeros,
	// repeated, inflates as far as wanted without compressing it all.
	chunk := snappyFramed(t, make([]byte, 64<<10))[len(snappyStreamID):]
	framed := append(append([]byte(nil), snappyStreamID...), bytes.Repeat(chunk, inflated/(64<<10))...)
	bombs := []struct {
		name, enc string
		body      []byte
	}{
		{"deflate", "deflate", zl},
		{"zlib", "zlib", zl},
		// The block format has no streaming decoder; its header is
		// checked before decoding, so 4x the limit shows the same.
		{"snappy block", "snappy", snappyBlock(make([]byte, 4*limit))},
		{"snappy block claiming 2 GiB", "snappy", snappyLiar(2 << 30)},
		{"snappy framed sent as snappy", "snappy", framed},
		{"x-snappy-framed", "x-snappy-framed", framed},
	}
	for _, b := range bombs {
		if len(b.body) >= limit {
			t.Fatalf("%s bomb is %d bytes on the wire; it must fit under the %d limit to test inflation", b.name, len(b.body), limit)
		}
		// Warm the pooled decoder: its window is a fixed cost per decoder.
		if res := f.post(t, "/v1/logs", ctProtobuf, b.enc, bytes.NewReader(encodeFor(t, b.enc, marshal(t, logsRequest())))); res.code != 200 {
			t.Fatalf("%s warm-up: %d", b.name, res.code)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := f.post(t, "/v1/logs", ctProtobuf, b.enc, bytes.NewReader(b.body))
		runtime.ReadMemStats(&after)
		if res.code != 413 {
			t.Errorf("%s bomb: %d, want 413", b.name, res.code)
			continue
		}
		if st := statusOf(t, res); st.GetMessage() == "" {
			t.Errorf("%s bomb: 413 without a Status message", b.name)
		}
		// The output grown by doubling up to the limit (2x), the
		// compressed copy and decoder buffers: a few times the limit,
		// where inflating the whole bomb would take 16x.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s bomb (%d KiB on the wire): %d KiB allocated", b.name, len(b.body)>>10, alloc>>10)
		if alloc > 5*limit {
			t.Errorf("%s bomb: allocated %d KiB while refusing it; want < %d KiB", b.name, alloc>>10, 5*limit>>10)
		}
	}
	if n := len(c.requests()); n != len(bombs) {
		t.Errorf("consumer saw %d requests, want only the %d warm-ups", n, len(bombs))
	}
	if n := refusedCount(t, f.metrics, "logs", "http", "too_large"); n != float64(len(bombs)) {
		t.Errorf("refused{too_large} = %v, want %d", n, len(bombs))
	}
	// Exactly at the limit is fine, in every format.
	atLimit := make([]byte, limit)
	for _, enc := range []string{"deflate", "snappy", "x-snappy-framed"} {
		if res := f.post(t, "/v1/traces", ctProtobuf, enc, bytes.NewReader(encodeFor(t, enc, atLimit))); res.code != 200 {
			t.Errorf("%s body of exactly the limit: %d, want 200", enc, res.code)
		}
	}
}

func encodeFor(t testing.TB, enc string, b []byte) []byte {
	switch enc {
	case "deflate", "zlib":
		return zlibBytes(t, b)
	case "snappy":
		return snappyBlock(b)
	case "x-snappy-framed":
		return snappyFramed(t, b)
	}
	t.Fatalf("no encoder for %s", enc)
	return nil
}
