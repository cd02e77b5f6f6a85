package otlpwire

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Export*ServiceResponse has one field, 1 partial_success, whose message is
// {1: rejected_spans | rejected_data_points | rejected_log_records (int64),
// 2: error_message (string)} for all three signals; only the field names
// differ, and they matter for JSON alone. Encoding by hand keeps the response
// path free of generated types and reflection.

// EncodeExportResponse appends the protobuf Export*ServiceResponse for sig to
// dst and returns it. With rejected == 0 and msg == "" the response is the
// empty message (nothing is appended), which clients read as full success.
func EncodeExportResponse(sig Signal, rejected int64, msg string, dst []byte) []byte {
	_ = sig // the field numbers are the same for every signal
	if rejected == 0 && msg == "" {
		return dst
	}
	n := 0
	if rejected != 0 {
		n += protowire.SizeTag(1) + protowire.SizeVarint(uint64(rejected))
	}
	if msg != "" {
		n += protowire.SizeTag(2) + protowire.SizeBytes(len(msg))
	}
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(n))
	if rejected != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(rejected))
	}
	if msg != "" {
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendString(dst, msg)
	}
	return dst
}

// rejectedKey is the OTLP/JSON (lowerCamelCase) name of the rejected count.
func rejectedKey(sig Signal) string {
	switch sig {
	case Metrics:
		return "rejectedDataPoints"
	case Logs:
		return "rejectedLogRecords"
	}
	return "rejectedSpans"
}

// EncodeExportResponseJSON returns the OTLP/JSON Export*ServiceResponse for
// sig: `{}` for full success, otherwise
// {"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}} with the
// count as a JSON string (proto3 JSON encodes int64 that way) and the key
// named for the signal. Zero-valued fields are omitted.
func EncodeExportResponseJSON(sig Signal, rejected int64, msg string) []byte {
	if rejected == 0 && msg == "" {
		return []byte("{}")
	}
	b := make([]byte, 0, 64+len(msg))
	b = append(b, `{"partialSuccess":{`...)
	if rejected != 0 {
		b = append(b, '"')
		b = append(b, rejectedKey(sig)...)
		b = append(b, `":"`...)
		b = strconv.AppendInt(b, rejected, 10)
		b = append(b, '"')
	}
	if msg != "" {
		if rejected != 0 {
			b = append(b, ',')
		}
		b = append(b, `"errorMessage":`...)
		b = appendJSONString(b, msg)
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON (messages may quote client data).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// consumeTag is protowire.ConsumeTag limited to valid field numbers, as
// message decoding requires (ConsumeTag allows larger ones for MessageSet).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		// Reuse protowire's own error code for a bad field number.
		_, _, n = protowire.ConsumeTag([]byte{0})
	}
	return num, typ, n
}

// errBadResponse is wrapped by every DecodeExportResponse error.
var errBadResponse = errors.New("malformed export response")

// DecodeExportResponse reads partial_success from an encoded
// Export*ServiceResponse of any signal, as an exporter does with an upstream
// answer. An empty response means full success (0, "", nil). Unknown fields
// are skipped; repeated occurrences merge as protobuf requires (the last
// value of each scalar wins).
func DecodeExportResponse(resp []byte) (rejected int64, msg string, err error) {
	for len(resp) > 0 {
		num, typ, n := consumeTag(resp)
		if n < 0 {
			return 0, "", fmt.Errorf("%w: tag: %v", errBadResponse, protowire.ParseError(n))
		}
		resp = resp[n:]
		if num != 1 {
			n = protowire.ConsumeFieldValue(num, typ, resp)
			if n < 0 {
				return 0, "", fmt.Errorf("%w: field %d: %v", errBadResponse, num, protowire.ParseError(n))
			}
			resp = resp[n:]
			continue
		}
		if typ != protowire.BytesType {
			return 0, "", fmt.Errorf("%w: partial_success: wire type %d, want 2", errBadResponse, typ)
		}
		ps, n := protowire.ConsumeBytes(resp)
		if n < 0 {
			return 0, "", fmt.Errorf("%w: partial_success: %v", errBadResponse, protowire.ParseError(n))
		}
		resp = resp[n:]
		for len(ps) > 0 {
			num, typ, n := consumeTag(ps)
			if n < 0 {
				return 0, "", fmt.Errorf("%w: partial_success: tag: %v", errBadResponse, protowire.ParseError(n))
			}
			ps = ps[n:]
			switch {
			case num == 1 && typ == protowire.VarintType:
				v, n := protowire.ConsumeVarint(ps)
				if n < 0 {
					return 0, "", fmt.Errorf("%w: partial_success.rejected: %v", errBadResponse, protowire.ParseError(n))
				}
				rejected = int64(v)
				ps = ps[n:]
			case num == 2 && typ == protowire.BytesType:
				v, n := protowire.ConsumeBytes(ps)
				if n < 0 {
					return 0, "", fmt.Errorf("%w: partial_success.error_message: %v", errBadResponse, protowire.ParseError(n))
				}
				msg = string(v)
				ps = ps[n:]
			case num == 1 || num == 2:
				return 0, "", fmt.Errorf("%w: partial_success field %d: wire type %d", errBadResponse, num, typ)
			default:
				n = protowire.ConsumeFieldValue(num, typ, ps)
				if n < 0 {
					return 0, "", fmt.Errorf("%w: partial_success field %d: %v", errBadResponse, num, protowire.ParseError(n))
				}
				ps = ps[n:]
			}
		}
	}
	return rejected, msg, nil
}
