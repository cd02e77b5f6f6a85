package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// poolSpec says what the pre-encoded requests look like.
type poolSpec struct {
	Signal        string // "traces" (the default when empty) or "logs"
	Requests      int    // distinct requests in the pool
	SpansPerReq   int    // items (spans or log records) in each request
	AttrsPerSpan  int    // attributes on each item, at most len(spanAttrs)
	Resources     int    // distinct resources the requests rotate through
	SpansPerTrace int    // items sharing one trace ID
	Seed          uint64 // makes the pool reproducible
	// Mix adds what the S2/S3 filters act on (see mix.go): health checks
	// to drop, near misses to keep, resources without
	// deployment.environment, over-long attribute values and password
	// attributes. Off, the pool is the S1 pass-through data, byte for byte.
	Mix bool
}

// request is one pre-encoded export request.
type request struct {
	b     []byte
	items int // spans or log records in b
	kept  int // items that the S2/S3 drop rule does not match
}

// endpoint is one HTTP route a fake service serves; the spans describe
// requests to it, so names and attributes look like real instrumentation.
type endpoint struct {
	method, route, path string
}

var endpoints = []endpoint{
	{"GET", "/api/v1/carts/{cart_id}", "/api/v1/carts/"},
	{"POST", "/api/v1/carts/{cart_id}/items", "/api/v1/carts/"},
	{"GET", "/api/v1/products/{product_id}", "/api/v1/products/"},
	{"POST", "/api/v1/checkout/{order_id}/payment", "/api/v1/checkout/"},
	{"GET", "/api/v1/recommendations/{user_id}", "/api/v1/recommendations/"},
	{"DELETE", "/api/v1/sessions/{session_id}", "/api/v1/sessions/"},
}

var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"okhttp/4.12.0 shop-android/5.41.2 (Pixel 8; Android 14)",
	"Go-http-client/2.0",
}

var services = []string{"checkout", "cart", "payments", "frontend", "recommendation", "inventory", "shipping", "accounts"}

var statusCodes = []int64{200, 200, 200, 200, 201, 204, 304, 400, 404, 500}

// spanAttrs builds the i-th attribute of a span; the order is the order of
// importance, so a smaller -attrs keeps the most common ones.
var spanAttrs = []func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue{
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("http.request.method", ep.method)
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue { return str("http.route", ep.route) },
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("url.path", ep.path+id)
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue { return str("url.scheme", "https") },
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("server.address", "frontend-proxy.shop.svc.cluster.local")
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue { return integer("server.port", 443) },
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return integer("http.response.status_code", statusCodes[r.IntN(len(statusCodes))])
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("user_agent.original", userAgents[r.IntN(len(userAgents))])
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("client.address", "10."+strconv.Itoa(r.IntN(256))+"."+strconv.Itoa(r.IntN(256))+"."+strconv.Itoa(1+r.IntN(254)))
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("network.protocol.version", "1.1")
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return integer("http.request.body.size", int64(r.IntN(4096)))
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("enduser.id", "u-"+strconv.FormatUint(r.Uint64()%1e9, 10))
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("session.id", strconv.FormatUint(r.Uint64(), 36))
	},
	func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return boolean("http.cache_hit", r.IntN(4) == 0)
	},
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func boolean(k string, v bool) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}}
}

// resource builds the i-th resource; with mix, all but every
// noEnvEvery-th also carry deployment.environment, the key the fix filter
// and the Collector's transform set where it is missing.
func resource(i int, mix bool) *resourcepb.Resource {
	svc := services[i%len(services)]
	r := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", svc),
		str("service.namespace", "shop"),
		str("service.version", "1."+strconv.Itoa(4+i%3)+".2"),
		str("service.instance.id", svc+"-7d9f8b6c5-"+strconv.Itoa(10000+i)),
		str("deployment.environment.name", "production"),
		str("host.name", "ip-10-0-"+strconv.Itoa(i%16)+"-"+strconv.Itoa(20+i)+".ec2.internal"),
		str("k8s.namespace.name", "shop"),
		str("k8s.pod.name", svc+"-7d9f8b6c5-"+strconv.Itoa(10000+i)),
		str("telemetry.sdk.name", "opentelemetry"),
		str("telemetry.sdk.language", "go"),
		str("telemetry.sdk.version", "1.47.0"),
	}}
	if mix && i%noEnvEvery != noEnvEvery-1 {
		r.Attributes = append(r.Attributes, str("deployment.environment", "production"))
	}
	return r
}

