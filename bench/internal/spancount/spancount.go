// Package spancount counts the spans in an encoded
// ExportTraceServiceRequest, or the log records in an encoded
// ExportLogsServiceRequest, by walking the protobuf wire format just deep
// enough (request → resource_spans → scope_spans → spans, and the same for
// logs), without decoding anything else and without allocating.
package spancount

import (
	"errors"
	"fmt"
)

// Field numbers from opentelemetry/proto/trace/v1 and collector/trace/v1.
const (
	fieldRequestResourceSpans = 1 // ExportTraceServiceRequest.resource_spans
	fieldResourceScopeSpans   = 2 // ResourceSpans.scope_spans
	fieldScopeSpans           = 2 // ScopeSpans.spans

	// From opentelemetry/proto/logs/v1 and collector/logs/v1: the same
	// shape, so the same walk counts log records.
	fieldRequestResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldResourceScopeLogs   = 2 // ResourceLogs.scope_logs
	fieldScopeLogRecords     = 2 // ScopeLogs.log_records
)

const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireSGroup = 3
	wireEGroup = 4
	wireI32    = 5
)

var (
	errTruncated = errors.New("truncated message")
	errEndGroup  = errors.New("unexpected end-group tag")
)

// Traces returns the number of spans in an encoded ExportTraceServiceRequest.
func Traces(b []byte) (int, error) {
	n, err := count(b, fieldRequestResourceSpans, fieldResourceScopeSpans, fieldScopeSpans)
	if err != nil {
		return 0, fmt.Errorf("count spans: %w", err)
	}
	return n, nil
}

// Logs returns the number of log records in an encoded
// ExportLogsServiceRequest.
func Logs(b []byte) (int, error) {
	n, err := count(b, fieldRequestResourceLogs, fieldResourceScopeLogs, fieldScopeLogRecords)
	if err != nil {
		return 0, fmt.Errorf("count log records: %w", err)
	}
	return n, nil
}

// count counts the items of a request → resource → scope → item nesting.
func count(b []byte, resources, scopes, items uint64) (int, error) {
	n := 0
	err := eachLen(b, resources, func(r []byte) error {
		return eachLen(r, scopes, func(s []byte) error {
			c, err := countLen(s, items)
			n += c
			return err
		})
	})
	return n, err
}

// eachLen calls fn with the payload of every length-delimited field numbered
// field in b, skipping all other fields.
func eachLen(b []byte, field uint64, fn func([]byte) error) error {
	for len(b) > 0 {
		num, isLen, payload, rest, err := next(b)
		if err != nil {
			return err
		}
		if num == field && isLen {
			if err := fn(payload); err != nil {
				return err
			}
		}
		b = rest
	}
	return nil
}

// countLen counts the length-delimited fields numbered field in b.
func countLen(b []byte, field uint64) (int, error) {
	n := 0
	for len(b) > 0 {
		num, isLen, _, rest, err := next(b)
		if err != nil {
			return n, err
		}
		if num == field && isLen {
			n++
		}
		b = rest
	}
	return n, nil
}

// next reads one field; payload is set only when isLen (length-delimited).
func next(b []byte) (num uint64, isLen bool, payload, rest []byte, err error) {
	tag, b, err := varint(b)
	if err != nil {
		return 0, false, nil, nil, err
	}
	num = tag >> 3
	if num == 0 {
		return 0, false, nil, nil, errors.New("field number 0")
	}
	switch tag & 7 {
	case wireVarint:
		_, b, err = varint(b)
		return num, false, nil, b, err
	case wireI64:
		if len(b) < 8 {
			return 0, false, nil, nil, errTruncated
		}
		return num, false, nil, b[8:], nil
	case wireI32:
		if len(b) < 4 {
			return 0, false, nil, nil, errTruncated
		}
		return num, false, nil, b[4:], nil
	case wireLen:
		l, b, err := varint(b)
		if err != nil {
			return 0, false, nil, nil, err
		}
		if l > uint64(len(b)) {
			return 0, false, nil, nil, errTruncated
		}
		return num, true, b[:l:l], b[l:], nil
	case wireSGroup:
		rest, err := skipGroup(b, num, 0)
		return num, false, nil, rest, err
	case wireEGroup:
		return num, false, nil, b, errEndGroup
	default:
		return 0, false, nil, nil, fmt.Errorf("field %d: unsupported wire type %d", num, tag&7)
	}
}

// maxGroupDepth bounds nesting so hostile input cannot exhaust the stack.
const maxGroupDepth = 100

// skipGroup skips past the end tag of the group numbered num: deprecated
// groups are still valid unknown fields.
func skipGroup(b []byte, num uint64, depth int) ([]byte, error) {
	if depth >= maxGroupDepth {
		return nil, errors.New("groups nested too deeply")
	}
	for {
		tag, rest, err := varint(b)
		if err != nil {
			return nil, err
		}
		switch {
		case tag&7 == wireEGroup && tag>>3 == num:
			return rest, nil
		case tag&7 == wireSGroup:
			if b, err = skipGroup(rest, tag>>3, depth+1); err != nil {
				return nil, err
			}
		default:
			_, _, _, b, err = next(b)
			if err != nil {
				return nil, err
			}
		}
	}
}

func varint(b []byte) (uint64, []byte, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, b[i+1:], nil
		}
	}
	return 0, nil, errTruncated
}
