package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
	"github.com/otlpgw/otlpgw/bench/internal/spancount"
)

// sink is the gateway's upstream: an OTLP/gRPC trace endpoint that counts
// spans by walking the wire format and answers OK, so it costs the shared
// cores as little as possible.
type sink struct {
	srv   *grpc.Server
	ln    net.Listener
	spans atomic.Int64
	bad   atomic.Int64
}

// emptyResponse is an ExportTraceServiceResponse with no partial success.
var emptyResponse = &[]byte{}

type spanCounter struct{ n int }

func (c *spanCounter) Walk(b []byte) error {
	n, err := spancount.Traces(b)
	c.n = n
	return err
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	s := &sink{ln: ln, srv: grpc.NewServer(grpc.ForceServerCodecV2(rawcodec.Codec{}), grpc.MaxRecvMsgSize(64<<20))}
	s.srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var c spanCounter
				if err := dec(&c); err != nil {
					s.bad.Add(1)
					return nil, err
				}
				s.spans.Add(int64(c.n))
				return emptyResponse, nil
			},
		}},
	}, s)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) stop() { s.srv.Stop() }
