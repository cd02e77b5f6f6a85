package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip decompressor
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/otlpgw/otlpgw/gateway/config"
	_ "github.com/otlpgw/otlpgw/gateway/internal/grpczstd" // registers the zstd compressor
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
)

// DefaultMaxRecvMsgSize is used when the config leaves max_recv_msg_size at
// zero: 16 MiB, as in the contract's defaults.
const DefaultMaxRecvMsgSize = 16 << 20

// Keepalive enforcement: clients may ping every 10 s, even with no call in
// flight (SDK exporters keep idle connections warm). grpc-go's own default
// (5 minutes, no idle pings) answers such clients with GOAWAY
// "too_many_pings" and breaks their connections.
const (
	keepaliveMinTime             = 10 * time.Second
	keepalivePermitWithoutStream = true
)

// The OTLP services, by signal. The method is Export for all three.
var grpcServiceNames = [otlpwire.NumSignals]string{
	otlpwire.Traces:  "opentelemetry.proto.collector.trace.v1.TraceService",
	otlpwire.Metrics: "opentelemetry.proto.collector.metrics.v1.MetricsService",
	otlpwire.Logs:    "opentelemetry.proto.collector.logs.v1.LogsService",
}

// grpcMethodSignal maps a full method name to its signal.
func grpcMethodSignal(fullMethod string) (otlpwire.Signal, bool) {
	switch fullMethod {
	case "/opentelemetry.proto.collector.trace.v1.TraceService/Export":
		return otlpwire.Traces, true
	case "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export":
		return otlpwire.Metrics, true
	case "/opentelemetry.proto.collector.logs.v1.LogsService/Export":
		return otlpwire.Logs, true
	}
	return 0, false
}

// GRPC is the OTLP/gRPC receiver: the three Export services plus
// grpc.health.v1.Health on one listener.
type GRPC struct {
	cfg      config.GRPCReceiver
	log      *slog.Logger
	consumer atomic.Pointer[consumerBox]
	metrics  transportMetrics
	srv      *grpc.Server
	health   *health.Server
	auth     *authenticator // nil: no authentication
	// initErr is why the receiver cannot serve (its TLS files did not
	// load); Start and Serve return it.
	initErr error

	mu    sync.Mutex
	state int
	ln    net.Listener
	done  chan struct{} // closed when the serve goroutine returns
}

// minStreamWorkers is the fewest handler goroutines the server keeps; see
// NewGRPC. Idle ones cost a few kilobytes of stack each.
const minStreamWorkers = 16

// Transport sizes for client connections; see NewGRPC.
const (
	grpcStreamWindow = 4 << 20
	grpcConnWindow   = 16 << 20
	grpcReadBuffer   = 256 << 10
)

