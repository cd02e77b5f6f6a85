package exporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/internal/grpczstd"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// grpcMethods are the OTLP Export methods, indexed by signal.
var grpcMethods = [otlpwire.NumSignals]string{
	otlpwire.Traces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	otlpwire.Metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	otlpwire.Logs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

// defaultReadyTimeout bounds wait_for_ready when the exporter has no timeout.
const defaultReadyTimeout = 10 * time.Second

// grpcSender is the `otlp` exporter: OTLP/gRPC with the request bytes sent
// as they are and the response kept raw, so grpc-go never decodes OTLP.
type grpcSender struct {
	conn     *grpc.ClientConn
	endpoint string
	timeout  time.Duration
	md       metadata.MD // nil without headers
	// malformed counts answers that were not what OTLP/gRPC promises.
	malformed *malformedCounters
}

// Transport sizes for the export connection; see newGRPCSender.
const (
	grpcStreamWindow = 8 << 20
	grpcConnWindow   = 32 << 20
	grpcWriteBuffer  = 512 << 10
)

func newGRPCSender(cfg config.Exporter, malformed *malformedCounters) (*grpcSender, error) {
	tc, err := clientTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	callOpts := []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}
	switch cfg.Compression {
	case "", "none":
	case "gzip":
		callOpts = append(callOpts, grpc.UseCompressor(gzip.Name))
	case "zstd":
		callOpts = append(callOpts, grpc.UseCompressor(grpczstd.Name))
	default:
		return nil, fmt.Errorf("compression: unknown %q (want none, gzip or zstd)", cfg.Compression)
	}
	ka := keepaliveOf(cfg)
	conn, err := grpc.NewClient(cfg.Endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(callOpts...),
		grpc.WithUserAgent("otlpgw"),
		// Batches are megabytes. gRPC's 64 KiB default windows make the
		// sender stall for WINDOW_UPDATEs many times per batch, and its
		// 32 KiB write buffer turns each batch into hundreds of write
		// syscalls; both showed up as the largest CPU cost under load.
		grpc.WithInitialWindowSize(grpcStreamWindow),
		grpc.WithInitialConnWindowSize(grpcConnWindow),
		grpc.WithWriteBufferSize(grpcWriteBuffer),
		// A connection that a NAT or load balancer dropped without a
		// reset takes writes and never answers: without pings, calls
		// would time out on it and be retried on it for ever. A ping
		// unanswered within Timeout closes the transport, which fails
		// the calls on it (retryable UNAVAILABLE) and makes grpc-go dial
		// anew. Pings only while calls are in flight: servers with
		// grpc-go's default policy refuse pings on idle connections
		// (GOAWAY too_many_pings), and an idle connection loses nothing.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                ka.Time,
			Timeout:             ka.Timeout,
			PermitWithoutStream: false,
		}),
		// grpc-go's own reconnect schedule would wait up to 120s between
		// dials after a long outage, and 20s for a blackholed handshake:
		// the exporter would idle long after the upstream is back. Dials
		// are bounded like attempts (the attempt timeout) and spaced no
		// further apart than retries (retry.max_interval).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           reconnectBackoff(cfg.Retry),
			MinConnectTimeout: cmp.Or(cfg.Timeout, defaultReadyTimeout),
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", cfg.Endpoint, err)
	}
	s := &grpcSender{conn: conn, endpoint: cfg.Endpoint, timeout: cfg.Timeout, malformed: malformed}
	if len(cfg.Headers) > 0 {
		s.md = metadata.New(cfg.Headers)
	}
	if cfg.WaitForReady {
		if err := s.waitReady(cfg.Timeout); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return s, nil
}

// keepaliveOf is cfg's keepalive, or the default for a config built
// without one (tests and tools that skip config.Load).
func keepaliveOf(cfg config.Exporter) config.ExporterKeepalive {
	if cfg.Keepalive.Time <= 0 || cfg.Keepalive.Timeout <= 0 {
		return config.DefaultExporter().Keepalive
	}
	return cfg.Keepalive
}

// reconnectBackoff is grpc-go's default dial back-off, capped at the
// exporter's retry.max_interval when that is shorter.
func reconnectBackoff(r config.Retry) backoff.Config {
	b := backoff.DefaultConfig
	if r.MaxInterval > 0 && r.MaxInterval < b.MaxDelay {
		b.MaxDelay = r.MaxInterval
	}
	return b
}

