package otlpwire

import (
	"bytes"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestConcatenationIsAppend proves the claim batching rests on: two encoded
// requests appended are one request holding both, for every signal.
func TestConcatenationIsAppend(t *testing.T) {
	pairs := []struct {
		sig  Signal
		a, b proto.Message
	}{
		{Traces, makeTraces(2, 1, 3, 2), makeTraces(1, 2, 2, 1)},
		{Metrics, makeMetrics(1, 1, 2), makeMetrics(2, 1, 1)},
		{Logs, makeLogs(1, 2, 3, 1), makeLogs(3, 1, 1, 0)},
	}
	for _, p := range pairs {
		a, b := mustMarshal(t, p.a), mustMarshal(t, p.b)
		joined := append(append([]byte(nil), a...), b...)
		got := newRequest(p.sig)
		if err := proto.Unmarshal(joined, got); err != nil {
			t.Fatalf("%s: concatenation does not decode: %v", p.sig, err)
		}
		// The expected message: b's resources appended after a's.
		want := proto.Clone(p.a)
		proto.Merge(want, p.b)
		if !proto.Equal(got, want) {
			t.Fatalf("%s: concatenation decodes to something other than both requests in order", p.sig)
		}
		var ix Index
		if err := ix.Parse(p.sig, joined); err != nil {
			t.Fatal(err)
		}
		if ix.Items != countGenerated(p.a)+countGenerated(p.b) {
			t.Fatalf("%s: %d items in the concatenation, want %d", p.sig, ix.Items, countGenerated(p.a)+countGenerated(p.b))
		}
	}
}

// resourceSizes is a request whose resources have the given span counts, with
// an unknown top-level field before, between and after them.
func resourceSizes(t *testing.T, spans ...int) []byte {
	var req []byte
	req = append(req, varintField(9, 1)...)
	for i, n := range spans {
		r := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{makeTraces(1, 1, n, i%3).ResourceSpans[0]}}
		req = append(req, mustMarshal(t, r)...)
		req = append(req, fld(15, []byte("unknown"))...)
	}
	return req
}

func TestSplit(t *testing.T) {
	cases := []struct {
		name               string
		sig                Signal
		req                []byte
		maxItems, maxBytes int
		pieces             int // -1: more than one, count not worked out by hand
	}{
		{"no limits", Traces, resourceSizes(t, 3, 1, 4), 0, 0, 1},
		{"items limit", Traces, resourceSizes(t, 3, 1, 4, 2, 2, 5, 1), 5, 0, 5}, // 3+1 | 4 | 2+2 | 5 | 1
		{"items limit 1", Traces, resourceSizes(t, 1, 1, 1, 2, 0, 1), 1, 0, 5},  // 1 | 1 | 1 | 2+0 | 1
		{"bytes limit", Traces, resourceSizes(t, 3, 1, 4, 2, 2, 5, 1), 0, 1500, -1},
		{"both limits", Traces, resourceSizes(t, 3, 1, 4, 2, 2, 5, 1, 7, 1), 6, 2000, -1},
		{"oversized resources stay whole", Traces, resourceSizes(t, 50, 1, 60), 10, 100, 3},
		{"tiny byte limit", Traces, resourceSizes(t, 1, 1, 1), 0, 1, 3},
		{"metrics", Metrics, mustMarshal(t, makeMetrics(5, 1, 2)), 12, 0, 5}, // 10 points per resource
		{"logs", Logs, mustMarshal(t, makeLogs(6, 2, 2, 1)), 0, 2500, -1},
		{"only unknown fields", Logs, varintField(3, 3), 1, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ix Index
			if err := ix.Parse(tc.sig, tc.req); err != nil {
				t.Fatal(err)
			}
			pieces := Split(&ix, tc.req, tc.maxItems, tc.maxBytes, nil)
			if !bytes.Equal(bytes.Join(pieces, nil), tc.req) {
				t.Fatalf("pieces do not concatenate back to the request")
			}
			if tc.pieces > 0 && len(pieces) != tc.pieces || tc.pieces < 0 && len(pieces) < 2 {
				t.Fatalf("%d pieces, want %d", len(pieces), tc.pieces)
			}
			total := 0
			var pix Index
			for k, p := range pieces {
				if cap(p) != len(p) {
					t.Fatalf("piece %d has spare capacity %d: appending to it would clobber the next", k, cap(p)-len(p))
				}
				if err := pix.Parse(tc.sig, p); err != nil {
					t.Fatalf("piece %d is not a valid request: %v", k, err)
				}
				if err := proto.Unmarshal(p, newRequest(tc.sig)); err != nil {
					t.Fatalf("piece %d does not decode: %v", k, err)
				}
				total += pix.Items
				single := len(pix.Resources) <= 1
				if !single && (tc.maxItems > 0 && pix.Items > tc.maxItems || tc.maxBytes > 0 && len(p) > tc.maxBytes) {
					t.Fatalf("piece %d: %d items, %d bytes over limits %d/%d with %d resources", k, pix.Items, len(p), tc.maxItems, tc.maxBytes, len(pix.Resources))
				}
				if len(ix.Resources) > 0 && len(pix.Resources) == 0 {
					t.Fatalf("piece %d holds no resource", k)
				}
				// Greedy: the next piece's first resource did not fit into this one.
				if k+1 < len(pieces) {
					var next Index
					if err := next.Parse(tc.sig, pieces[k+1]); err != nil {
						t.Fatal(err)
					}
					r := next.Resources[0]
					nextEnd := len(pieces[k+1])
					if len(next.Resources) > 1 {
						nextEnd = int(next.Resources[1].Off)
					}
					fitsItems := tc.maxItems <= 0 || pix.Items+int(r.ItemEnd-r.ItemStart) <= tc.maxItems
					fitsBytes := tc.maxBytes <= 0 || len(p)+nextEnd <= tc.maxBytes
					if fitsItems && fitsBytes {
						t.Fatalf("piece %d was cut although the next resource fits", k)
					}
				}
			}
			if total != ix.Items {
				t.Fatalf("pieces hold %d items, request %d", total, ix.Items)
			}
		})
	}
}

func TestSplitEmptyAndAppendsToDst(t *testing.T) {
	var ix Index
	if got := Split(&ix, nil, 1, 1, nil); len(got) != 0 {
		t.Fatalf("empty request gave %d pieces", len(got))
	}
	req := resourceSizes(t, 2, 2)
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	dst := [][]byte{[]byte("keep")}
	got := Split(&ix, req, 2, 0, dst)
	if len(got) != 3 || string(got[0]) != "keep" {
		t.Fatalf("Split did not append to dst: %d pieces", len(got))
	}
}

func TestSplitReusedDstDoesNotAllocate(t *testing.T) {
	req := resourceSizes(t, 1, 2, 3, 4, 5)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	dst := make([][]byte, 0, 8)
	if a := testing.AllocsPerRun(20, func() { dst = Split(&ix, req, 3, 0, dst[:0]) }); a != 0 {
		t.Fatalf("Split allocates %.1f times with room in dst", a)
	}
	if len(dst) != 4 { // 1+2 | 3 | 4 | 5
		t.Fatalf("%d pieces, want 4", len(dst))
	}
}