// NewGRPC builds an OTLP/gRPC receiver that hands requests to consumer. It
// does not listen until Start or Serve. A zero cfg.MaxRecvMsgSize means
// DefaultMaxRecvMsgSize. consumer must not be nil.
func NewGRPC(cfg config.GRPCReceiver, consumer pipeline.Consumer, set Settings) *GRPC {
	set = set.withDefaults()
	box := newConsumerBox(consumer)
	codec := newPassThroughCodec()
	maxRecv := int64(cfg.MaxRecvMsgSize)
	if maxRecv <= 0 {
		maxRecv = DefaultMaxRecvMsgSize
	}
	if maxRecv > int64(^uint32(0)>>1) {
		// grpc-go frames are at most 2^31-1 bytes; larger would overflow its int limits on 32-bit.
		maxRecv = int64(^uint32(0) >> 1)
	}
	g := &GRPC{
		cfg:     cfg,
		log:     set.Logger.With("receiver", "otlp", "transport", transportGRPC),
		metrics: newTransportMetrics(set.Metrics, transportGRPC, grpcCodes(), grpcCodeLabel),
		health:  health.NewServer(),
	}
	g.consumer.Store(box)
	g.auth = newAuthenticator(cfg.Auth)
	var opts []grpc.ServerOption
	if n := cfg.MaxConcurrentStreams; n > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(n)))
	}
	switch tc, err := loadTLS(cfg.TLS, g.log); {
	case err != nil:
		g.initErr = fmt.Errorf("grpc receiver: %w", err)
	case tc != nil:
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	g.srv = grpc.NewServer(append(opts,
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(int(maxRecv)),
		grpc.InTapHandle(g.tap),
		// Shutdown returns only once every handler has returned, so no
		// Consume call outlives the receiver and the pipeline can drain
		// right after it.
		grpc.WaitForHandlers(true),
		// Larger flow-control windows and read buffer: OTLP requests are
		// tens of kilobytes to megabytes, and gRPC's 64 KiB defaults cost
		// a WINDOW_UPDATE round trip and several reads per request.
		grpc.InitialWindowSize(grpcStreamWindow),
		grpc.InitialConnWindowSize(grpcConnWindow),
		grpc.ReadBufferSize(grpcReadBuffer),
		// Frame buffers that are not zeroed on reuse; see dirtyBufferPool.
		experimental.BufferPool(&dirtyBufferPool{}),
		// Reuse handler goroutines: a fresh goroutine per request grows
		// its stack through the parser on every call (stack copies showed
		// in profiles). grpc-go still spawns one when all are busy. A
		// handler holds its worker while the request's DATA frames arrive,
		// so busy clients keep more calls open than there are cores: with
		// one worker per core, ~3 % of the CPU at 100k spans/s went to
		// spawning goroutines and growing their stacks.
		grpc.NumStreamWorkers(uint32(max(minStreamWorkers, runtime.GOMAXPROCS(0)))),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: keepalivePermitWithoutStream,
		}),
		grpc.KeepaliveParams(serverParameters(cfg.Keepalive)),
	)...)
	for _, sig := range otlpwire.Signals {
		g.srv.RegisterService(g.serviceDesc(sig), nil)
		g.health.SetServingStatus(grpcServiceNames[sig], healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(g.srv, g.health)
	return g
}

// serverParameters maps the config to grpc-go's keepalive settings, where
// 0 means "grpc-go's default" (2h, 20s) or "never" (idle, age, grace),
// the same meanings the config documents.
func serverParameters(k config.GRPCKeepalive) keepalive.ServerParameters {
	return keepalive.ServerParameters{
		Time:                  k.Time,
		Timeout:               k.Timeout,
		MaxConnectionIdle:     k.MaxConnectionIdle,
		MaxConnectionAge:      k.MaxConnectionAge,
		MaxConnectionAgeGrace: k.MaxConnectionAgeGrace,
	}
}

// SetConsumer switches the receiver to consumer for every request that
// starts after it returns; requests already in Consume finish with the old
// one. consumer must not be nil. Safe to call concurrently with serving: this is how a reload moves
// traffic to a new pipeline without touching the listener.
func (g *GRPC) SetConsumer(consumer pipeline.Consumer) {
	g.consumer.Store(newConsumerBox(consumer))
}

// Start listens on cfg.Endpoint and serves in the background. A bind
// failure is returned.
func (g *GRPC) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", g.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("grpc receiver: listen on %q: %w", g.cfg.Endpoint, err)
	}
	if err := g.Serve(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// Serve serves on ln, already bound (for example handed over by the previous
// generation on reload), in the background, and returns at once. The
// receiver owns ln from then on: Shutdown closes it.
func (g *GRPC) Serve(ln net.Listener) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.initErr != nil {
		return g.initErr
	}
	switch g.state {
	case stateServing:
		return fmt.Errorf("grpc receiver: %w", ErrStarted)
	case stateShutdown:
		return fmt.Errorf("grpc receiver: %w", ErrShutdown)
	}
	g.state = stateServing
	g.ln = ln
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		// Serve returns nil after Stop/GracefulStop, and ErrServerStopped
		// (closing ln) when Shutdown won the race with this goroutine;
		// anything else means the listener broke under us.
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			g.log.Error("serving stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return nil
}

// Addr is the address being served, or nil before Start/Serve.
func (g *GRPC) Addr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return nil
	}
	return g.ln.Addr()
}

// Shutdown stops accepting connections and calls, reports NOT_SERVING on
// the health service, and waits for calls in flight to finish. When ctx ends
// first, it cuts the remaining calls off (cancelling their contexts) and
// returns ctx's error. Either way it returns only once no handler is left
// running, so no Consume call outlives the receiver. Safe to call without
// Start and more than once.
func (g *GRPC) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.state = stateShutdown
	done := g.done
	g.mu.Unlock()

	g.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		g.srv.GracefulStop()
		close(stopped)
	}()
	var err error
	select {
	case <-stopped:
	case <-ctx.Done():
		g.srv.Stop()
		<-stopped
		err = fmt.Errorf("grpc receiver: shutdown: calls still in flight were cut off: %w", ctx.Err())
	}
	if done != nil {
		<-done
	}
	return err
}

