package receiver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
)

// Transport label values.
const (
	transportGRPC = "grpc"
	transportHTTP = "http"
)

// signalMetrics holds one signal's counters, resolved once at construction
// so that counting a request is a few atomic adds: no label lookups, no
// allocations.
type signalMetrics struct {
	accepted prometheus.Counter
	refused  [numKinds]prometheus.Counter
	// requests by status code; built once and only read afterwards, so
	// concurrent lookups need no lock.
	requests map[int]prometheus.Counter
	vec      *prometheus.CounterVec
	labels   [2]string // signal, transport: for a code outside the table
}

type transportMetrics [otlpwire.NumSignals]signalMetrics

func newTransportMetrics(m *telemetry.Metrics, transport string, codes []int, codeLabel func(int) string) transportMetrics {
	var tm transportMetrics
	for _, sig := range otlpwire.Signals {
		s := &tm[sig]
		name := sig.String()
		s.accepted = m.ReceiverAccepted.WithLabelValues(name, transport)
		for k := range numKinds {
			s.refused[k] = m.ReceiverRefused.WithLabelValues(name, transport, reasonLabel(gwerr.Kind(k)))
		}
		s.requests = make(map[int]prometheus.Counter, len(codes))
		for _, c := range codes {
			s.requests[c] = m.ReceiverRequests.WithLabelValues(name, transport, codeLabel(c))
		}
		s.vec = m.ReceiverRequests
		s.labels = [2]string{name, transport}
	}
	return tm
}

// request counts one answered request under its status code.
func (s *signalMetrics) request(code int, codeLabel func(int) string) {
	if c, ok := s.requests[code]; ok {
		c.Inc()
		return
	}
	s.vec.WithLabelValues(s.labels[0], s.labels[1], codeLabel(code)).Inc()
}

// refuse counts a refused request. items is how many items it held when the
// pipeline knows (it indexed the request before refusing it); when the
// request was refused before anyone counted its items (backpressure at the
// door, over-size, undecodable), it counts as 1, so every refused request
// shows up in receiver_refused_items_total under its reason.
func (s *signalMetrics) refuse(k gwerr.Kind, items int64) {
	if items <= 0 {
		items = 1
	}
	if int(k) >= numKinds {
		k = gwerr.Internal
	}
	s.refused[k].Add(float64(items))
}

// grpcCodes is every gRPC code: all resolved up front, since grpc-go itself
// may answer with any of them (Canceled, DeadlineExceeded, ...).
func grpcCodes() []int {
	out := make([]int, 0, 17)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		out = append(out, int(c))
	}
	return out
}

func grpcCodeLabel(c int) string { return codes.Code(c).String() }

// httpCodes is every status the HTTP receiver writes for a known path.
var httpCodes = []int{200, 400, 401, 405, 413, 415, 500, 503}

func httpCodeLabel(c int) string { return strconv.Itoa(c) }
