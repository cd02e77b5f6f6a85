package wasmhost

import (
	"errors"
	"fmt"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Failure kinds: the values of FailureError.Kind and of the kind label of
// otlpgw_filter_failures_total.
const (
	// KindTrap: the guest trapped, panicked, exited or broke an ABI rule at
	// run time (e.g. alloc returned memory it does not have).
	KindTrap = "trap"
	// KindTimeout: the call did not finish within the filter's timeout, or
	// no instance became free within it.
	KindTimeout = "timeout"
	// KindOOM: the guest hit its memory limit, or its alloc returned 0.
	KindOOM = "oom"
	// KindBadOutput: the guest handed the host an out-of-bounds pointer or a
	// malformed or inapplicable edit list.
	KindBadOutput = "bad_output"
)

// What the pipeline does with a batch whose filter call failed
// (LoadConfig.OnError, FailureError.OnError).
const (
	OnErrorPass   = "pass"   // forward the batch unfiltered
	OnErrorDrop   = "drop"   // drop it, counted, reported as rejected items
	OnErrorReject = "reject" // refuse the request (INVALID_ARGUMENT / 400)
)

// ErrClosed is returned by Process after Close.
var ErrClosed = errors.New("filter closed")

// FailureError is the error Process returns when the filter failed on a
// batch (not when the caller's context ended). The pipeline applies OnError
// to the batch and counts otlpgw_filter_failures_total{filter, kind}. The
// instance that failed has already been discarded.
type FailureError struct {
	Filter  string
	Signal  otlpwire.Signal
	Kind    string // KindTrap, KindTimeout, KindOOM or KindBadOutput
	OnError string // the filter's on_error: OnErrorPass, OnErrorDrop or OnErrorReject
	Msg     string // what happened, one line, e.g. "exit code 2: panic: boom"
	Err     error  // the underlying error, if any
}

// Error reads like "filter[redact] signal[traces]: timeout: otlpgw_process_traces did not return within 50ms".
func (e *FailureError) Error() string {
	return fmt.Sprintf("filter[%s] signal[%s]: %s: %s", e.Filter, e.Signal, e.Kind, e.Msg)
}

// Unwrap returns the underlying error, if any.
func (e *FailureError) Unwrap() error { return e.Err }
