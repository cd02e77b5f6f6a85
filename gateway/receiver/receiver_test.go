package receiver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recordingConsumer is the test downstream: it records every request and
// answers with a configurable Outcome or error.
type recordingConsumer struct {
	mu   sync.Mutex
	reqs []recorded
	out  pipeline.Outcome
	err  error
	// block, when set, makes Consume wait until ctx ends (a request stuck
	// in flight); started is closed on the first such call.
	block   bool
	started chan struct{}
}

type recorded struct {
	sig otlpwire.Signal
	req []byte
}

func (c *recordingConsumer) Consume(ctx context.Context, sig otlpwire.Signal, req []byte) (pipeline.Outcome, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, recorded{sig: sig, req: req})
	out, err, block, started := c.out, c.err, c.block, c.started
	c.mu.Unlock()
	if block {
		if started != nil {
			close(started)
		}
		<-ctx.Done()
		return pipeline.Outcome{}, ctx.Err()
	}
	return out, err
}

func (c *recordingConsumer) requests() []recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]recorded(nil), c.reqs...)
}

// admittingConsumer also refuses at the door.
type admittingConsumer struct {
	recordingConsumer
	admitErr error
	admits   int
}

func (c *admittingConsumer) Admit(otlpwire.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.admits++
	return c.admitErr
}

// errorCase is one row of the contract's status table as a consumer error.
type errorCase struct {
	name       string
	err        error
	grpcCode   string
	httpCode   int
	reason     string
	retryAfter time.Duration // expected RetryInfo / Retry-After; 0 = none
	msgHas     string        // the client's message contains this
	msgHasNot  string        // and not this (internal causes stay internal)
}

func errorCases() []errorCase {
	return []errorCase{
		{name: "invalid", err: gwerr.New(gwerr.Invalid, "invalid OTLP traces request"), grpcCode: "InvalidArgument", httpCode: 400, reason: "invalid", msgHas: "invalid OTLP"},
		{name: "too large", err: gwerr.New(gwerr.TooLarge, "batch over limit"), grpcCode: "ResourceExhausted", httpCode: 413, reason: "too_large", msgHas: "over limit"},
		{name: "backpressure", err: &gwerr.Error{Kind: gwerr.Backpressure, Msg: "queue full", RetryAfter: 3 * time.Second}, grpcCode: "Unavailable", httpCode: 503, reason: "backpressure", retryAfter: 3 * time.Second, msgHas: "queue full"},
		{name: "backpressure default delay", err: &gwerr.Error{Kind: gwerr.Backpressure, Msg: "draining"}, grpcCode: "Unavailable", httpCode: 503, reason: "backpressure", retryAfter: time.Second, msgHas: "draining"},
		{name: "memory", err: &gwerr.Error{Kind: gwerr.Memory, Msg: "gateway memory is over its soft limit"}, grpcCode: "Unavailable", httpCode: 503, reason: "memory", retryAfter: time.Second, msgHas: "soft limit"},
		{name: "storage", err: &gwerr.Error{Kind: gwerr.Storage, Msg: "could not store the request: no space left on device"}, grpcCode: "Unavailable", httpCode: 503, reason: "storage", retryAfter: time.Second, msgHas: "could not store"},
		{name: "rejected", err: gwerr.New(gwerr.Rejected, "filter[redact]: batch contains secrets"), grpcCode: "InvalidArgument", httpCode: 400, reason: "rejected", msgHas: "filter[redact]: batch contains secrets"},
		{name: "internal", err: gwerr.Wrap(gwerr.Internal, errors.New("/var/lib/secret path"), "queue write failed"), grpcCode: "Internal", httpCode: 500, reason: "internal", msgHas: "queue write failed", msgHasNot: "/var/lib"},
		{name: "unclassified", err: errors.New("nil pointer somewhere"), grpcCode: "Internal", httpCode: 500, reason: "internal", msgHas: "internal error", msgHasNot: "nil pointer"},
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("reading counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func requestsCount(t *testing.T, m *telemetry.Metrics, sig, transport, code string) float64 {
	return counterValue(t, m.ReceiverRequests.WithLabelValues(sig, transport, code))
}

func refusedCount(t *testing.T, m *telemetry.Metrics, sig, transport, reason string) float64 {
	return counterValue(t, m.ReceiverRefused.WithLabelValues(sig, transport, reason))
}

func acceptedCount(t *testing.T, m *telemetry.Metrics, sig, transport string) float64 {
	return counterValue(t, m.ReceiverAccepted.WithLabelValues(sig, transport))
}

// Requests of each signal, as a client would build them.

func traceRequest() *coltracepb.ExportTraceServiceRequest {
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			SpanId:  []byte{1, 2, 3, 4, 5, 6, 7, 8},
			Name:    "GET /",
			Attributes: []*commonpb.KeyValue{{Key: "http.method", Value: &commonpb.AnyValue{
				Value: &commonpb.AnyValue_StringValue{StringValue: "GET"}}}},
		}}}},
	}}}
}

