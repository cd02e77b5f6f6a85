package receiver

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// lastRequest keeps the last request a Consume call got, so a target can
// check what an accepted request decoded to.
type lastRequest struct {
	mu  sync.Mutex
	req []byte
}

func (c *lastRequest) Consume(_ context.Context, _ otlpwire.Signal, req []byte) (pipeline.Outcome, error) {
	c.mu.Lock()
	c.req = append(c.req[:0], req...)
	c.mu.Unlock()
	return pipeline.Outcome{Accepted: 1}, nil
}

// headerValue is what net/http's server hands a handler for a header
// value the client sent: ok false when the server would refuse it.
func headerValue(v string) (string, bool) {
	if !httpguts.ValidHeaderFieldValue(v) {
		return "", false
	}
	return strings.Trim(v, " \t"), true
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzHTTPHeaders drives the OTLP/HTTP handler, with bearer tokens and
// CORS on, with arbitrary Content-Type, Content-Encoding, Authorization,
// Origin and preflight headers over a valid trace request, encoded as the
// headers say whenever a reference reading of them (mime.ParseMediaType,
// the list of supported codings) understands them. The status must be
// the one the contract gives for the first problem, in the handler's order
// (path 404, preflight 204, token 401, method 405, content type or
// encoding 415, else 200), or one of those a stricter or looser reading
// of a malformed media type may give; an accepted request must reach the
// pipeline as the request sent; and Access-Control-Allow-Origin must name
// exactly the allowed origins.
func FuzzHTTPHeaders(f *testing.F) {
	f.Add(uint8(0), "application/x-protobuf", "", "Bearer s3cret", "")
	f.Add(uint8(0), "application/json; charset=utf-8", "gzip", "bearer  tok-2 ", "https://app.example.com")
	f.Add(uint8(0), "Application/X-Protobuf;a=b;c", "ZSTD", "Bearer s3cret", "https://a.b.example.org")
	f.Add(uint8(0), "application/json;", "gzip, identity", "Basic czNjcmV0", "HTTPS://APP.EXAMPLE.COM")
	f.Add(uint8(1), "text/plain", "x-snappy-framed", "Bearer", "https://example.org")
	f.Add(uint8(2), "application/x-protobuf", "deflate", "Bearer s3cret", "null")
	f.Add(uint8(3), "", "br", "Bearer wrong", "https://evil.example.org.attacker")
	f.Add(uint8(4), "application/json", "identity", "Bearer s3cret", "https://app.example.com")
	f.Add(uint8(8), "application/x-protobuf", "snappy", "Bearer s3cret", "")

	tokens := []string{"s3cret", "tok-2"}
	cfg := config.HTTPReceiver{
		MaxRequestBodySize: 64 << 10,
		Auth:               config.ReceiverAuth{BearerTokens: tokens},
		CORS:               config.CORS{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}, AllowedHeaders: []string{"Authorization"}},
	}
	rec := &lastRequest{}
	h := NewHTTP(cfg, rec, Settings{Metrics: telemetry.NewMetrics()})

	var seedT testing.T
	want := traceRequest()
	pb := marshal(&seedT, want)
	js, err := otlpwire.ProtoToJSON(otlpwire.Traces, pb)
	if err != nil {
		f.Fatal(err)
	}
	// The JSON seed spells out the empty resource, scope and status.
	wantJSON := proto.Clone(want).(*coltracepb.ExportTraceServiceRequest)
	rs := wantJSON.ResourceSpans[0]
	rs.Resource, rs.ScopeSpans[0].Scope = &resourcepb.Resource{}, &commonpb.InstrumentationScope{}
	rs.ScopeSpans[0].Spans[0].Status = &tracepb.Status{}
	encoders := map[string]func([]byte) []byte{
		"": func(b []byte) []byte { return b }, "identity": func(b []byte) []byte { return b },
		"gzip": func(b []byte) []byte { return gzipBytes(&seedT, b) }, "x-gzip": func(b []byte) []byte { return gzipBytes(&seedT, b) },
		"zstd":    func(b []byte) []byte { return zstdBytes(&seedT, b) },
		"deflate": func(b []byte) []byte { return zlibBytes(&seedT, b) }, "zlib": func(b []byte) []byte { return zlibBytes(&seedT, b) },
		"snappy": snappyBlock, "x-snappy-framed": func(b []byte) []byte { return snappyFramed(&seedT, b) },
	}

	// sel: bits 0-1 the method, bit 2 an unknown path, bit 3 a
	// preflight's Access-Control-Request-Method.
	f.Fuzz(func(t *testing.T, sel uint8, ct, ce, auth, origin string) {
		var ok bool
		if ct, ok = headerValue(ct); !ok {
			return
		}
		if ce, ok = headerValue(ce); !ok {
			return
		}
		if auth, ok = headerValue(auth); !ok {
			return
		}
		if origin, ok = headerValue(origin); !ok {
			return
		}
		method := []string{http.MethodPost, http.MethodPost, http.MethodGet, http.MethodOptions}[sel&3]
		path := "/v1/traces"
		if sel&4 != 0 {
			path = "/v1/traces/"
		}
		preflight := method == http.MethodOptions && sel&8 != 0

		// The reference reading of the headers.
		mt, _, mtErr := mime.ParseMediaType(ct)
		ctKnown := mtErr == nil && (mt == "application/x-protobuf" || mt == "application/json")
		ctRefused := mtErr == nil && !ctKnown || ct == ""
		encode, ceKnown := encoders[strings.ToLower(ce)]
		tokenOK := false
		if scheme, tok, ok := strings.Cut(strings.TrimSpace(auth), " "); ok && strings.EqualFold(scheme, "bearer") {
			for _, want := range tokens {
				tokenOK = tokenOK || strings.TrimSpace(tok) == want
			}
		}
		originOK := origin == "" // nothing to name, nothing to check
		if o := strings.ToLower(origin); o == "https://app.example.com" ||
			strings.HasPrefix(o, "https://") && strings.HasSuffix(o, ".example.org") && len(o) >= len("https://.example.org") {
			originOK = true
		}

		body := pb
		if mt == "application/json" {
			body = js
		}
		if ceKnown {
			body = encode(body)
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		for k, v := range map[string]string{"Content-Type": ct, "Content-Encoding": ce, "Authorization": auth, "Origin": origin} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		}
		rec.mu.Lock()
		rec.req = rec.req[:0]
		rec.mu.Unlock()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		var allowed []int
		switch {
		case path != "/v1/traces":
			allowed = []int{404}
		case preflight:
			allowed = []int{204}
		case !tokenOK:
			allowed = []int{401}
		case method != http.MethodPost:
			allowed = []int{405}
		case ctRefused:
			allowed = []int{415}
		case !ceKnown && !ascii(ce):
			// Unicode case folding may make a coding of it (ſnappy).
			allowed = []int{200, 400, 415}
		case !ceKnown:
			allowed = []int{415}
		case ctKnown:
			allowed = []int{200}
		default:
			// A media type mime.ParseMediaType refuses: the handler may
			// read it as one of ours, and then as the other one.
			allowed = []int{200, 400, 415}
		}
		okStatus := false
		for _, a := range allowed {
			okStatus = okStatus || w.Code == a
		}
		if !okStatus {
			t.Fatalf("%s %s Content-Type %q Content-Encoding %q Authorization %q Origin %q: status %d, want one of %v: %s",
				method, path, ct, ce, auth, origin, w.Code, allowed, w.Body.Bytes())
		}
		if w.Code == 200 {
			got := &coltracepb.ExportTraceServiceRequest{}
			rec.mu.Lock()
			err := proto.Unmarshal(rec.req, got)
			rec.mu.Unlock()
			sent := want
			if mt == "application/json" {
				sent = wantJSON
			}
			if err != nil || !proto.Equal(got, sent) {
				t.Fatalf("accepted request reached the pipeline as %v (%v), want the request sent", got, err)
			}
		}
		if w.Code != 204 {
			if rct := w.Header().Get("Content-Type"); rct != ctProtobuf && rct != ctJSON {
				t.Fatalf("status %d with Content-Type %q", w.Code, rct)
			}
		}
		if path == "/v1/traces" && !preflight {
			acao := w.Header().Get("Access-Control-Allow-Origin")
			if originOK != (acao == origin) || acao != "" && acao != origin {
				t.Fatalf("Origin %q (allowed: %t): Access-Control-Allow-Origin %q", origin, originOK, acao)
			}
		}
	})
}