func (s *grpcSender) waitReady(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = defaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.conn.Connect()
	for {
		st := s.conn.GetState()
		if st == connectivity.Ready {
			return nil
		}
		if !s.conn.WaitForStateChange(ctx, st) {
			return fmt.Errorf("wait_for_ready: %s not ready within %s (state %s)", s.endpoint, timeout, st)
		}
	}
}

// Send makes one Export call. Within the per-attempt timeout gRPC's own
// deadline is DEADLINE_EXCEEDED, which is retryable.
func (s *grpcSender) Send(ctx context.Context, sig otlpwire.Signal, req []byte, _ int) (Partial, error) {
	return s.invoke(ctx, sig, &outMsg{body: req[:len(req):len(req)]})
}

// SendParts is Send for a batch held as queue entries: gRPC frames the
// parts one after the other, so the batch is never concatenated. Unlike
// Send it does not wait for gRPC to let go of the parts: each lent part
// holds a reference on its entry's pooled buffer, dropped when gRPC frees
// it, so the buffer is recycled only then. gRPC may never free a data
// frame it had half written when the stream was reset (a connection gone
// silent mid-batch); that buffer then becomes garbage instead of a worker
// waiting for ever.
func (s *grpcSender) SendParts(ctx context.Context, sig otlpwire.Signal, parts [][]byte, owners []*bufpool.Buf, _ int) (Partial, error) {
	// Its own copy of the slice headers: gRPC keeps pointers to them after
	// the call, while the caller reuses its slice.
	m := &outParts{parts: append([][]byte(nil), parts...), owners: owners}
	return s.invoke(ctx, sig, m)
}

func (s *grpcSender) invoke(ctx context.Context, sig otlpwire.Signal, msg any) (Partial, error) {
	parent := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if s.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	var resp []byte
	err := s.conn.Invoke(ctx, grpcMethods[sig], msg, &resp)
	if m, ok := msg.(*outMsg); ok {
		m.waitReleased()
	}
	// (outParts waits in SendParts.)
	if err != nil {
		err, badDelay := classifyGRPC(fmt.Errorf("export %s to %s: %w", sig, s.endpoint, err), parent.Err() != nil)
		if badDelay {
			s.malformed.inc(malformedRetryDelay)
		}
		return Partial{}, err
	}
	rejected, text, err := otlpwire.DecodeExportResponse(resp)
	if err != nil {
		// An OK status says the upstream took the request, whatever the
		// body: retrying would duplicate it.
		s.malformed.inc(malformedBody)
		return Partial{Message: "unreadable export response: " + err.Error()}, nil
	}
	return Partial{Rejected: rejected, Message: text}, nil
}

func (s *grpcSender) Close() error {
	err := s.conn.Close()
	if status.Code(err) == codes.Canceled {
		return nil // already closed
	}
	return err
}

// classifyGRPC decides whether a failed Export is worth repeating, per the
// OTLP specification: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
// DATA_LOSS and CANCELLED are retryable, honouring a google.rpc.RetryInfo
// delay; RESOURCE_EXHAUSTED only when the status carries a RetryInfo (the
// upstream's sign that it will recover: without one it means "too large"
// or "over quota for good"); everything else is permanent. A CANCELLED
// caused by our own context (shutdown) is not retried: there is nobody
// left to retry. badDelay reports a RetryInfo that did not decode, was
// negative or asked for more than maxUpstreamDelay; its delay is then
// ignored or clamped, never trusted.
func classifyGRPC(err error, ownCancel bool) (classified error, badDelay bool) {
	st, ok := status.FromError(err)
	if !ok {
		return err, false
	}
	switch st.Code() {
	case codes.Canceled:
		if ownCancel {
			return err, false
		}
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.DataLoss:
	case codes.ResourceExhausted:
		if _, present, bad := retryInfoDelay(st); !present {
			return err, bad
		}
	default:
		return err, false
	}
	delay, _, bad := retryInfoDelay(st)
	return Retryable(err, delay), bad
}

