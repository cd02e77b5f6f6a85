package receiver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// nopConsumer accepts everything without keeping it.
type nopConsumer struct{}

func (nopConsumer) Consume(context.Context, otlpwire.Signal, []byte) (pipeline.Outcome, error) {
	return pipeline.Outcome{Accepted: 1}, nil
}

// benchWriter is a reusable ResponseWriter, so the benchmark counts the
// receiver's allocations and not a recorder's.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkHTTPHandler measures ServeHTTP alone for one 10 KiB protobuf
// request: identity (the exact-size fast path) and gzip (pooled buffer and
// reader, then the consumer's copy).
func BenchmarkHTTPHandler(b *testing.B) {
	body := marshal(&testing.T{}, bigTraceRequest(10<<10))
	h := NewHTTP(config.HTTPReceiver{}, nopConsumer{}, Settings{Metrics: telemetry.NewMetrics()})
	for _, enc := range []string{"", "gzip"} {
		payload := body
		if enc == "gzip" {
			payload = gzipBytes(&testing.T{}, body)
		}
		name := enc
		if name == "" {
			name = "identity"
		}
		b.Run(name, func(b *testing.B) {
			rd := bytes.NewReader(payload)
			req, _ := http.NewRequest(http.MethodPost, "/v1/traces", io.NopCloser(rd))
			req.Header.Set("Content-Type", ctProtobuf)
			if enc != "" {
				req.Header.Set("Content-Encoding", enc)
			}
			req.ContentLength = int64(len(payload))
			w := &benchWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(payload)
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// BenchmarkGRPCExport is one unary Export over a real loopback connection,
// client included, for the same 10 KiB request.
func BenchmarkGRPCExport(b *testing.B) {
	r := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0"}, nopConsumer{}, Settings{Metrics: telemetry.NewMetrics()})
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	conn, err := grpc.NewClient(r.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	req := bigTraceRequest(10 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Export(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
