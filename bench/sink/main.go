// Command sink is the OTLP/gRPC trace and logs endpoint at the end of
// otlpgw's benchmark pipeline. It counts spans and log records by walking
// the wire format (never decoding the messages), answers OK, serves its
// counters as JSON over HTTP for the benchmark script, and prints a JSON
// summary when it stops.
//
// -stall makes every request wait before it is answered, to study how the
// system in front of the sink behaves under backpressure. -verify N decodes
// every Nth request and counts what scenarios S2/S3's filters should have
// removed (verify.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
	"github.com/otlpgw/otlpgw/bench/internal/spancount"
)

// stats is what GET /stats and the final summary report; counts are since
// start-up.
type stats struct {
	Spans      int64       `json:"spans"`
	LogRecords int64       `json:"log_records"`
	Verify     verifyStats `json:"verify"`
	Requests   int64       `json:"requests"`
	Bytes      int64       `json:"bytes"`
	Bad        int64       `json:"bad_requests"`
	Uptime     float64     `json:"uptime_s"`
	UnixNano   int64       `json:"unix_nano"`
}

type sink struct {
	stall                       time.Duration
	spans, requests, bytes, bad atomic.Int64
	logRecords                  atomic.Int64
	started                     time.Time
	// verifyEvery decodes one request in this many (0: none) and checks
	// it; seen numbers the requests for that.
	verifyEvery int64
	seen        atomic.Int64
	verifier    verifier
}

func (s *sink) snapshot() stats {
	now := time.Now()
	return stats{
		Spans: s.spans.Load(), LogRecords: s.logRecords.Load(), Verify: s.verifier.snapshot(), Requests: s.requests.Load(), Bytes: s.bytes.Load(), Bad: s.bad.Load(),
		Uptime: now.Sub(s.started).Seconds(), UnixNano: now.UnixNano(),
	}
}

// counter is the Walker a request is decoded into.
type counter struct {
	signal string // "traces" or "logs"
	items  int
	bytes  int
	verify *verifier // set: decode and check the request too
}

func (c *counter) Walk(b []byte) error {
	count := spancount.Traces
	if c.signal == "logs" {
		count = spancount.Logs
	}
	n, err := count(b)
	c.items, c.bytes = n, len(b)
	if err == nil && c.verify != nil {
		err = c.verify.verify(c.signal, b) // here: b is valid only during Walk
	}
	return err
}

// emptyResponse is an ExportTraceServiceResponse with no partial success:
// zero bytes on the wire.
var emptyResponse = &[]byte{}

func (s *sink) export(ctx context.Context, signal string, dec func(any) error) (any, error) {
	c := counter{signal: signal}
	if s.verifyEvery > 0 && s.seen.Add(1)%s.verifyEvery == 0 {
		c.verify = &s.verifier
	}
	if err := dec(&c); err != nil {
		s.bad.Add(1)
		return nil, err
	}
	if s.stall > 0 {
		t := time.NewTimer(s.stall)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if signal == "logs" {
		s.logRecords.Add(int64(c.items))
	} else {
		s.spans.Add(int64(c.items))
	}
	s.bytes.Add(int64(c.bytes))
	s.requests.Add(1)
	return emptyResponse, nil
}

// exportService is the OTLP service of one signal: its Export method only.
func exportService(name, signal string) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return srv.(*sink).export(ctx, signal, dec)
			},
		}},
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:4317", "OTLP/gRPC host:port; port 0 picks a free one")
	statsAddr := flag.String("stats", "127.0.0.1:0", "HTTP host:port serving GET /stats; empty disables it")
	stall := flag.Duration("stall", 0, "delay before answering each request (backpressure experiments)")
	maxRecv := flag.Int("max-recv-msg-size", 64<<20, "largest request accepted, in bytes (batches of 8192 spans exceed gRPC's 4 MiB default)")
	limit := flag.Duration("duration", 30*time.Minute, "stop after this long even if never signalled")
	verify := flag.Int64("verify", 0, "decode every Nth request and count health checks, passwords, values over 256 bytes and resources without deployment.environment still in it (scenarios S2/S3); 0 = off")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	s := &sink{stall: *stall, started: time.Now(), verifyEvery: *verify}
	if err := serve(ctx, s, *listen, *statsAddr, *maxRecv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(s.snapshot())
	fmt.Println(string(line))
}

// serve runs the sink until ctx ends. Once both listeners are bound it
// writes one JSON line with their addresses to ready, so a caller that asked
// for port 0 learns the ports.
func serve(ctx context.Context, s *sink, listen, statsAddr string, maxRecv int, ready io.Writer) error {
	gl, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawcodec.Codec{}), grpc.MaxRecvMsgSize(maxRecv))
	srv.RegisterService(exportService("opentelemetry.proto.collector.trace.v1.TraceService", "traces"), s)
	srv.RegisterService(exportService("opentelemetry.proto.collector.logs.v1.LogsService", "logs"), s)

	addrs := map[string]string{"grpc": gl.Addr().String()}
	var hs *http.Server
	var hl net.Listener
	if statsAddr != "" {
		if hl, err = net.Listen("tcp", statsAddr); err != nil {
			gl.Close()
			return fmt.Errorf("listen stats: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(s.snapshot())
		})
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		addrs["stats"] = hl.Addr().String()
	}
	line, _ := json.Marshal(addrs)
	if _, err := ready.Write(append(line, '\n')); err != nil {
		gl.Close()
		if hl != nil {
			hl.Close()
		}
		return fmt.Errorf("report addresses: %w", err)
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(gl) }()
	if hs != nil {
		go func() { errc <- hs.Serve(hl) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	srv.Stop()
	if hs != nil {
		_ = hs.Close()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
