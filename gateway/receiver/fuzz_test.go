package receiver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// validatingConsumer refuses what does not decode as the signal's request,
// as the real pipeline's index does, so fuzzed bodies reach every row of
// the status table.
type validatingConsumer struct{}

func (validatingConsumer) Consume(_ context.Context, sig otlpwire.Signal, req []byte) (pipeline.Outcome, error) {
	if err := proto.Unmarshal(req, newRequestFor(sig)); err != nil {
		return pipeline.Outcome{}, gwerr.Wrap(gwerr.Invalid, err, "invalid OTLP request")
	}
	if len(req)%7 == 3 {
		return pipeline.Outcome{Accepted: 1, Rejected: 1, Message: "filter[fuzz]: dropped"}, nil
	}
	return pipeline.Outcome{Accepted: 1}, nil
}

var (
	fuzzContentTypes     = []string{"application/x-protobuf", "application/json", "application/json; charset=utf-8", "text/plain", ""}
	fuzzContentEncodings = []string{"", "gzip", "zstd", "identity", "br", "deflate", "snappy", "x-snappy-framed"}
	fuzzMethods          = []string{http.MethodPost, http.MethodPost, http.MethodGet, http.MethodPut}
	fuzzPaths            = []string{"/v1/traces", "/v1/metrics", "/v1/logs", "/v1/nope"}
	contractHTTPStatuses = []int{200, 400, 404, 405, 413, 415, 500, 503}
)

func FuzzHTTPBody(f *testing.F) {
	var seedT testing.T
	pb := marshal(&seedT, traceRequest())
	js, _ := otlpwire.ProtoToJSON(otlpwire.Traces, pb)
	f.Add(pb, uint8(0), uint8(0), uint8(0), uint8(0))
	f.Add(js, uint8(1), uint8(0), uint8(0), uint8(0))
	f.Add(gzipBytes(&seedT, pb), uint8(0), uint8(1), uint8(0), uint8(0))
	f.Add(zstdBytes(&seedT, js), uint8(2), uint8(2), uint8(0), uint8(0))
	f.Add(gzipBytes(&seedT, make([]byte, 1<<20)), uint8(0), uint8(1), uint8(0), uint8(1))
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff}, uint8(0), uint8(0), uint8(0), uint8(2))
	f.Add(zlibBytes(&seedT, pb), uint8(0), uint8(5), uint8(0), uint8(0))
	f.Add(snappyBlock(js), uint8(1), uint8(6), uint8(0), uint8(0))
	f.Add(snappyFramed(&seedT, pb), uint8(0), uint8(6), uint8(0), uint8(1))
	f.Add(snappyFramed(&seedT, make([]byte, 1<<20)), uint8(0), uint8(7), uint8(0), uint8(0))
	f.Add(snappyLiar(1<<30), uint8(0), uint8(6), uint8(0), uint8(0))
	// A JSON parse error quoting invalid UTF-8 once produced an empty body.
	f.Add([]byte("\x8b"), uint8(1), uint8(0), uint8(0), uint8(0))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`), uint8(1), uint8(3), uint8(0), uint8(2))

	h := NewHTTP(config.HTTPReceiver{MaxRequestBodySize: 64 << 10}, validatingConsumer{}, Settings{Metrics: telemetry.NewMetrics()})
	f.Fuzz(func(t *testing.T, body []byte, ct, ce, method, path uint8) {
		req := httptest.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], fuzzPaths[int(path)%len(fuzzPaths)], bytes.NewReader(body))
		if v := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; v != "" {
			req.Header.Set("Content-Type", v)
		}
		if v := fuzzContentEncodings[int(ce)%len(fuzzContentEncodings)]; v != "" {
			req.Header.Set("Content-Encoding", v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if !slices.Contains(contractHTTPStatuses, rec.Code) {
			t.Fatalf("status %d is not one of the contract's %v", rec.Code, contractHTTPStatuses)
		}
		respCT := rec.Header().Get("Content-Type")
		if respCT != ctProtobuf && respCT != ctJSON {
			t.Fatalf("status %d with Content-Type %q", rec.Code, respCT)
		}
		unmarshal := proto.Unmarshal
		if respCT == ctJSON {
			unmarshal = protojson.Unmarshal
		}
		var msg proto.Message = &spb.Status{}
		if rec.Code == 200 {
			sig, _ := pathSignal(req.URL.Path)
			msg = newResponseFor(sig)
		}
		if err := unmarshal(rec.Body.Bytes(), msg); err != nil {
			t.Fatalf("status %d: body does not decode as %T in %s: %v", rec.Code, msg, respCT, err)
		}
		if rec.Code == 503 && rec.Header().Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	})
}
