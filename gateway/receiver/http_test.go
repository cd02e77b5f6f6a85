package receiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

type httpFixture struct {
	r       *HTTP
	metrics *telemetry.Metrics
	client  *http.Client
	base    string
}

func startHTTP(t *testing.T, c pipeline.Consumer, limit config.Size) *httpFixture {
	t.Helper()
	m := telemetry.NewMetrics()
	r := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0", MaxRequestBodySize: limit}, c, Settings{Metrics: m})
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &httpFixture{r: r, metrics: m, client: &http.Client{Transport: tr}, base: "http://" + r.Addr().String()}
}

type httpResult struct {
	code   int
	header http.Header
	body   []byte
}

func (f *httpFixture) post(t *testing.T, path, contentType, contentEncoding string, body io.Reader) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	return f.do(t, req)
}

func (f *httpFixture) do(t *testing.T, req *http.Request) httpResult {
	t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{code: resp.StatusCode, header: resp.Header, body: b}
}

func pathOf(sig otlpwire.Signal) string { return "/v1/" + sig.String() }

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statusOf decodes a google.rpc.Status error body in the encoding the
// response's Content-Type names.
func statusOf(t *testing.T, res httpResult) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	switch ct := res.header.Get("Content-Type"); ct {
	case ctJSON:
		if err := protojson.Unmarshal(res.body, st); err != nil {
			t.Fatalf("JSON Status body %q: %v", res.body, err)
		}
	case ctProtobuf:
		if err := proto.Unmarshal(res.body, st); err != nil {
			t.Fatalf("protobuf Status body: %v", err)
		}
	default:
		t.Fatalf("error body Content-Type %q", ct)
	}
	return st
}

