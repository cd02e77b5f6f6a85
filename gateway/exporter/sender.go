// Package exporter sends queued OTLP batches to their destinations: OTLP
// over gRPC or HTTP, a debug log, or a file. Each exporter owns one bounded
// queue and a fixed set of workers that take batches from it, send them,
// and retry what the upstream says is retryable.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Sender delivers one encoded Export*ServiceRequest. Implementations must be
// safe for concurrent use: every worker of an exporter shares one Sender.
type Sender interface {
	// Send makes one attempt. It returns how many items the upstream
	// rejected in a partial_success (with its message), or an error that is
	// retryable (wrapped by Retryable) or permanent (anything else).
	//
	// items is how many items req holds, as the receiver's index counted
	// them; senders that report volume (debug) use it instead of decoding.
	// req is only valid until Send returns: the caller reuses its buffer.
	Send(ctx context.Context, sig otlpwire.Signal, req []byte, items int) (Partial, error)
	// Close releases connections; safe to call more than once.
	Close() error
}

// PartsSender is implemented by senders that can put a batch on the wire
// from its queue entries directly, saving the copy that concatenating them
// would cost. The parts are immutable and stay valid for as long as the
// sender wants them.
type PartsSender interface {
	SendParts(ctx context.Context, sig otlpwire.Signal, parts [][]byte, owners []*bufpool.Buf, items int) (Partial, error)
}

// Partial is an upstream's OTLP partial_success: items it refused although
// the request as a whole succeeded.
type Partial struct {
	Rejected int64
	Message  string
}

// RetryableError is a failed attempt worth repeating. After, when set, is
// the delay the upstream asked for (gRPC RetryInfo or HTTP Retry-After).
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retryable (upstream asks to wait %s): %v", e.After, e.Err)
	}
	return "retryable: " + e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable marks err as worth retrying, after at least `after` if non-zero.
func Retryable(err error, after time.Duration) error {
	return &RetryableError{Err: err, After: after}
}

// IsRetryable reports whether err was marked retryable, and the delay asked for.
func IsRetryable(err error) (bool, time.Duration) {
	var r *RetryableError
	if errors.As(err, &r) {
		return true, r.After
	}
	return false, 0
}