// buildPool encodes spec.Requests distinct export requests of spec.Signal.
// Every item in the pool has its own span ID and every trace its own trace
// ID.
func buildPool(spec poolSpec) ([]request, error) {
	if spec.Requests < 1 || spec.SpansPerReq < 1 || spec.Resources < 1 || spec.SpansPerTrace < 1 {
		return nil, fmt.Errorf("pool: requests, items, resources and items per trace must be >= 1 (got %+v)", spec)
	}
	if spec.AttrsPerSpan < 0 || spec.AttrsPerSpan > len(spanAttrs) {
		return nil, fmt.Errorf("pool: attributes per item must be in [0, %d] (got %d)", len(spanAttrs), spec.AttrsPerSpan)
	}
	r := rand.New(rand.NewPCG(spec.Seed, 0x6f746c7067772d62))
	resources := make([]*resourcepb.Resource, spec.Resources)
	for i := range resources {
		resources[i] = resource(i, spec.Mix)
	}
	var encode func(r *rand.Rand, spec poolSpec, q int, res *resourcepb.Resource) (proto.Message, int)
	switch spec.Signal {
	case "", "traces":
		encode = traceRequest
	case "logs":
		encode = logsRequest
	default:
		return nil, fmt.Errorf("pool: signal must be traces or logs (got %q)", spec.Signal)
	}
	pool := make([]request, spec.Requests)
	for q := range pool {
		req, dropped := encode(r, spec, q, resources[q%len(resources)])
		b, err := proto.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("pool: encode request %d: %w", q, err)
		}
		pool[q] = request{b: b, items: spec.SpansPerReq, kept: spec.SpansPerReq - dropped}
	}
	return pool, nil
}

// base is the first item's start time: 2026-01-01T00:00:00Z in ns.
const base = uint64(1_767_225_600_000_000_000)

// traceRequest builds the q-th ExportTraceServiceRequest of the pool and
// says how many of its spans the drop rule matches.
func traceRequest(r *rand.Rand, spec poolSpec, q int, res *resourcepb.Resource) (proto.Message, int) {
	spans := make([]*tracepb.Span, spec.SpansPerReq)
	var traceID, parent []byte
	dropped := 0
	for i := range spans {
		if i%spec.SpansPerTrace == 0 {
			traceID = randBytes(r, 16)
			parent = nil
		}
		spanID := randBytes(r, 8)
		ep := endpoints[r.IntN(len(endpoints))]
		id := strconv.FormatUint(r.Uint64(), 16)
		var m mixed
		if spec.Mix {
			m = pickMix(r)
			if m.ep != nil {
				ep, id = *m.ep, ""
			}
			if m.health {
				dropped++
			}
		}
		attrs := make([]*commonpb.KeyValue, spec.AttrsPerSpan, spec.AttrsPerSpan+2)
		for a := range attrs {
			attrs[a] = spanAttrs[a](r, ep, id)
		}
		attrs = m.addAttrs(r, attrs)
		start := base + uint64(q)*1e9 + uint64(i)*1e6 + r.Uint64N(1e6)
		kind := tracepb.Span_SPAN_KIND_SERVER
		if parent != nil {
			kind = tracepb.Span_SPAN_KIND_INTERNAL
		}
		status := &tracepb.Status{}
		if r.IntN(50) == 0 {
			status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "upstream timeout"}
		}
		spans[i] = &tracepb.Span{
			TraceId:           traceID,
			SpanId:            spanID,
			ParentSpanId:      parent,
			Flags:             0x101, // sampled, with the parent-is-remote bit known
			Name:              ep.method + " " + ep.route,
			Kind:              kind,
			StartTimeUnixNano: start,
			EndTimeUnixNano:   start + 1e5 + r.Uint64N(5e7),
			Attributes:        attrs,
			Status:            status,
		}
		parent = spanID
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: res,
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{
				Name:    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
				Version: "0.62.0",
			},
			Spans: spans,
		}},
		SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
	}}}, dropped
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := i; j < n && j < i+8; j++ {
			b[j] = byte(v >> (8 * (j - i)))
		}
	}
	return b
}