func toJSON(t *testing.T, sig otlpwire.Signal) []byte {
	t.Helper()
	b, err := otlpwire.ProtoToJSON(sig, marshal(t, requestFor(sig)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonToProto(t *testing.T, sig otlpwire.Signal, js []byte) []byte {
	t.Helper()
	b, err := otlpwire.JSONToProto(sig, js)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHTTPExportProtobufAndJSON(t *testing.T) {
	for _, partial := range []bool{false, true} {
		out := pipeline.Outcome{Accepted: 1}
		if partial {
			out = pipeline.Outcome{Accepted: 1, Rejected: 2, Message: "filter[sample]: 2 dropped"}
		}
		c := &recordingConsumer{out: out}
		f := startHTTP(t, c, 0)
		for _, sig := range otlpwire.Signals {
			// protobuf
			res := f.post(t, pathOf(sig), "application/x-protobuf", "", bytes.NewReader(marshal(t, requestFor(sig))))
			if res.code != 200 || res.header.Get("Content-Type") != ctProtobuf {
				t.Fatalf("%s protobuf: %d %q %q", sig, res.code, res.header.Get("Content-Type"), res.body)
			}
			resp := newResponseFor(sig)
			if err := proto.Unmarshal(res.body, resp); err != nil {
				t.Fatalf("%s: response: %v", sig, err)
			}
			if rej, msg := partialOf(resp); rej != out.Rejected || msg != out.Message {
				t.Errorf("%s protobuf: partial success (%d, %q), want (%d, %q)", sig, rej, msg, out.Rejected, out.Message)
			}
			// JSON, with a charset parameter that must be ignored
			res = f.post(t, pathOf(sig), "application/json; charset=utf-8", "", bytes.NewReader(toJSON(t, sig)))
			if res.code != 200 || res.header.Get("Content-Type") != ctJSON {
				t.Fatalf("%s JSON: %d %q %q", sig, res.code, res.header.Get("Content-Type"), res.body)
			}
			resp = newResponseFor(sig)
			if err := protojson.Unmarshal(res.body, resp); err != nil {
				t.Fatalf("%s: JSON response %q: %v", sig, res.body, err)
			}
			if rej, msg := partialOf(resp); rej != out.Rejected || msg != out.Message {
				t.Errorf("%s JSON: partial success (%d, %q), want (%d, %q)", sig, rej, msg, out.Rejected, out.Message)
			}
		}
		got := c.requests()
		if len(got) != 6 {
			t.Fatalf("consumer saw %d requests, want 6", len(got))
		}
		for i, r := range got {
			sig := otlpwire.Signals[i/2]
			if r.sig != sig {
				t.Errorf("request %d: signal %s, want %s", i, r.sig, sig)
			}
			want := marshal(t, requestFor(sig))
			if i%2 == 1 {
				// JSON arrives as otlpwire's protobuf conversion of it.
				want = jsonToProto(t, sig, toJSON(t, sig))
			}
			if !bytes.Equal(r.req, want) {
				t.Errorf("request %d (%s): consumer got other bytes than were sent", i, sig)
			}
		}
		for _, sig := range otlpwire.Signals {
			// Accepted counts every item taken on, filter-dropped ones included.
			if want := float64(2 * (out.Accepted + out.Rejected)); acceptedCount(t, f.metrics, sig.String(), "http") != want {
				t.Errorf("%s: accepted = %v, want %v", sig, acceptedCount(t, f.metrics, sig.String(), "http"), want)
			}
			if n := requestsCount(t, f.metrics, sig.String(), "http", "200"); n != 2 {
				t.Errorf("%s: requests{200} = %v, want 2", sig, n)
			}
		}
	}
}

func TestHTTPErrorStatuses(t *testing.T) {
	for _, tc := range errorCases() {
		for _, asJSON := range []bool{false, true} {
			name := tc.name + "/protobuf"
			if asJSON {
				name = tc.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				f := startHTTP(t, &recordingConsumer{err: tc.err}, 0)
				var res httpResult
				if asJSON {
					res = f.post(t, "/v1/traces", "application/json", "", bytes.NewReader(toJSON(t, otlpwire.Traces)))
				} else {
					res = f.post(t, "/v1/traces", "application/x-protobuf", "", bytes.NewReader(marshal(t, traceRequest())))
				}
				if res.code != tc.httpCode {
					t.Fatalf("status = %d, want %d (%q)", res.code, tc.httpCode, res.body)
				}
				wantCT := ctProtobuf
				if asJSON {
					wantCT = ctJSON
				}
				if ct := res.header.Get("Content-Type"); ct != wantCT {
					t.Errorf("Content-Type = %q, want %q", ct, wantCT)
				}
				st := statusOf(t, res)
				if !strings.Contains(st.GetMessage(), tc.msgHas) {
					t.Errorf("Status.message %q does not contain %q", st.GetMessage(), tc.msgHas)
				}
				if tc.msgHasNot != "" && strings.Contains(st.GetMessage(), tc.msgHasNot) {
					t.Errorf("Status.message %q leaks %q", st.GetMessage(), tc.msgHasNot)
				}
				if got := grpcCodeLabel(int(st.GetCode())); got != tc.grpcCode {
					t.Errorf("Status.code = %s, want %s", got, tc.grpcCode)
				}
				ra := res.header.Get("Retry-After")
				switch {
				case tc.retryAfter == 0 && ra != "":
					t.Errorf("Retry-After %q on %d", ra, res.code)
				case tc.retryAfter != 0 && ra != retryAfterSeconds(tc.retryAfter):
					t.Errorf("Retry-After = %q, want %q", ra, retryAfterSeconds(tc.retryAfter))
				}
				if n := requestsCount(t, f.metrics, "traces", "http", httpCodeLabel(tc.httpCode)); n != 1 {
					t.Errorf("requests{%d} = %v, want 1", tc.httpCode, n)
				}
				if n := refusedCount(t, f.metrics, "traces", "http", tc.reason); n != 1 {
					t.Errorf("refused{%s} = %v, want 1", tc.reason, n)
				}
			})
		}
	}
}

func TestHTTPMalformedJSONIs400(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	res := f.post(t, "/v1/logs", "application/json", "", strings.NewReader(`{"resourceLogs": [`))
	if res.code != 400 {
		t.Fatalf("status = %d, want 400", res.code)
	}
	if st := statusOf(t, res); res.header.Get("Content-Type") != ctJSON || st.GetMessage() == "" {
		t.Errorf("want a JSON Status with a message, got %q %q", res.header.Get("Content-Type"), res.body)
	}
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d malformed requests", n)
	}
	if n := refusedCount(t, f.metrics, "logs", "http", "invalid"); n != 1 {
		t.Errorf("refused{invalid} = %v, want 1", n)
	}
}

func TestHTTPWrongMethodPathContentType(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	body := marshal(t, traceRequest())

	req, _ := http.NewRequest(http.MethodGet, f.base+"/v1/traces", nil)
	res := f.do(t, req)
	if res.code != 405 || res.header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q, want 405 Allow=POST", res.code, res.header.Get("Allow"))
	}
	req, _ = http.NewRequest(http.MethodPut, f.base+"/v1/metrics", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res = f.do(t, req)
	if res.code != 405 || res.header.Get("Allow") != "POST" || res.header.Get("Content-Type") != ctJSON {
		t.Errorf("PUT json: %d Allow=%q CT=%q, want 405 Allow=POST with a JSON body", res.code, res.header.Get("Allow"), res.header.Get("Content-Type"))
	}

	for _, p := range []string{"/", "/v1/trace", "/v1/traces/", "/v2/traces", "/v1/profiles"} {
		if res := f.post(t, p, "application/x-protobuf", "", bytes.NewReader(body)); res.code != 404 {
			t.Errorf("POST %s: %d, want 404", p, res.code)
		}
	}
	for _, ct := range []string{"", "text/plain", "application/protobuf", "application/grpc", "application/jsonx"} {
		if res := f.post(t, "/v1/traces", ct, "", bytes.NewReader(body)); res.code != 415 {
			t.Errorf("Content-Type %q: %d, want 415", ct, res.code)
		}
	}
	for _, ce := range []string{"lz4", "br", "gzip, zstd", "compress"} {
		if res := f.post(t, "/v1/traces", "application/x-protobuf", ce, bytes.NewReader(body)); res.code != 415 {
			t.Errorf("Content-Encoding %q: %d, want 415", ce, res.code)
		}
	}
	// Accepted spellings.
	for _, ct := range []string{"Application/X-Protobuf", "application/x-protobuf ; foo=bar"} {
		if res := f.post(t, "/v1/traces", ct, "identity", bytes.NewReader(body)); res.code != 200 {
			t.Errorf("Content-Type %q: %d, want 200", ct, res.code)
		}
	}
	if n := len(c.requests()); n != 2 {
		t.Errorf("consumer saw %d requests, want only the 2 well-formed ones", n)
	}
	if n := requestsCount(t, f.metrics, "traces", "http", "415"); n != 9 {
		t.Errorf("requests{415} = %v, want 9", n)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func TestHTTPCompressedBodies(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	pb := marshal(t, traceRequest())
	js := toJSON(t, otlpwire.Traces)
	for _, tc := range []struct {
		enc, ct string
		body    []byte
	}{
		{"gzip", ctProtobuf, gzipBytes(t, pb)},
		{"zstd", ctProtobuf, zstdBytes(t, pb)},
		{"gzip", ctJSON, gzipBytes(t, js)},
		{"zstd", ctJSON, zstdBytes(t, js)},
	} {
		if res := f.post(t, "/v1/traces", tc.ct, tc.enc, bytes.NewReader(tc.body)); res.code != 200 {
			t.Errorf("%s %s: %d %q", tc.enc, tc.ct, res.code, res.body)
		}
	}
	got := c.requests()
	for i, want := range [][]byte{pb, pb, jsonToProto(t, otlpwire.Traces, js), jsonToProto(t, otlpwire.Traces, js)} {
		if i < len(got) && !bytes.Equal(got[i].req, want) {
			t.Errorf("request %d: consumer got other bytes than were sent", i)
		}
	}
	if n := len(got); n != 4 {
		t.Errorf("consumer saw %d requests, want 4", n)
	}
	// A body that claims gzip but is not is the client's error.
	if res := f.post(t, "/v1/traces", ctProtobuf, "gzip", bytes.NewReader(pb)); res.code != 400 {
		t.Errorf("corrupt gzip: %d, want 400", res.code)
	}
	if res := f.post(t, "/v1/traces", ctProtobuf, "zstd", bytes.NewReader(pb)); res.code != 400 {
		t.Errorf("corrupt zstd: %d, want 400", res.code)
	}
}

// onlyReader hides Len/WriterTo so net/http sends the body chunked, with no
// Content-Length to refuse early on.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestHTTPOversizedBodies(t *testing.T) {
	const limit = 64 << 10
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, limit)
	big := marshal(t, bigTraceRequest(limit))
	for _, tc := range []struct {
		name, enc string
		body      io.Reader
	}{
		{"identity with Content-Length", "", bytes.NewReader(big)},
		{"identity chunked", "", onlyReader{bytes.NewReader(big)}},
		{"gzip inflating past the limit", "gzip", bytes.NewReader(gzipBytes(t, big))},
		{"zstd inflating past the limit", "zstd", bytes.NewReader(zstdBytes(t, big))},
		{"gzip, compressed size past the limit", "gzip", onlyReader{bytes.NewReader(gzipBytes(t, randomBytes(2*limit)))}},
	} {
		res := f.post(t, "/v1/traces", ctProtobuf, tc.enc, tc.body)
		if res.code != 413 {
			t.Errorf("%s: %d, want 413", tc.name, res.code)
			continue
		}
		if st := statusOf(t, res); st.GetMessage() == "" {
			t.Errorf("%s: 413 without a Status message", tc.name)
		}
		if res.header.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After on 413", tc.name)
		}
	}
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d oversized requests", n)
	}
	if n := refusedCount(t, f.metrics, "traces", "http", "too_large"); n != 5 {
		t.Errorf("refused{too_large} = %v, want 5", n)
	}
	// Exactly at the limit is fine.
	atLimit := make([]byte, limit)
	if res := f.post(t, "/v1/traces", ctProtobuf, "gzip", bytes.NewReader(gzipBytes(t, atLimit))); res.code != 200 {
		t.Errorf("body of exactly the limit: %d, want 200", res.code)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	var x uint64 = 0x9E3779B97F4A7C15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// gzipBomb is 1 GiB of zeros as concatenated gzip members (a valid gzip
// stream), about 1 MiB on the wire.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	member := gzipBytes(t, make([]byte, 16<<20))
	return bytes.Repeat(member, 64)
}

func zstdBomb(t *testing.T) []byte {
	t.Helper()
	frame := zstdBytes(t, make([]byte, 16<<20))
	return bytes.Repeat(frame, 64)
}

func TestHTTPDecompressionBombIsCutOff(t *testing.T) {
	const limit = 4 << 20
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, limit)
	for _, tc := range []struct {
		enc  string
		body []byte
	}{{"gzip", gzipBomb(t)}, {"zstd", zstdBomb(t)}} {
		if len(tc.body) >= limit {
			t.Fatalf("%s bomb is %d bytes on the wire; it must fit under the %d limit to test inflation", tc.enc, len(tc.body), limit)
		}
		// Warm the pooled decoder first: its tables and window are a fixed
		// cost per decoder, not a cost of the bomb.
		warm := gzipBytes(t, marshal(t, logsRequest()))
		if tc.enc == "zstd" {
			warm = zstdBytes(t, marshal(t, logsRequest()))
		}
		if res := f.post(t, "/v1/logs", ctProtobuf, tc.enc, bytes.NewReader(warm)); res.code != 200 {
			t.Fatalf("%s warm-up: %d", tc.enc, res.code)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := f.post(t, "/v1/logs", ctProtobuf, tc.enc, bytes.NewReader(tc.body))
		runtime.ReadMemStats(&after)
		if res.code != 413 {
			t.Fatalf("%s bomb: %d, want 413", tc.enc, res.code)
		}
		// Client and server together: the buffer grown by doubling up to
		// the limit (about 2x the limit in all), the client's copies, and
		// for zstd the decoder's history window, which the frame header
		// sets (8 MiB from this encoder) and grpczstd.MaxWindow caps.
		// Nowhere near 1 GiB.
		budget := uint64(4 * limit)
		if tc.enc == "zstd" {
			budget += 8 << 20
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s bomb (%d KiB on the wire, 1 GiB inflated): %d KiB allocated", tc.enc, len(tc.body)>>10, alloc>>10)
		if alloc > budget {
			t.Errorf("%s bomb: allocated %d MiB while refusing it; want < %d MiB", tc.enc, alloc>>20, budget>>20)
		}
	}
	if n := len(c.requests()); n != 2 {
		t.Errorf("consumer saw %d requests, want only the 2 warm-ups", n)
	}
}

// unreadBody fails the test if the handler reads it.
type unreadBody struct {
	t *testing.T
}

func (b unreadBody) Read([]byte) (int, error) {
	b.t.Error("body read although the request was refused at the door")
	return 0, io.EOF
}

func TestHTTPAdmitRefusesBeforeReadingBody(t *testing.T) {
	c := &admittingConsumer{admitErr: &gwerr.Error{Kind: gwerr.Backpressure, Msg: "queue full", RetryAfter: 2500 * time.Millisecond}}
	m := telemetry.NewMetrics()
	h := NewHTTP(config.HTTPReceiver{}, c, Settings{Metrics: m})
	req := httptest.NewRequest(http.MethodPost, "/v1/metrics", unreadBody{t})
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "3" {
		t.Errorf("got %d Retry-After=%q, want 503 Retry-After=3", rec.Code, rec.Header().Get("Retry-After"))
	}
	if ct := rec.Header().Get("Content-Type"); ct != ctJSON {
		t.Errorf("Content-Type = %q, want JSON for a JSON request", ct)
	}
	if len(c.requests()) != 0 {
		t.Error("Consume called after Admit refused")
	}
	if n := refusedCount(t, m, "metrics", "http", "backpressure"); n != 1 {
		t.Errorf("refused{backpressure} = %v, want 1", n)
	}
}

func TestHTTPConsumerOwnsRequestBytes(t *testing.T) {
	// Requests read through the pooled buffer (compressed, chunked) must
	// not share memory with the next request's buffer.
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, c, 0)
	first := marshal(t, traceRequest())
	second := marshal(t, bigTraceRequest(100))
	f.post(t, "/v1/traces", ctProtobuf, "gzip", bytes.NewReader(gzipBytes(t, first)))
	f.post(t, "/v1/traces", ctProtobuf, "", onlyReader{bytes.NewReader(second)})
	got := c.requests()
	if len(got) != 2 {
		t.Fatalf("consumer saw %d requests, want 2", len(got))
	}
	if !bytes.Equal(got[0].req, first) || !bytes.Equal(got[1].req, second) {
		t.Error("a kept request changed after later requests were read")
	}
}

func TestHTTPOTelSDKExporter(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 2}}
	f := startHTTP(t, c, 0)
	ctx := context.Background()
	spans := tracetest.SpanStubs{{Name: "one"}, {Name: "two"}}.Snapshots()
	for _, comp := range []otlptracehttp.Compression{otlptracehttp.NoCompression, otlptracehttp.GzipCompression} {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(strings.TrimPrefix(f.base, "http://")),
			otlptracehttp.WithInsecure(), otlptracehttp.WithCompression(comp))
		if err != nil {
			t.Fatal(err)
		}
		if err := exp.ExportSpans(ctx, spans); err != nil {
			t.Errorf("ExportSpans (compression %d): %v", comp, err)
		}
		_ = exp.Shutdown(ctx)
	}
	if n := len(c.requests()); n != 2 {
		t.Errorf("consumer saw %d requests, want 2", n)
	}
	// A non-retryable refusal is an error to the SDK.
	c.mu.Lock()
	c.err = gwerr.New(gwerr.Invalid, "bad")
	c.mu.Unlock()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(strings.TrimPrefix(f.base, "http://")),
		otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	if err := exp.ExportSpans(ctx, spans); err == nil {
		t.Error("ExportSpans returned nil for a 400")
	}
}