// tap runs on the connection's I/O goroutine before a call's stream exists:
// refusing here means an overloaded gateway does not even buffer the
// request body.
func (g *GRPC) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	sig, ok := grpcMethodSignal(info.FullMethodName)
	if !ok {
		return ctx, nil // grpc.health.v1: probes carry no credentials
	}
	if g.auth != nil {
		var authz string
		if v := info.Header.Get("authorization"); len(v) > 0 {
			authz = v[0]
		}
		if err := g.auth.check(authz); err != nil {
			return ctx, g.refuse(sig, err, 0)
		}
	}
	box := g.consumer.Load()
	if box.admit == nil {
		return ctx, nil
	}
	if err := box.admit.Admit(sig); err != nil {
		return ctx, g.refuse(sig, err, 0)
	}
	return ctx, nil
}

// serviceDesc describes one OTLP service by hand, so the request reaches the
// handler as raw bytes (see passThroughCodec).
func (g *GRPC) serviceDesc(sig otlpwire.Signal) *grpc.ServiceDesc {
	name := grpcServiceNames[sig]
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return g.export(ctx, sig, dec)
			},
		}},
		Metadata: "opentelemetry/proto/collector/" + sig.String() + "/v1/" + sig.String() + "_service.proto",
	}
}

// export is the Export handler of all three services. The server installs
// no unary interceptors, so the interceptor argument is always nil and
// ignored.
func (g *GRPC) export(ctx context.Context, sig otlpwire.Signal, dec func(any) error) (any, error) {
	var req rawMessage
	if err := dec(&req); err != nil {
		// grpc-go has already sent its own status to the client (RecvMsg
		// writes it): RESOURCE_EXHAUSTED over max_recv_msg_size (also after
		// decompression), INTERNAL for a message that is cut short or does
		// not decompress, CANCELED when the client went away. Only count it.
		st := status.Convert(err)
		m := &g.metrics[sig]
		m.request(int(st.Code()), grpcCodeLabel)
		m.refuse(kindOfGRPCCode(st.Code()), 0)
		return nil, err
	}
	return g.consume(ctx, sig, &req)
}

func (g *GRPC) consume(ctx context.Context, sig otlpwire.Signal, req *rawMessage) (any, error) {
	box := g.consumer.Load()
	var out pipeline.Outcome
	var err error
	if bc, ok := box.c.(pipeline.BufConsumer); ok && req.buf != nil {
		out, err = bc.ConsumeBuf(ctx, sig, req.buf)
	} else {
		// A plain Consumer may keep req.b, so its buffer is left to the
		// garbage collector rather than recycled.
		out, err = box.c.Consume(ctx, sig, req.b)
	}
	if err != nil {
		return nil, g.refuse(sig, err, out.Rejected)
	}
	m := &g.metrics[sig]
	m.accepted.Add(float64(out.Accepted + out.Rejected))
	m.request(int(codes.OK), grpcCodeLabel)
	if out.Rejected == 0 && out.Message == "" {
		return emptyReply, nil
	}
	return &rawMessage{b: otlpwire.EncodeExportResponse(sig, out.Rejected, out.Message, nil)}, nil
}

// refuse counts a refusal and returns the status error the client gets.
func (g *GRPC) refuse(sig otlpwire.Signal, err error, items int64) error {
	r := classify(err)
	if r.kind == gwerr.Internal {
		g.log.Error("export failed", "signal", sig.String(), "error", err)
	}
	st := r.grpcStatus()
	m := &g.metrics[sig]
	m.request(int(st.Code()), grpcCodeLabel)
	m.refuse(r.kind, items)
	return st.Err()
}

// kindOfGRPCCode is the refusal reason for a status grpc-go produced itself
// while reading the request. INTERNAL there means the client's message was
// truncated or did not decompress: malformed input, so "invalid".
func kindOfGRPCCode(c codes.Code) gwerr.Kind {
	switch c {
	case codes.ResourceExhausted:
		return gwerr.TooLarge
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable:
		return gwerr.Backpressure
	case codes.InvalidArgument, codes.Internal:
		return gwerr.Invalid
	}
	return gwerr.Internal
}
