package receiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/grpczstd"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

type grpcFixture struct {
	r       *GRPC
	metrics *telemetry.Metrics
	conn    *grpc.ClientConn
	addr    string
}

// startGRPC runs a receiver on 127.0.0.1:0 and dials it; both are torn
// down when the test ends.
func startGRPC(t *testing.T, c pipeline.Consumer, maxRecv config.Size) *grpcFixture {
	t.Helper()
	m := telemetry.NewMetrics()
	r := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0", MaxRecvMsgSize: maxRecv}, c, Settings{Metrics: m})
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := r.Addr().String()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &grpcFixture{r: r, metrics: m, conn: conn, addr: addr}
}

// drain shuts the receiver down, which waits for every handler to return:
// grpc-go answers some refusals (over-size, truncated) itself before the
// handler counts them, so counters are read only after this.
func (f *grpcFixture) drain(t *testing.T) {
	t.Helper()
	if err := f.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// export calls sig's Export with the generated client stubs, as any OTLP
// client does.
func (f *grpcFixture) export(ctx context.Context, sig otlpwire.Signal, opts ...grpc.CallOption) (proto.Message, error) {
	switch sig {
	case otlpwire.Metrics:
		return colmetricspb.NewMetricsServiceClient(f.conn).Export(ctx, metricsRequest(), opts...)
	case otlpwire.Logs:
		return collogspb.NewLogsServiceClient(f.conn).Export(ctx, logsRequest(), opts...)
	}
	return coltracepb.NewTraceServiceClient(f.conn).Export(ctx, traceRequest(), opts...)
}

func retryInfoOf(st *status.Status) *errdetails.RetryInfo {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

func TestGRPCExportPassesBytesThrough(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startGRPC(t, c, 0)
	for _, sig := range otlpwire.Signals {
		resp, err := f.export(context.Background(), sig)
		if err != nil {
			t.Fatalf("%s: Export: %v", sig, err)
		}
		if rej, msg := partialOf(resp); rej != 0 || msg != "" {
			t.Errorf("%s: partial success (%d, %q) on full success", sig, rej, msg)
		}
	}
	got := c.requests()
	if len(got) != 3 {
		t.Fatalf("consumer saw %d requests, want 3", len(got))
	}
	for i, sig := range otlpwire.Signals {
		if got[i].sig != sig {
			t.Errorf("request %d: signal %s, want %s", i, got[i].sig, sig)
		}
		sameRequest(t, sig, got[i].req, requestFor(sig))
		if n := acceptedCount(t, f.metrics, sig.String(), "grpc"); n != 1 {
			t.Errorf("%s: accepted items = %v, want 1", sig, n)
		}
		if n := requestsCount(t, f.metrics, sig.String(), "grpc", "OK"); n != 1 {
			t.Errorf("%s: requests{OK} = %v, want 1", sig, n)
		}
	}
}

func TestGRPCPartialSuccess(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1, Rejected: 3, Message: "filter[drop-debug]: 3 debug items"}}
	f := startGRPC(t, c, 0)
	for _, sig := range otlpwire.Signals {
		resp, err := f.export(context.Background(), sig)
		if err != nil {
			t.Fatalf("%s: Export: %v", sig, err)
		}
		rej, msg := partialOf(resp)
		if rej != 3 || msg != "filter[drop-debug]: 3 debug items" {
			t.Errorf("%s: partial success = (%d, %q), want (3, the filter's message)", sig, rej, msg)
		}
	}
}