func TestHTTPSetConsumerSwitchesPipelines(t *testing.T) {
	first := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	second := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startHTTP(t, first, 0)
	body := marshal(t, traceRequest())
	f.post(t, "/v1/traces", ctProtobuf, "", bytes.NewReader(body))
	f.r.SetConsumer(second)
	f.post(t, "/v1/traces", ctProtobuf, "", bytes.NewReader(body))
	if len(first.requests()) != 1 || len(second.requests()) != 1 {
		t.Errorf("first saw %d, second %d; want 1 each", len(first.requests()), len(second.requests()))
	}
}

func TestHTTPLifecycle(t *testing.T) {
	ctx := context.Background()
	t.Run("shutdown without start, twice", func(t *testing.T) {
		r := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0"}, &recordingConsumer{}, Settings{})
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("first Shutdown: %v", err)
		}
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
		if err := r.Start(ctx); !errors.Is(err, ErrShutdown) {
			t.Errorf("Start after Shutdown = %v, want ErrShutdown", err)
		}
		if r.Addr() != nil {
			t.Errorf("Addr = %v before serving, want nil", r.Addr())
		}
	})
	t.Run("start, shutdown twice", func(t *testing.T) {
		r := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0"}, &recordingConsumer{}, Settings{})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); !errors.Is(err, ErrStarted) {
			t.Errorf("second Start = %v, want ErrStarted", err)
		}
		addr := r.Addr().String()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Shutdown", addr)
		}
	})
	t.Run("bind failure is returned", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r := NewHTTP(config.HTTPReceiver{Endpoint: ln.Addr().String()}, &recordingConsumer{}, Settings{})
		if err := r.Start(ctx); err == nil {
			t.Error("Start on a taken port returned nil")
		}
		_ = r.Shutdown(ctx)
	})
	t.Run("serve on a handed-over listener", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
		r := NewHTTP(config.HTTPReceiver{Endpoint: "ignored:1"}, c, Settings{})
		if err := r.Serve(ln); err != nil {
			t.Fatal(err)
		}
		if r.Addr().String() != ln.Addr().String() {
			t.Errorf("Addr = %v, want %v", r.Addr(), ln.Addr())
		}
		tr := &http.Transport{}
		f := &httpFixture{r: r, client: &http.Client{Transport: tr}, base: "http://" + ln.Addr().String()}
		if res := f.post(t, "/v1/logs", ctProtobuf, "", bytes.NewReader(marshal(t, logsRequest()))); res.code != 200 {
			t.Errorf("POST over handed-over listener: %d", res.code)
		}
		tr.CloseIdleConnections()
		if err := r.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if len(c.requests()) != 1 {
			t.Errorf("consumer saw %d requests, want 1", len(c.requests()))
		}
	})
	t.Run("shutdown deadline cuts off stuck requests", func(t *testing.T) {
		c := &recordingConsumer{block: true, started: make(chan struct{})}
		r := NewHTTP(config.HTTPReceiver{Endpoint: "127.0.0.1:0"}, c, Settings{})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		callErr := make(chan error, 1)
		go func() {
			resp, err := client.Post("http://"+r.Addr().String()+"/v1/traces", ctProtobuf, bytes.NewReader(marshal(t, traceRequest())))
			if err == nil {
				resp.Body.Close()
			}
			callErr <- err
		}()
		<-c.started
		sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := r.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown with a stuck request = %v, want DeadlineExceeded", err)
		}
		if err := <-callErr; err == nil {
			t.Error("stuck request got a response after a forced close")
		}
	})
}
