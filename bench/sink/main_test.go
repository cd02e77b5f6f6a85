package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
)

// startSink runs serve on loopback and returns the addresses it reports.
func startSink(t *testing.T, s *sink) (grpcAddr, statsURL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, "127.0.0.1:0", "127.0.0.1:0", 64<<20, w) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var addrs map[string]string
	if err := json.Unmarshal(line, &addrs); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	return addrs["grpc"], "http://" + addrs["stats"] + "/stats"
}

func client(t *testing.T, addr string) coltracepb.TraceServiceClient {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return coltracepb.NewTraceServiceClient(c)
}

func request(spansPerScope ...int) *coltracepb.ExportTraceServiceRequest {
	rs := &tracepb.ResourceSpans{}
	for _, n := range spansPerScope {
		ss := &tracepb.ScopeSpans{}
		for range n {
			ss.Spans = append(ss.Spans, &tracepb.Span{TraceId: make([]byte, 16), SpanId: make([]byte, 8), Name: "op"})
		}
		rs.ScopeSpans = append(rs.ScopeSpans, ss)
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}}
}

func getStats(t *testing.T, url string) stats {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSinkCountsSpansAndServesStats(t *testing.T) {
	addr, url := startSink(t, &sink{started: time.Now()})
	c := client(t, addr)
	for _, req := range []*coltracepb.ExportTraceServiceRequest{request(3), request(2, 5)} {
		resp, err := c.Export(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.PartialSuccess != nil {
			t.Fatalf("partial success %v, want none", resp.PartialSuccess)
		}
	}
	st := getStats(t, url)
	if st.Spans != 10 || st.Requests != 2 || st.Bad != 0 || st.Bytes == 0 {
		t.Fatalf("stats %+v, want 10 spans in 2 requests, none bad", st)
	}
}

func TestSinkAcceptsRequestsOverGRPCDefaultLimit(t *testing.T) {
	addr, url := startSink(t, &sink{started: time.Now()})
	// 20000 spans with 1 KiB names: about 21 MiB, well over gRPC's 4 MiB
	// default and the size of a Collector batch of 8192 large spans.
	req := request(20000)
	name := string(make([]byte, 1024))
	for _, s := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		s.Name = name
	}
	if _, err := client(t, addr).Export(context.Background(), req, grpc.MaxCallSendMsgSize(64<<20)); err != nil {
		t.Fatal(err)
	}
	if st := getStats(t, url); st.Spans != 20000 {
		t.Fatalf("sink counted %d spans, want 20000", st.Spans)
	}
}

func TestSinkRejectsMalformedRequestAndCountsIt(t *testing.T) {
	addr, url := startSink(t, &sink{started: time.Now()})
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A truncated length-delimited field, sent as raw bytes.
	bad := []byte{1<<3 | 2, 50, 0}
	err = c.Invoke(context.Background(), "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &bad, rawcodec.Discard{},
		grpc.ForceCodecV2(rawcodec.Codec{}))
	if status.Code(err) == codes.OK {
		t.Fatal("malformed request answered OK")
	}
	if st := getStats(t, url); st.Bad != 1 || st.Spans != 0 || st.Requests != 0 {
		t.Fatalf("stats %+v, want one bad request and nothing counted", st)
	}
}

func TestSinkStallDelaysTheAnswer(t *testing.T) {
	const stall = 200 * time.Millisecond
	addr, _ := startSink(t, &sink{started: time.Now(), stall: stall})
	start := time.Now()
	if _, err := client(t, addr).Export(context.Background(), request(1)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < stall {
		t.Fatalf("answered after %v, want at least %v", d, stall)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stall/4)
	defer cancel()
	if _, err := client(t, addr).Export(ctx, request(1)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("export with a deadline shorter than the stall: %v, want DeadlineExceeded", err)
	}
}

func logsClient(t *testing.T, addr string) collogspb.LogsServiceClient {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return collogspb.NewLogsServiceClient(c)
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func logsRequest(bodies ...string) *collogspb.ExportLogsServiceRequest {
	sl := &logspb.ScopeLogs{}
	for _, b := range bodies {
		sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: b}}})
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("deployment.environment", "unknown")}},
		ScopeLogs: []*logspb.ScopeLogs{sl},
	}}}
}

func TestSinkCountsLogRecordsApartFromSpans(t *testing.T) {
	addr, url := startSink(t, &sink{started: time.Now()})
	if _, err := logsClient(t, addr).Export(context.Background(), logsRequest("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, addr).Export(context.Background(), request(2)); err != nil {
		t.Fatal(err)
	}
	if st := getStats(t, url); st.LogRecords != 3 || st.Spans != 2 || st.Requests != 2 || st.Verify.Requests != 0 {
		t.Fatalf("stats %+v, want 3 log records and 2 spans in 2 requests, none verified", st)
	}
}

func TestSinkVerifyCountsWhatTheFiltersShouldHaveRemoved(t *testing.T) {
	// Every request is verified.
	addr, url := startSink(t, &sink{started: time.Now(), verifyEvery: 1})
	long := string(make([]byte, 257))
	// Logs: one health check body, one near miss, one clean record.
	if _, err := logsClient(t, addr).Export(context.Background(), logsRequest("HEAD /readyz", "POST /healthz", "GET /api/v1/carts/1")); err != nil {
		t.Fatal(err)
	}
	// Traces: a resource without deployment.environment; a health check
	// span with a password; a span with a 257-byte value and one with 256.
	tr := request(4)
	spans := tr.ResourceSpans[0].ScopeSpans[0].Spans
	spans[0].Name = "GET /healthz"
	spans[0].Attributes = []*commonpb.KeyValue{str("password", "x")}
	spans[1].Name = "GET /healthz/details"
	spans[2].Attributes = []*commonpb.KeyValue{str("url.query", long)}
	spans[3].Attributes = []*commonpb.KeyValue{str("url.query", long[:256])}
	if _, err := client(t, addr).Export(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	want := verifyStats{Requests: 2, Items: 7, Resources: 2, Health: 2, Passwords: 1, Long: 1, Envless: 1}
	if st := getStats(t, url); st.Verify != want {
		t.Fatalf("verify %+v, want %+v", st.Verify, want)
	}
}

func TestSinkVerifiesOnlyEveryNthRequest(t *testing.T) {
	addr, url := startSink(t, &sink{started: time.Now(), verifyEvery: 3})
	for range 7 {
		if _, err := client(t, addr).Export(context.Background(), request(1)); err != nil {
			t.Fatal(err)
		}
	}
	if st := getStats(t, url); st.Verify.Requests != 2 || st.Verify.Items != 2 || st.Spans != 7 {
		t.Fatalf("stats %+v, want 2 of 7 requests verified", st)
	}
}