func TestGRPCErrorStatuses(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordingConsumer{err: tc.err}
			f := startGRPC(t, c, 0)
			_, err := f.export(context.Background(), otlpwire.Traces)
			st := status.Convert(err)
			if st.Code().String() != tc.grpcCode {
				t.Fatalf("code = %s, want %s (%v)", st.Code(), tc.grpcCode, err)
			}
			if !strings.Contains(st.Message(), tc.msgHas) {
				t.Errorf("message %q does not contain %q", st.Message(), tc.msgHas)
			}
			if tc.msgHasNot != "" && strings.Contains(st.Message(), tc.msgHasNot) {
				t.Errorf("message %q leaks %q", st.Message(), tc.msgHasNot)
			}
			ri := retryInfoOf(st)
			switch {
			case tc.retryAfter == 0 && ri != nil:
				t.Errorf("RetryInfo %v present on %s; it must be absent", ri, st.Code())
			case tc.retryAfter != 0 && ri == nil:
				t.Errorf("RetryInfo missing on %s", st.Code())
			case tc.retryAfter != 0 && ri.GetRetryDelay().AsDuration() != tc.retryAfter:
				t.Errorf("RetryInfo delay = %v, want %v", ri.GetRetryDelay().AsDuration(), tc.retryAfter)
			}
			if n := requestsCount(t, f.metrics, "traces", "grpc", tc.grpcCode); n != 1 {
				t.Errorf("requests{%s} = %v, want 1", tc.grpcCode, n)
			}
			if n := refusedCount(t, f.metrics, "traces", "grpc", tc.reason); n != 1 {
				t.Errorf("refused{%s} = %v, want 1", tc.reason, n)
			}
		})
	}
}

func TestGRPCRefusedItemsCountedWhenKnown(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Rejected: 5}, err: gwerr.New(gwerr.Rejected, "filter[x]: no")}
	f := startGRPC(t, c, 0)
	if _, err := f.export(context.Background(), otlpwire.Logs); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Export: %v, want InvalidArgument", err)
	}
	if n := refusedCount(t, f.metrics, "logs", "grpc", "rejected"); n != 5 {
		t.Errorf("refused{rejected} = %v, want the 5 items the consumer reported", n)
	}
}

func TestGRPCAdmitRefusesBeforeConsume(t *testing.T) {
	c := &admittingConsumer{admitErr: &gwerr.Error{Kind: gwerr.Backpressure, Msg: "queue full", RetryAfter: 2 * time.Second}}
	f := startGRPC(t, c, 0)
	_, err := f.export(context.Background(), otlpwire.Metrics)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("code = %s, want Unavailable (%v)", st.Code(), err)
	}
	if ri := retryInfoOf(st); ri == nil || ri.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Errorf("RetryInfo = %v, want 2s", ri)
	}
	if n := len(c.requests()); n != 0 {
		t.Errorf("Consume called %d times after Admit refused", n)
	}
	if n := refusedCount(t, f.metrics, "metrics", "grpc", "backpressure"); n != 1 {
		t.Errorf("refused{backpressure} = %v, want 1", n)
	}
	// The health service is not an export and is never refused at the door.
	resp, err := healthpb.NewHealthClient(f.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health while refusing exports = %v, %v; want SERVING", resp, err)
	}
}

func bigTraceRequest(n int) *coltracepb.ExportTraceServiceRequest {
	req := traceRequest()
	span := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	span.Attributes = append(span.Attributes, &commonpb.KeyValue{Key: "blob", Value: &commonpb.AnyValue{
		Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("a", n)}}})
	return req
}

func TestGRPCOverMaxRecvMsgSizeIsResourceExhaustedWithoutRetryInfo(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startGRPC(t, c, 64<<10)
	_, err := coltracepb.NewTraceServiceClient(f.conn).Export(context.Background(), bigTraceRequest(100<<10))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("code = %s, want ResourceExhausted (%v)", st.Code(), err)
	}
	if ri := retryInfoOf(st); ri != nil {
		t.Errorf("RetryInfo %v on RESOURCE_EXHAUSTED; over-size requests must not be retried", ri)
	}
	f.drain(t)
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d over-size requests", n)
	}
	if n := refusedCount(t, f.metrics, "traces", "grpc", "too_large"); n != 1 {
		t.Errorf("refused{too_large} = %v, want 1", n)
	}
}

