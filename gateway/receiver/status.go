package receiver

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
)

// This file is the one place where a refusal becomes what the client sees
// (CONTRACT.md, "Status codes"). Everything upstream only picks a gwerr.Kind.

// numKinds sizes arrays indexed by gwerr.Kind.
const numKinds = gwerr.NumKinds

// DefaultRetryAfter is the retry delay sent with a backpressure refusal whose
// error carries none.
const DefaultRetryAfter = time.Second

// refusal is a classified error: what the client is told and why.
type refusal struct {
	kind       gwerr.Kind
	msg        string
	retryAfter time.Duration // backpressure only; never zero for it
}

// classify turns any error a Consumer (or the receiver itself) returns into
// a refusal. Internal errors keep only their client message: the wrapped
// cause may name files, addresses or bugs and goes to the log instead.
// A bare context error means the request ran out of time or the client went
// away while waiting: that is overload from the client's side, so it is
// retryable backpressure rather than a gateway bug.
func classify(err error) refusal {
	var ge *gwerr.Error
	switch {
	case errors.As(err, &ge):
		r := refusal{kind: ge.Kind, msg: ge.Error()}
		if ge.Kind == gwerr.Internal {
			r.msg = ge.Msg
			if r.msg == "" {
				r.msg = "internal error"
			}
		}
		if ge.Kind.Retryable() {
			r.retryAfter = ge.RetryAfter
		}
		return r.withDefaults()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return refusal{kind: gwerr.Backpressure, msg: "request not processed in time: " + err.Error()}.withDefaults()
	}
	return refusal{kind: gwerr.Internal, msg: "internal error"}
}

func (r refusal) withDefaults() refusal {
	if r.kind.Retryable() && r.retryAfter <= 0 {
		r.retryAfter = DefaultRetryAfter
	}
	return r
}

// reasonLabel is the receiver_refused_items_total{reason} label value for
// a refusal of kind k: invalid, too_large, backpressure, memory, storage,
// rejected, unauthenticated, internal.
func reasonLabel(k gwerr.Kind) string { return k.String() }

// grpcCode maps a Kind to its gRPC code.
func grpcCode(k gwerr.Kind) codes.Code {
	switch k {
	case gwerr.Invalid, gwerr.Rejected:
		return codes.InvalidArgument
	case gwerr.TooLarge:
		return codes.ResourceExhausted
	case gwerr.Backpressure, gwerr.Memory, gwerr.Storage:
		return codes.Unavailable
	case gwerr.Unauthenticated:
		return codes.Unauthenticated
	}
	return codes.Internal
}

// httpCode maps a Kind to its HTTP status.
func httpCode(k gwerr.Kind) int {
	switch k {
	case gwerr.Invalid, gwerr.Rejected:
		return http.StatusBadRequest
	case gwerr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case gwerr.Backpressure, gwerr.Memory, gwerr.Storage:
		return http.StatusServiceUnavailable
	case gwerr.Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// grpcStatus is the status a gRPC client gets. Only backpressure carries
// google.rpc.RetryInfo: OTLP clients retry RESOURCE_EXHAUSTED only when
// RetryInfo is present, and an over-size request must not be retried.
func (r refusal) grpcStatus() *status.Status {
	st := status.New(grpcCode(r.kind), validUTF8(r.msg))
	if !r.kind.Retryable() {
		return st
	}
	withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.retryAfter)})
	if err != nil {
		// Only fails if RetryInfo cannot be marshalled, which would be a
		// broken protobuf runtime; the bare status is still correct.
		return st
	}
	return withInfo
}

// validUTF8 makes a message safe for a protobuf string field: messages may
// quote client data (a bad path, a JSON parse error), and invalid UTF-8
// would make the Status fail to marshal.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// retryAfterSeconds is the Retry-After header value: whole seconds rounded
// up, at least 1 (0 would invite an immediate retry storm).
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// Content types the HTTP receiver speaks. The header values are shared,
// read-only slices so setting them on the hot path does not allocate.
const (
	ctProtobuf = "application/x-protobuf"
	ctJSON     = "application/json"
)

var (
	hdrProtobuf = []string{ctProtobuf}
	hdrJSON     = []string{ctJSON}
)

// writeHTTPRefusal answers an OTLP/HTTP request with r: the status code, a
// Retry-After header for backpressure, and a google.rpc.Status body in the
// request's encoding, as the OTLP/HTTP spec asks for every 4xx and 5xx.
func writeHTTPRefusal(w http.ResponseWriter, r refusal, asJSON bool) {
	switch r.kind {
	case gwerr.Backpressure, gwerr.Memory, gwerr.Storage:
		w.Header().Set("Retry-After", retryAfterSeconds(r.retryAfter))
	case gwerr.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="otlpgw"`)
	}
	writeHTTPStatus(w, httpCode(r.kind), grpcCode(r.kind), r.msg, asJSON)
}

// writeHTTPStatus writes an HTTP error with a google.rpc.Status body whose
// code is the gRPC code equivalent to the HTTP status.
func writeHTTPStatus(w http.ResponseWriter, httpStatus int, code codes.Code, msg string, asJSON bool) {
	st := &spb.Status{Code: int32(code), Message: validUTF8(msg)}
	var (
		body []byte
		err  error
	)
	h := w.Header()
	if asJSON {
		body, err = protojson.Marshal(st)
		h["Content-Type"] = hdrJSON
	} else {
		body, err = proto.Marshal(st)
		h["Content-Type"] = hdrProtobuf
	}
	if err != nil {
		// A Status of two scalar fields always marshals; answer with the
		// status line alone rather than a half-written body if it ever fails.
		body = nil
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
