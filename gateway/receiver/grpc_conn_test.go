package receiver

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// serveGRPCConfig runs a receiver with cfg on a counting 127.0.0.1:0
// listener; it is shut down when the test ends.
func serveGRPCConfig(t *testing.T, cfg config.GRPCReceiver, c pipeline.Consumer) (*GRPC, *countingListener) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	r := NewGRPC(cfg, c, Settings{Metrics: telemetry.NewMetrics()})
	if err := r.Serve(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r, ln
}

// rawH2 is a hand-driven HTTP/2 client connection, for looking at frames
// a gRPC client handles silently.
type rawH2 struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	addr string
}

func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// A guard against hanging forever, not a bound the test measures.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &rawH2{t: t, conn: conn, fr: fr, addr: addr}
}

// openExport starts a trace Export call on stream id and sends no body,
// so the call stays open.
func (h *rawH2) openExport(id uint32) {
	h.t.Helper()
	var hb bytes.Buffer
	he := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", h.addr},
		{":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = he.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

// next reads frames until match returns true for one, acknowledging the
// server's settings on the way.
func (h *rawH2) next(match func(http2.Frame) bool) http2.Frame {
	h.t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("reading frames: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			_ = h.fr.WriteSettingsAck()
		}
		if match(f) {
			return f
		}
	}
}

func TestGRPCDefaultKeepaliveHasFiniteMaxConnectionAge(t *testing.T) {
	k := config.Default().Receivers.OTLP.GRPC.Keepalive
	if k.MaxConnectionAge <= 0 || k.MaxConnectionAgeGrace <= 0 {
		t.Fatalf("default max_connection_age %s, grace %s: want both finite so a scale-out rebalances", k.MaxConnectionAge, k.MaxConnectionAgeGrace)
	}
	p := serverParameters(k)
	if p.MaxConnectionAge != k.MaxConnectionAge || p.MaxConnectionAgeGrace != k.MaxConnectionAgeGrace || p.Time != k.Time || p.Timeout != k.Timeout {
		t.Errorf("serverParameters(%+v) = %+v", k, p)
	}
}

func TestGRPCMaxConnectionAgeSendsGoAway(t *testing.T) {
	cfg := config.GRPCReceiver{Keepalive: config.GRPCKeepalive{MaxConnectionAge: 20 * time.Millisecond, MaxConnectionAgeGrace: time.Minute}}
	_, ln := serveGRPCConfig(t, cfg, &recordingConsumer{out: pipeline.Outcome{Accepted: 1}})
	h := dialRawH2(t, ln.Addr().String())
	f := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if f.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY code %v, want NO_ERROR (a graceful close)", f.ErrCode)
	}
}

// countingConsumer counts the requests it accepts.
type countingConsumer struct{ n atomic.Int64 }

func (c *countingConsumer) Consume(context.Context, otlpwire.Signal, []byte) (pipeline.Outcome, error) {
	c.n.Add(1)
	return pipeline.Outcome{Accepted: 1}, nil
}

func TestGRPCClientReconnectsAfterMaxConnectionAgeWithoutLoss(t *testing.T) {
	cfg := config.GRPCReceiver{Keepalive: config.GRPCKeepalive{MaxConnectionAge: 50 * time.Millisecond, MaxConnectionAgeGrace: time.Minute}}
	c := &countingConsumer{}
	_, ln := serveGRPCConfig(t, cfg, c)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := coltracepb.NewTraceServiceClient(conn)
	// A guard against hanging, not a measured bound.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sent int64
	// Two server-initiated reconnects: the client followed GOAWAY twice.
	for ln.accepted.Load() < 3 {
		if _, err := client.Export(ctx, traceRequest()); err != nil {
			t.Fatalf("export %d (connection %d): %v", sent, ln.accepted.Load(), err)
		}
		sent++
	}
	if got := c.n.Load(); got != sent {
		t.Errorf("consumer got %d requests, client had %d answered OK", got, sent)
	}
}

func TestGRPCMaxConcurrentStreamsAdvertisedAndEnforced(t *testing.T) {
	cfg := config.GRPCReceiver{MaxConcurrentStreams: 2}
	_, ln := serveGRPCConfig(t, cfg, &recordingConsumer{out: pipeline.Outcome{Accepted: 1}})
	h := dialRawH2(t, ln.Addr().String())
	var advertised uint32
	var seen bool
	h.next(func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		if !ok || s.IsAck() {
			return false
		}
		advertised, seen = s.Value(http2.SettingMaxConcurrentStreams)
		return true
	})
	if !seen || advertised != 2 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want 2", advertised, seen)
	}
	// A client that ignores the setting: two calls stay open, the third is refused.
	h.openExport(1)
	h.openExport(3)
	h.openExport(5)
	rst := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if rst.StreamID != 5 || rst.ErrCode != http2.ErrCodeRefusedStream {
		t.Errorf("RST_STREAM on stream %d with %v, want stream 5 with REFUSED_STREAM", rst.StreamID, rst.ErrCode)
	}
}