func TestGRPCCompressedBombIsResourceExhausted(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startGRPC(t, c, 64<<10)
	for _, comp := range []string{gzip.Name, grpczstd.Name} {
		// 8 MiB of one letter compresses to a few KiB: under the limit on
		// the wire, far over it inflated.
		_, err := coltracepb.NewTraceServiceClient(f.conn).Export(context.Background(), bigTraceRequest(8<<20), grpc.UseCompressor(comp))
		if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
			t.Errorf("%s: code = %s, want ResourceExhausted (%v)", comp, st.Code(), err)
		}
	}
	f.drain(t)
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d bombs", n)
	}
	if n := refusedCount(t, f.metrics, "traces", "grpc", "too_large"); n != 2 {
		t.Errorf("refused{too_large} = %v, want 2", n)
	}
}

func TestGRPCCompressedRequests(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1, Rejected: 1, Message: "m"}}
	f := startGRPC(t, c, 0)
	for _, comp := range []string{gzip.Name, grpczstd.Name} {
		resp, err := f.export(context.Background(), otlpwire.Traces, grpc.UseCompressor(comp))
		if err != nil {
			t.Fatalf("%s: Export: %v", comp, err)
		}
		if rej, msg := partialOf(resp); rej != 1 || msg != "m" {
			t.Errorf("%s: partial success = (%d, %q), want (1, m) through a compressed response", comp, rej, msg)
		}
	}
	for _, r := range c.requests() {
		sameRequest(t, otlpwire.Traces, r.req, traceRequest())
	}
	if n := len(c.requests()); n != 2 {
		t.Errorf("consumer saw %d requests, want 2", n)
	}
}

// TestGRPCTruncatedFrame speaks HTTP/2 by hand: a gRPC message whose
// length prefix promises more bytes than the stream carries. grpc-go answers
// this itself, before the handler sees a message, with INTERNAL; the
// receiver only has to keep it from the consumer and count it as invalid.
func TestGRPCTruncatedFrame(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startGRPC(t, c, 0)
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	he := hpack.NewEncoder(&hb)
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", f.addr},
		{":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = he.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 5, 15)
	binary.BigEndian.PutUint32(msg[1:], 100) // promises 100 bytes
	msg = append(msg, "0123456789"...)       // delivers 10
	if err := fr.WriteData(1, true, msg); err != nil {
		t.Fatal(err)
	}

	hd := hpack.NewDecoder(4096, nil)
	grpcStatus := ""
	for grpcStatus == "" {
		frame, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		switch fm := frame.(type) {
		case *http2.SettingsFrame:
			if !fm.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, err := hd.DecodeFull(fm.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == "grpc-status" {
					grpcStatus = hf.Value
				}
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset (%v) instead of a gRPC status", fm.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v instead of a gRPC status", fm.ErrCode)
		}
	}
	code, _ := strconv.Atoi(grpcStatus)
	if codes.Code(code) != codes.Internal {
		t.Errorf("grpc-status = %s (%s), want Internal", grpcStatus, codes.Code(code))
	}
	f.drain(t)
	if n := len(c.requests()); n != 0 {
		t.Errorf("consumer saw %d truncated requests", n)
	}
	if n := refusedCount(t, f.metrics, "traces", "grpc", "invalid"); n != 1 {
		t.Errorf("refused{invalid} = %v, want 1", n)
	}
}

func TestGRPCUnknownMethodIsUnimplemented(t *testing.T) {
	f := startGRPC(t, &recordingConsumer{}, 0)
	err := f.conn.Invoke(context.Background(), "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
		&coltracepb.ExportTraceServiceRequest{}, &coltracepb.ExportTraceServiceResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want Unimplemented", err)
	}
}

func TestGRPCHealthServing(t *testing.T) {
	f := startGRPC(t, &recordingConsumer{}, 0)
	hc := healthpb.NewHealthClient(f.conn)
	for _, svc := range []string{"", grpcServiceNames[otlpwire.Traces], grpcServiceNames[otlpwire.Metrics], grpcServiceNames[otlpwire.Logs]} {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %s, want SERVING", svc, resp.GetStatus())
		}
	}
}

