package exporter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// malformedKind is what was wrong with an upstream's answer; its label
// value is the `kind` of exporter_malformed_responses_total. The set is
// fixed so the metric has a bounded number of series.
type malformedKind uint8

const (
	// malformedRetryDelay: a RetryInfo or Retry-After that does not
	// decode, is negative, or asks for more than maxUpstreamDelay.
	malformedRetryDelay malformedKind = iota
	// malformedBody: a success whose body is not an Export*ServiceResponse.
	malformedBody
	// malformedContentType: an HTTP answer that is not
	// application/x-protobuf although the request was.
	malformedContentType
	numMalformed
)

func (k malformedKind) String() string {
	switch k {
	case malformedRetryDelay:
		return "retry_delay"
	case malformedBody:
		return "body"
	case malformedContentType:
		return "content_type"
	}
	return "unknown"
}

// maxUpstreamDelay bounds the wait an upstream may ask for between two
// attempts. A longer delay, though well formed, is far more likely a bug
// (a timestamp sent as seconds, a unit error) than a real plan to recover
// hours later; honouring it would park a worker until shutdown when
// retry.max_elapsed_time is 0, or give the batch up at once otherwise.
// Delays up to it are honoured in full, beyond retry.max_interval too.
const maxUpstreamDelay = time.Minute

// boundUpstreamDelay is d clamped to [0, maxUpstreamDelay], and whether d
// was outside that range.
func boundUpstreamDelay(d time.Duration) (time.Duration, bool) {
	switch {
	case d < 0:
		return 0, true
	case d > maxUpstreamDelay:
		return maxUpstreamDelay, true
	}
	return d, false
}

// malformedCounters are one exporter's exporter_malformed_responses_total
// children by kind. A nil *malformedCounters counts nothing (diagnose).
type malformedCounters [numMalformed]prometheus.Counter

func (c *malformedCounters) inc(k malformedKind) {
	if c != nil && c[k] != nil {
		c[k].Inc()
	}
}
