// Package receiver runs the OTLP/gRPC and OTLP/HTTP servers. It is for the
// gateway's lifecycle code: construct a receiver from its config section,
// Start it (or Serve it on a listener handed over from a previous
// generation), swap its Consumer on reload, Shutdown it.
//
// A receiver does no per-item work. It hands each request to a
// pipeline.Consumer as encoded protobuf bytes (OTLP/JSON is converted once,
// here) and maps the outcome to the client's status in one place,
// status.go.
//
// # Ownership of request bytes
//
// The req slice passed to Consumer.Consume belongs to the consumer: it was
// allocated for this request alone, nothing in the receiver reads or
// writes it after Consume is called, and the consumer may keep it (queue it,
// slice it, concatenate it in place) for as long as it likes. Receivers read
// bodies into pooled buffers, but never hand a pooled buffer to a consumer.
//
// Consume must return promptly once its ctx is done: Shutdown cancels the
// contexts of requests still running at its deadline and then waits for
// their handlers to return.
//
// # Metrics
//
// Per request, with transport "grpc" or "http":
//   - receiver_requests_total{signal,transport,code}: every answered export
//     request (gRPC code name, or HTTP status) on a known signal.
//   - receiver_accepted_items_total{signal,transport}: Outcome.Accepted +
//     Outcome.Rejected: every item the gateway took responsibility for,
//     including those filters then dropped, so that the books read
//     accepted = exported + dropped by filters + failed.
//   - receiver_refused_items_total{signal,transport,reason}: requests refused
//     with an error, reason = gwerr.Kind.String(). The count is the request's
//     items when the consumer knows them (it reports them in
//     Outcome.Rejected along with the error), otherwise 1 per request: a
//     request refused before anyone counted its items (at the door for
//     backpressure, over-size, undecodable) still shows up under its reason.
//     Items that filters drop from an accepted request (partial success) are
//     not refusals; the filter metrics count them.
package receiver

import (
	"errors"
	"log/slog"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// Settings is what the gateway injects into a receiver.
type Settings struct {
	// Logger receives rare, structured events (serve failures, internal
	// errors). Nil discards them.
	Logger *slog.Logger
	// Metrics is where the receiver_* counters live. Nil gives the receiver
	// a private registry nobody scrapes (handy in tests).
	Metrics *telemetry.Metrics
}

func (s Settings) withDefaults() Settings {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Metrics == nil {
		s.Metrics = telemetry.NewMetrics()
	}
	return s
}

// Admitter is an optional interface a pipeline.Consumer may implement to
// refuse work at the door. Receivers call Admit before reading a request's
// body (HTTP) or before creating its stream (gRPC), so an overloaded
// gateway answers UNAVAILABLE / 503 without spending memory or CPU on the
// request. Admit must not block: on gRPC it runs on the connection's I/O
// goroutine. It returns nil to let the request in, or an error (normally a
// gwerr Backpressure with RetryAfter) to refuse it.
type Admitter interface {
	Admit(sig otlpwire.Signal) error
}

// consumerBox lets a Consumer (an interface) live behind an atomic.Pointer;
// the Admitter assertion is done once per swap, not per request.
type consumerBox struct {
	c     pipeline.Consumer
	admit Admitter
}

// newConsumerBox panics on a nil consumer: that is a wiring bug in the
// caller, found at start-up or on the first reload test, never on input.
func newConsumerBox(c pipeline.Consumer) *consumerBox {
	if c == nil {
		panic("receiver: nil pipeline.Consumer")
	}
	a, _ := c.(Admitter)
	return &consumerBox{c: c, admit: a}
}

var (
	// ErrShutdown is returned by Start and Serve after Shutdown.
	ErrShutdown = errors.New("receiver is shut down")
	// ErrStarted is returned by Start and Serve on a receiver that is already
	// serving.
	ErrStarted = errors.New("receiver already started")
)

// lifecycle states.
const (
	stateNew = iota
	stateServing
	stateShutdown
)
