package pipeline

import (
	"context"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Filter is one stage of the filter chain. The WASM host implements it;
// the chain is empty until filters are configured.
//
// Process looks at an indexed request and answers what to do with it. It
// must not keep req or ix after returning, and must not modify req in
// place: req may already be shared with other readers.
type Filter interface {
	Name() string
	Process(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index) (FilterResult, error)
}

// FilterResult is a filter's verdict on one request.
type FilterResult struct {
	// Req, when non-nil, replaces the request (its items are recounted).
	Req []byte
	// Buf, when set, is the pooled buffer Req lives in; its one reference
	// passes to the pipeline with the result.
	Buf *bufpool.Buf
	// Indexed says the filter has already indexed Req at the resource level
	// into the index it was given (otlpwire.ApplyResources): enough for
	// counting and splitting, so after the last filter the pipeline skips
	// re-indexing. Any later filter gets a full index.
	Indexed bool
	// Dropped counts items the filter removed; Reason says why, for the
	// client's partial-success message.
	Dropped int
	Reason  string
	// Message, when set, replaces "filter[NAME]: Reason" in the client's
	// partial-success message: for a stage that runs several filters and
	// names each itself.
	Message string
}