func metricsRequest() *colmetricspb.ExportMetricsServiceRequest {
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "requests",
			Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: []*metricspb.NumberDataPoint{{
				Value: &metricspb.NumberDataPoint_AsInt{AsInt: 7}}}}},
		}}}},
	}}}
}

func logsRequest() *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "hello"}},
		}}}},
	}}}
}

func requestFor(sig otlpwire.Signal) proto.Message {
	switch sig {
	case otlpwire.Metrics:
		return metricsRequest()
	case otlpwire.Logs:
		return logsRequest()
	}
	return traceRequest()
}

// newRequestFor returns an empty request message of sig's type.
func newRequestFor(sig otlpwire.Signal) proto.Message {
	switch sig {
	case otlpwire.Metrics:
		return &colmetricspb.ExportMetricsServiceRequest{}
	case otlpwire.Logs:
		return &collogspb.ExportLogsServiceRequest{}
	}
	return &coltracepb.ExportTraceServiceRequest{}
}

// sameRequest reports whether got decodes to want.
func sameRequest(t *testing.T, sig otlpwire.Signal, got []byte, want proto.Message) {
	t.Helper()
	m := newRequestFor(sig)
	if err := proto.Unmarshal(got, m); err != nil {
		t.Fatalf("consumer got undecodable bytes: %v", err)
	}
	if !proto.Equal(m, want) {
		t.Fatalf("consumer got %v, want %v", m, want)
	}
}

// rejectedOf reads the partial_success rejected count from a decoded
// response of any signal.
func partialOf(m proto.Message) (int64, string) {
	switch r := m.(type) {
	case *coltracepb.ExportTraceServiceResponse:
		return r.GetPartialSuccess().GetRejectedSpans(), r.GetPartialSuccess().GetErrorMessage()
	case *colmetricspb.ExportMetricsServiceResponse:
		return r.GetPartialSuccess().GetRejectedDataPoints(), r.GetPartialSuccess().GetErrorMessage()
	case *collogspb.ExportLogsServiceResponse:
		return r.GetPartialSuccess().GetRejectedLogRecords(), r.GetPartialSuccess().GetErrorMessage()
	}
	return -1, ""
}

func newResponseFor(sig otlpwire.Signal) proto.Message {
	switch sig {
	case otlpwire.Metrics:
		return &colmetricspb.ExportMetricsServiceResponse{}
	case otlpwire.Logs:
		return &collogspb.ExportLogsServiceResponse{}
	}
	return &coltracepb.ExportTraceServiceResponse{}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {30 * time.Second, "30"}, {-time.Second, "1"},
	} {
		if got := retryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestClassifyContextErrorsAreBackpressure(t *testing.T) {
	for _, err := range []error{context.Canceled, context.DeadlineExceeded} {
		r := classify(err)
		if r.kind != gwerr.Backpressure || r.retryAfter != DefaultRetryAfter {
			t.Errorf("classify(%v) = %+v, want backpressure with the default delay", err, r)
		}
	}
}
