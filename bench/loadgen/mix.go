package main

import (
	"math/rand/v2"
	"strconv"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// What -mix adds, for scenarios S2 (traces) and S3 (logs), whose filters
// drop health checks (span name, or log body, matching
// ^(GET|HEAD) /(healthz|readyz|livez)$), set deployment.environment on
// resources that lack it, truncate attribute values to 256 characters and
// delete the password attribute. Each item draws its ingredients
// independently, so the fractions hold in every request, not just on
// average over the pool.
const (
	healthPerMille   = 50 // items that are health checks: the drop rule matches them
	nearMissPerMille = 10 // items that look like health checks but must be kept
	longPercent      = 4  // items with one url.query value of 200-999 characters
	passwordPercent  = 3  // items with a password attribute
	noEnvEvery       = 4  // every 4th resource lacks deployment.environment
)

// healthChecks are what a kubelet or load balancer probe produces: every
// one matches the drop rule.
var healthChecks = []endpoint{
	{"GET", "/healthz", "/healthz"},
	{"HEAD", "/healthz", "/healthz"},
	{"GET", "/readyz", "/readyz"},
	{"HEAD", "/readyz", "/readyz"},
	{"GET", "/livez", "/livez"},
	{"HEAD", "/livez", "/livez"},
}

// nearMisses differ from a health check only where an unanchored or
// too-loose rule would still drop them: both targets must keep them.
var nearMisses = []endpoint{
	{"POST", "/healthz", "/healthz"},
	{"GET", "/healthz/details", "/healthz/details"},
	{"GET", "/api/v1/readyz", "/api/v1/readyz"},
}

// mixed is what one item got from the mix.
type mixed struct {
	ep       *endpoint // replaces the item's endpoint when set
	health   bool      // the drop rule matches the item
	long     bool      // add an over-long url.query
	password bool      // add a password attribute
}

func pickMix(r *rand.Rand) mixed {
	var m mixed
	switch u := r.IntN(1000); {
	case u < healthPerMille:
		m.ep, m.health = &healthChecks[r.IntN(len(healthChecks))], true
	case u < healthPerMille+nearMissPerMille:
		m.ep = &nearMisses[r.IntN(len(nearMisses))]
	}
	m.long = r.IntN(100) < longPercent
	m.password = r.IntN(100) < passwordPercent
	return m
}

// addAttrs appends the attributes m asks for.
func (m mixed) addAttrs(r *rand.Rand, attrs []*commonpb.KeyValue) []*commonpb.KeyValue {
	if m.long {
		// 200-999 characters: most exceed the 256 limit, a few stay under
		// it and must come through whole.
		attrs = append(attrs, str("url.query", query(r, 200+r.IntN(800))))
	}
	if m.password {
		attrs = append(attrs, str("password", "hunter2-"+strconv.FormatUint(r.Uint64()%1e6, 10)))
	}
	return attrs
}

// query is an ASCII query string of exactly n bytes, so that characters
// and bytes agree and both targets truncate at the same place.
func query(r *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		switch {
		case i%12 == 0:
			b[i] = '&'
		case i%12 == 5:
			b[i] = '='
		default:
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	b[0] = 'q'
	return string(b)
}