// retryInfoName is the message name of google.rpc.RetryInfo, as a status
// detail's type URL ends.
const retryInfoName = "google.rpc.RetryInfo"

// retryInfoDelay reads the first google.rpc.RetryInfo among st's details:
// whether there is one, the delay it asks for bounded by
// boundUpstreamDelay, and whether it was malformed (bytes that do not
// decode, an invalid duration, a negative or too long delay). A RetryInfo
// without a delay asks for none.
func retryInfoDelay(st *status.Status) (delay time.Duration, present, bad bool) {
	for _, a := range st.Proto().GetDetails() {
		if a.MessageName() != retryInfoName {
			continue
		}
		var ri errdetails.RetryInfo
		if err := proto.Unmarshal(a.GetValue(), &ri); err != nil {
			return 0, true, true
		}
		d := ri.GetRetryDelay()
		if d == nil {
			return 0, true, false
		}
		if d.CheckValid() != nil {
			// Out of range or mixed signs: AsDuration would saturate or
			// guess; neither is what the upstream meant.
			return 0, true, true
		}
		delay, bad = boundUpstreamDelay(d.AsDuration())
		return delay, true, bad
	}
	return 0, false, false
}

// outMsg is one request handed to rawCodec. grpc-go may still read the
// bytes after Invoke returns (a stream ended early leaves data in its
// writer), so the buffer is reference-counted through mem.NewBuffer and
// Send waits for gRPC to let go of it: the caller reuses it afterwards.
type outMsg struct {
	body     []byte
	released chan struct{} // closed when gRPC frees the buffer; nil until marshalled
}

// Get is never called: the buffer comes from the caller, not this pool.
func (m *outMsg) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// Put is gRPC releasing the last reference to the request.
func (m *outMsg) Put(*[]byte) { close(m.released) }

func (m *outMsg) waitReleased() {
	if m.released != nil {
		<-m.released
	}
}

var errNotRaw = errors.New("rawCodec: message is not raw bytes")

// rawCodec passes encoded protobuf through untouched in both directions.
// Its name is "proto" so the wire content type stays application/grpc.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

// outParts is a request made of several encoded requests; concatenated
// they are one valid request (see otlpwire.Split). owners[i], when not
// nil, is the pooled buffer parts[i] lives in. A part large enough for
// gRPC to reference-count, with an owner, is lent through mem.NewBuffer
// with a reference on its owner (lentPart); others are copied, as outMsg
// does.
type outParts struct {
	parts  [][]byte
	owners []*bufpool.Buf
}

// lentPart is the mem.BufferPool of one lent part: gRPC's Put drops the
// reference Marshal took on the part's pooled buffer.
type lentPart struct{ owner *bufpool.Buf }

// Get is never called: the buffer comes from the queue, not this pool.
func (lentPart) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

func (l lentPart) Put(*[]byte) { l.owner.Release() }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*outParts); ok {
		bufs := make(mem.BufferSlice, 0, len(m.parts))
		for i, b := range m.parts {
			var owner *bufpool.Buf
			if i < len(m.owners) {
				owner = m.owners[i]
			}
			if owner != nil && !mem.IsBelowBufferPoolingThreshold(cap(b)) {
				owner.Retain(1) // a second encoding takes its own reference
				bufs = append(bufs, mem.NewBuffer(&m.parts[i], lentPart{owner}))
			} else {
				bufs = append(bufs, mem.SliceBuffer(append([]byte(nil), b...)))
			}
		}
		return bufs, nil
	}
	m, ok := v.(*outMsg)
	if !ok {
		return nil, errNotRaw
	}
	if m.released != nil || mem.IsBelowBufferPoolingThreshold(cap(m.body)) {
		// mem.NewBuffer would not count references for a buffer this small
		// (nor could one channel track a second encoding of the same
		// message), so gRPC gets its own copy and the caller's stays free.
		return mem.BufferSlice{mem.SliceBuffer(append([]byte(nil), m.body...))}, nil
	}
	m.released = make(chan struct{})
	return mem.BufferSlice{mem.NewBuffer(&m.body, m)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return errNotRaw
	}
	if data.Len() == 0 {
		*b = (*b)[:0]
		return nil
	}
	*b = data.Materialize()
	return nil
}
