package main

import (
	"math/rand/v2"
	"strconv"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// severity is one level of the mix the log records draw from.
type severity struct {
	num     logspb.SeverityNumber
	text    string
	percent int
}

// severities is the level mix of a busy service's access and application
// logs; the percentages add up to 100.
var severities = []severity{
	{logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, "DEBUG", 20},
	{logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO", 62},
	{logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN", 12},
	{logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR", 6},
}

func pickSeverity(r *rand.Rand) severity {
	u := r.IntN(100)
	for _, s := range severities {
		if u < s.percent {
			return s
		}
		u -= s.percent
	}
	return severities[len(severities)-1]
}

// logAttrs are the attributes of a log record: those of a span, with the
// emitting function where a span has the client's user agent (an access
// log line already carries the request; this keeps a record near 550
// bytes, like a span).
var logAttrs = func() []func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
	a := append([]func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue(nil), spanAttrs...)
	a[7] = func(r *rand.Rand, ep endpoint, id string) *commonpb.KeyValue {
		return str("code.function.name", "httpserver.(*Server).ServeHTTP")
	}
	return a
}()

// logsRequest builds the q-th ExportLogsServiceRequest of the pool: access
// log records of an HTTP server, with the same attributes as the spans, a
// body of about 100 bytes and the trace context of the request they
// describe. It says how many records the drop rule matches: with the mix, a
// health check's body is its request line ("GET /healthz"), which is what
// S3's rule matches, the same pattern S2 applies to span names.
func logsRequest(r *rand.Rand, spec poolSpec, q int, res *resourcepb.Resource) (proto.Message, int) {
	records := make([]*logspb.LogRecord, spec.SpansPerReq)
	var traceID []byte
	dropped := 0
	for i := range records {
		if i%spec.SpansPerTrace == 0 {
			traceID = randBytes(r, 16)
		}
		spanID := randBytes(r, 8)
		ep := endpoints[r.IntN(len(endpoints))]
		id := strconv.FormatUint(r.Uint64(), 16)
		var m mixed
		if spec.Mix {
			m = pickMix(r)
			if m.ep != nil {
				ep, id = *m.ep, ""
			}
		}
		attrs := make([]*commonpb.KeyValue, spec.AttrsPerSpan, spec.AttrsPerSpan+2)
		for a := range attrs {
			attrs[a] = logAttrs[a](r, ep, id)
		}
		attrs = m.addAttrs(r, attrs)
		sev := pickSeverity(r)
		t := base + uint64(q)*1e9 + uint64(i)*1e6 + r.Uint64N(1e6)
		body := ep.method + " " + ep.path + id
		if m.health {
			body = ep.method + " " + ep.route // the probe's request line, nothing else
			dropped++
		} else {
			body += " completed with " + strconv.Itoa(int(statusCodes[r.IntN(len(statusCodes))])) +
				" in " + strconv.Itoa(1+r.IntN(900)) + "." + strconv.Itoa(r.IntN(10)) + " ms, " +
				strconv.Itoa(r.IntN(65536)) + " bytes to u-" + strconv.FormatUint(r.Uint64()%1e9, 10)
		}
		records[i] = &logspb.LogRecord{
			TimeUnixNano:         t,
			ObservedTimeUnixNano: t + 2e5 + r.Uint64N(1e6),
			SeverityNumber:       sev.num,
			SeverityText:         sev.text,
			Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}},
			Attributes:           attrs,
			Flags:                1, // sampled
			TraceId:              traceID,
			SpanId:               spanID,
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: res,
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope: &commonpb.InstrumentationScope{
				Name:    "go.opentelemetry.io/contrib/bridges/otelslog",
				Version: "0.12.0",
			},
			LogRecords: records,
		}},
		SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
	}}}, dropped
}