func TestGRPCOTelSDKExporter(t *testing.T) {
	c := &recordingConsumer{out: pipeline.Outcome{Accepted: 2}}
	f := startGRPC(t, c, 0)
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(f.addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor(gzip.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	spans := tracetest.SpanStubs{{Name: "one"}, {Name: "two"}}.Snapshots()
	if err := exp.ExportSpans(ctx, spans); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	got := c.requests()
	if len(got) != 1 {
		t.Fatalf("consumer saw %d requests, want 1", len(got))
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(got[0].req, &req); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				names = append(names, s.Name)
			}
		}
	}
	if strings.Join(names, ",") != "one,two" {
		t.Errorf("spans = %v, want one,two", names)
	}

	// A refusal reaches the SDK as an error (retries off, so it is final).
	c.mu.Lock()
	c.err = &gwerr.Error{Kind: gwerr.Invalid, Msg: "bad"}
	c.mu.Unlock()
	exp2, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(f.addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp2.Shutdown(ctx)
	if err := exp2.ExportSpans(ctx, spans); err == nil {
		t.Error("ExportSpans returned nil for an InvalidArgument refusal")
	}
}

func TestGRPCSetConsumerSwitchesPipelines(t *testing.T) {
	first := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	second := &recordingConsumer{out: pipeline.Outcome{Accepted: 1}}
	f := startGRPC(t, first, 0)
	if _, err := f.export(context.Background(), otlpwire.Traces); err != nil {
		t.Fatal(err)
	}
	f.r.SetConsumer(second)
	if _, err := f.export(context.Background(), otlpwire.Traces); err != nil {
		t.Fatal(err)
	}
	if len(first.requests()) != 1 || len(second.requests()) != 1 {
		t.Errorf("first saw %d, second %d; want 1 each", len(first.requests()), len(second.requests()))
	}
}

func TestGRPCLifecycle(t *testing.T) {
	ctx := context.Background()
	t.Run("shutdown without start, twice", func(t *testing.T) {
		r := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0"}, &recordingConsumer{}, Settings{})
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
		r := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0"}, &recordingConsumer{}, Settings{})
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
		r := NewGRPC(config.GRPCReceiver{Endpoint: ln.Addr().String()}, &recordingConsumer{}, Settings{})
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
		r := NewGRPC(config.GRPCReceiver{Endpoint: "ignored:1"}, c, Settings{})
		if err := r.Serve(ln); err != nil {
			t.Fatal(err)
		}
		if r.Addr().String() != ln.Addr().String() {
			t.Errorf("Addr = %v, want %v", r.Addr(), ln.Addr())
		}
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		f := &grpcFixture{r: r, conn: conn}
		if _, err := f.export(ctx, otlpwire.Logs); err != nil {
			t.Errorf("Export over handed-over listener: %v", err)
		}
		conn.Close()
		if err := r.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if len(c.requests()) != 1 {
			t.Errorf("consumer saw %d requests, want 1", len(c.requests()))
		}
	})
	t.Run("shutdown deadline cuts off stuck calls", func(t *testing.T) {
		c := &recordingConsumer{block: true, started: make(chan struct{})}
		r := NewGRPC(config.GRPCReceiver{Endpoint: "127.0.0.1:0"}, c, Settings{})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(r.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		f := &grpcFixture{r: r, conn: conn}
		callErr := make(chan error, 1)
		go func() {
			_, err := f.export(ctx, otlpwire.Traces)
			callErr <- err
		}()
		<-c.started
		sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := r.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown with a stuck call = %v, want DeadlineExceeded", err)
		}
		if err := <-callErr; err == nil {
			t.Error("stuck call succeeded after a forced stop")
		}
	})
}
