// Package pipeline carries accepted requests from the receivers through the
// filter chain into every exporter's queue. A Generation is one immutable
// pipeline built from one Config; hot reload builds a second beside it and
// swaps.
package pipeline

import (
	"context"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Consumer takes one encoded Export*ServiceRequest from a receiver.
//
// On success every item the Outcome counts as accepted is in every
// exporter's queue; Rejected items were dropped by filters and are reported
// to the client as partial success. On error nothing was accepted; the
// error's gwerr.Kind decides the status the client gets.
type Consumer interface {
	Consume(ctx context.Context, sig otlpwire.Signal, req []byte) (Outcome, error)
}

// Outcome is what happened to an accepted request.
type Outcome struct {
	// Accepted counts items queued for export.
	Accepted int64
	// Rejected counts items dropped by filters; Message names filter and reason.
	Rejected int64
	Message  string
}

// BufConsumer is implemented by consumers that can take a request in a
// pooled buffer (see gateway/internal/bufpool). ConsumeBuf takes over the
// caller's reference to buf, whatever the outcome, and releases it once
// the request's bytes are no longer needed; the caller must not touch buf
// afterwards. Receivers use it when the consumer offers it and Consume
// otherwise.
type BufConsumer interface {
	ConsumeBuf(ctx context.Context, sig otlpwire.Signal, buf *bufpool.Buf) (Outcome, error)
}
