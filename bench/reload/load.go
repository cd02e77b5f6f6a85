package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
)

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// request is one pre-encoded ExportTraceServiceRequest.
type request struct {
	b     []byte
	spans int
	kept  int // spans the drop filter's health-check rule keeps
}

// poolSize distinct requests are sent round-robin: enough variety that no
// filter sees the same bytes twice in a row, little enough to build fast.
const poolSize = 64

var routes = []string{"/api/v1/orders/{id}", "/api/v1/cart", "/api/v1/users/{id}", "/api/v1/search", "/api/v1/checkout"}

// buildPool encodes poolSize requests of spans spans each: HTTP-server
// spans with 10 attributes, so every filter has work to do: 5 % are health
// checks (drop removes them), every 4th resource lacks
// deployment.environment (fix adds it), 4 % carry a 400-byte url.query
// (limits cuts it), 3 % a password and 10 % a user.email (redact deletes
// and hashes them). Timestamps lie just before now, so validate passes
// them.
func buildPool(spans int, now time.Time) ([]request, error) {
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]request, poolSize)
	longQuery := "q=" + strings.Repeat("x", 398)
	for q := range pool {
		res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			str("service.name", fmt.Sprintf("shop-%d", q%4)),
			str("service.version", "1.4.2"),
			str("host.name", fmt.Sprintf("node-%02d", q%7)),
		}}
		if q%4 != 3 {
			res.Attributes = append(res.Attributes, str("deployment.environment", "production"))
		}
		ss := make([]*tracepb.Span, spans)
		kept := 0
		var traceID []byte
		for i := range ss {
			if i%10 == 0 {
				traceID = randBytes(r, 16)
			}
			method, route := "GET", routes[r.IntN(len(routes))]
			path := strings.ReplaceAll(route, "{id}", fmt.Sprint(r.IntN(100000)))
			health := r.IntN(100) < 5
			if health {
				route, path = "/healthz", "/healthz"
			} else {
				kept++
			}
			start := now.Add(-time.Duration(1+r.IntN(1000)) * time.Millisecond)
			attrs := []*commonpb.KeyValue{
				str("http.request.method", method),
				str("http.route", route),
				str("url.path", path),
				str("url.scheme", "https"),
				str("server.address", "shop.example.com"),
				integer("server.port", 443),
				integer("http.response.status_code", 200),
				str("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"),
				str("client.address", fmt.Sprintf("10.0.%d.%d", r.IntN(256), r.IntN(256))),
				str("network.protocol.version", "1.1"),
			}
			if r.IntN(100) < 4 {
				attrs = append(attrs, str("url.query", longQuery))
			}
			if r.IntN(100) < 3 {
				attrs = append(attrs, str("password", "hunter2"))
			}
			if r.IntN(100) < 10 {
				attrs = append(attrs, str("user.email", fmt.Sprintf("user%d@example.com", r.IntN(1000))))
			}
			ss[i] = &tracepb.Span{
				TraceId:           traceID,
				SpanId:            randBytes(r, 8),
				Name:              method + " " + route,
				Kind:              tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: uint64(start.UnixNano()),
				EndTimeUnixNano:   uint64(start.Add(time.Duration(1+r.IntN(50)) * time.Millisecond).UnixNano()),
				Attributes:        attrs,
				Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_UNSET},
			}
		}
		msg := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource:   res,
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "bench/reload"}, Spans: ss}},
		}}}
		b, err := proto.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("encode request %d: %w", q, err)
		}
		pool[q] = request{b: b, spans: spans, kept: kept}
	}
	return pool, nil
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0] |= 1 // never all zero: validate would drop it
	return b
}

// load offers requests on a fixed schedule (open loop): request seq is due
// at start + seq*period whatever happened to the ones before it, and its
// latency runs from that due time to the answer. A stalled gateway
// therefore shows in the latency of every request due during the stall,
// not only of the few in flight (no coordinated omission). Workers only
// bound how many requests are in flight.
type load struct {
	conns  []*grpc.ClientConn
	pool   []request
	start  time.Time
	end    time.Time
	period float64 // ns between due times

	next atomic.Int64
	// lat[seq] is the latency from due time to answer, svc[seq] from send
	// to answer, in ns; -1 marks a failed request.
	lat, svc []int64

	spansAcked, keptAcked atomic.Int64
	failed                atomic.Int64
	errOnce               sync.Once
	firstErr              error
}

func dialConns(addr string, n int) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		c, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawcodec.Codec{})))
		if err != nil {
			closeConns(conns)
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeConns(cs []*grpc.ClientConn) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// newLoad schedules requests of spans spans at rate spans/s from start
// until end.
func newLoad(conns []*grpc.ClientConn, pool []request, start, end time.Time, rate, spans int) *load {
	period := float64(time.Second) * float64(spans) / float64(rate)
	n := int(float64(end.Sub(start))/period) + 1
	l := &load{conns: conns, pool: pool, start: start, end: end, period: period, lat: make([]int64, n), svc: make([]int64, n)}
	return l
}

func (l *load) due(seq int64) time.Time {
	return l.start.Add(time.Duration(float64(seq) * l.period))
}

// run sends with workers concurrent requests until every scheduled one
// has been answered.
func (l *load) run(workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		conn := l.conns[w%len(l.conns)]
		wg.Go(func() { l.work(conn) })
	}
	wg.Wait()
}

func (l *load) work(conn *grpc.ClientConn) {
	for {
		seq := l.next.Add(1) - 1
		due := l.due(seq)
		if seq >= int64(len(l.lat)) || !due.Before(l.end) {
			return
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		q := &l.pool[seq%int64(len(l.pool))]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sent := time.Now()
		err := conn.Invoke(ctx, exportMethod, &q.b, rawcodec.Discard{})
		done := time.Now()
		cancel()
		if err != nil {
			l.lat[seq], l.svc[seq] = -1, -1
			l.failed.Add(1)
			l.errOnce.Do(func() { l.firstErr = err })
			continue
		}
		l.lat[seq], l.svc[seq] = int64(done.Sub(due)), int64(done.Sub(sent))
		l.spansAcked.Add(int64(q.spans))
		l.keptAcked.Add(int64(q.kept))
	}
}
