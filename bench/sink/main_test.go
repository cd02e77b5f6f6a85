package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
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
