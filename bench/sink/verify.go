package main

import (
	"regexp"
	"sync/atomic"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// What scenarios S2 and S3 ask of a target (bench/README.md): the sink
// checks that what arrives shows none of what the filters remove.
var (
	// healthCheck is the drop rule: span names, or log bodies, it matches
	// must not arrive.
	healthCheck = regexp.MustCompile(`^(GET|HEAD) /(healthz|readyz|livez)$`)
)

const (
	envKey      = "deployment.environment" // every resource must carry it
	secretKey   = "password"               // no attribute may carry it
	maxValueLen = 256                      // no string attribute value may be longer
)

// verifyStats counts what the sampled requests still held that S2/S3's
// filters should have removed. Every *_left count and
// resources_without_env should stay 0.
type verifyStats struct {
	Requests  int64 `json:"verified_requests"`
	Items     int64 `json:"verified_items"`
	Resources int64 `json:"verified_resources"`
	Health    int64 `json:"health_checks_left"`
	Passwords int64 `json:"passwords_left"`
	Long      int64 `json:"long_values_left"`
	Envless   int64 `json:"resources_without_env"`
}

type verifier struct {
	requests, items, resources, health, passwords, long, envless atomic.Int64
}

func (v *verifier) snapshot() verifyStats {
	return verifyStats{
		Requests: v.requests.Load(), Items: v.items.Load(), Resources: v.resources.Load(), Health: v.health.Load(),
		Passwords: v.passwords.Load(), Long: v.long.Load(), Envless: v.envless.Load(),
	}
}

// verdict is one request's counts, added to the totals at once.
type verdict struct {
	items, resources, health, passwords, long, envless int64
}

func (d *verdict) resource(r *resourcepb.Resource) {
	d.resources++
	d.attrs(r.GetAttributes())
	for _, kv := range r.GetAttributes() {
		if kv.Key == envKey {
			return
		}
	}
	d.envless++
}

func (d *verdict) attrs(kvs []*commonpb.KeyValue) {
	for _, kv := range kvs {
		if kv.Key == secretKey {
			d.passwords++
		}
		if len(kv.GetValue().GetStringValue()) > maxValueLen {
			d.long++
		}
	}
}

func (d *verdict) item(name string, attrs []*commonpb.KeyValue) {
	d.items++
	if healthCheck.MatchString(name) {
		d.health++
	}
	d.attrs(attrs)
}

// verify decodes an encoded export request of signal (it allocates: the
// sink does it for one request in -verify) and adds what it finds.
func (v *verifier) verify(signal string, b []byte) error {
	var d verdict
	switch signal {
	case "traces":
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return err
		}
		for _, rs := range req.ResourceSpans {
			d.resource(rs.Resource)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					d.item(s.Name, s.Attributes)
				}
			}
		}
	case "logs":
		var req collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return err
		}
		for _, rl := range req.ResourceLogs {
			d.resource(rl.Resource)
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					d.item(lr.GetBody().GetStringValue(), lr.Attributes)
				}
			}
		}
	}
	v.requests.Add(1)
	v.items.Add(d.items)
	v.resources.Add(d.resources)
	v.health.Add(d.health)
	v.passwords.Add(d.passwords)
	v.long.Add(d.long)
	v.envless.Add(d.envless)
	return nil
}
