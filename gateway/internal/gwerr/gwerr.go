// Package gwerr classifies the errors that decide what a client is told.
// Receivers map a Kind to a gRPC or HTTP status in one place
// (gateway/receiver/status.go); everything else only picks the Kind.
package gwerr

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what went wrong from the client's point of view.
type Kind uint8

const (
	// Internal is a bug or an unexpected failure inside the gateway.
	Internal Kind = iota
	// Invalid is a malformed or invalid OTLP request: not retryable.
	Invalid
	// TooLarge is a body or message over the configured limit: not retryable.
	TooLarge
	// Backpressure is a full queue or a draining gateway: retryable after
	// RetryAfter.
	Backpressure
	// Rejected is a filter refusing the whole batch: not retryable.
	Rejected
	// Unauthenticated is a request without valid credentials.
	Unauthenticated
	// Memory is the gateway's memory over its soft limit: backpressure
	// like Backpressure (retryable after RetryAfter, the same status
	// codes), told apart so operators see why clients are refused.
	Memory
	// Storage is a persistent queue that cannot make the request durable
	// (a full disk, a failed write or fsync): backpressure like
	// Backpressure, told apart so operators see that this replica's disk,
	// not the upstream, refuses. Nothing refused was acknowledged.
	Storage
)

// NumKinds is how many Kinds there are, for arrays indexed by Kind.
const NumKinds = int(Storage) + 1

// Retryable reports whether a refusal of kind k tells the client to come
// back after RetryAfter: Backpressure, Memory and Storage.
func (k Kind) Retryable() bool { return k == Backpressure || k == Memory || k == Storage }

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case TooLarge:
		return "too_large"
	case Backpressure:
		return "backpressure"
	case Rejected:
		return "rejected"
	case Unauthenticated:
		return "unauthenticated"
	case Memory:
		return "memory"
	case Storage:
		return "storage"
	}
	return "internal"
}

// Error carries a Kind, a message for the client and, for backpressure,
// how long the client should wait before retrying.
type Error struct {
	Kind       Kind
	Msg        string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of kind k whose message is msg followed by err.
func Wrap(k Kind, err error, msg string) *Error {
	return &Error{Kind: k, Msg: msg, Err: err}
}

// KindOf returns the Kind of err, or Internal if err carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// RetryAfterOf returns the retry delay err carries, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
