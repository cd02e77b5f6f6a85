package main

import (
	"iter"
	"strconv"
	"unsafe"

	"github.com/otlpgw/otlpgw/sdk"
)

var (
	deletedCount = sdk.NewCounter("redact_deleted_total", "Attributes deleted because a key to hash or mask appeared twice on one owner. Keys in delete_keys are deleted by the gateway in one batch-wide edit and not counted here.")
	hashedCount  = sdk.NewCounter("redact_hashed_total", "Attribute values replaced by their salted SHA-256.")
	maskedCount  = sdk.NewCounter("redact_masked_total", "Attribute values in which a mask rule replaced something.")
)

// deleteKeys asks the gateway to delete every delete_keys attribute in the
// batch, whatever its owner and case, in one edit per key: the filter then
// walks no attribute for them. Only hashing and masking need the walk.
func deleteKeys(del func(string, sdk.Owners, bool)) (walk bool) {
	for _, k := range cfg.DeleteKeys {
		del(k, sdk.Everywhere, true)
	}
	return len(cfg.HashKeys) > 0 || len(cfg.Mask) > 0
}

func redactTraces(t *sdk.Traces) {
	if !deleteKeys(t.DeleteKey) {
		return
	}
	resources(t.Resources())
	for s := range t.Spans() {
		redactAttrs(s.Attributes())
	}
}

func redactMetrics(m *sdk.Metrics) {
	if !deleteKeys(m.DeleteKey) {
		return
	}
	resources(m.Resources())
	for p := range m.DataPoints() {
		redactAttrs(p.Attributes())
	}
}

func redactLogs(l *sdk.Logs) {
	if !deleteKeys(l.DeleteKey) {
		return
	}
	resources(l.Resources())
	for r := range l.LogRecords() {
		redactAttrs(r.Attributes())
	}
}

func resources(rs iter.Seq[sdk.Resource]) {
	for r := range rs {
		redactAttrs(r.Attributes())
		for s := range r.Scopes() {
			redactAttrs(s.Attributes())
		}
	}
}

// done lists the keys already edited on the current owner; reused across
// owners so that it does not allocate.
var done []string

func isDone(k string) bool {
	for _, d := range done {
		if d == k {
			return true
		}
	}
	return false
}

// redactAttrs redacts one owner's attributes. The SDK can set an attribute
// only by key, so when an owner carries a sensitive key twice (which OTLP
// forbids but senders do) setting one would leave the other in clear:
// both are deleted instead.
func redactAttrs(attrs sdk.Attributes) {
	if attrs.Len() == 0 {
		return
	}
	done = done[:0]
	for key, v := range attrs.All() {
		if isDone(key) {
			continue
		}
		var (
			nv   string
			what *sdk.Counter
		)
		switch {
		case inKeys(cfg.DeleteKeys, key):
			continue // deleted batch-wide by deleteKeys
		case inKeys(cfg.HashKeys, key):
			nv, what = hashValue(v), hashedCount
		default:
			var ok bool
			if nv, ok = maskValue(key, v); !ok {
				continue
			}
			what = maskedCount
		}
		done = append(done, key)
		if n := count(attrs, key); n > 1 {
			deletedCount.Add(float64(n))
			attrs.Delete(key)
			continue
		}
		attrs.SetStr(key, nv)
		what.Inc()
	}
}

// count is how many of attrs have key.
func count(attrs sdk.Attributes, key string) int {
	n := 0
	for k := range attrs.All() {
		if k == key {
			n++
		}
	}
	return n
}

// inKeys reports whether key, compared without ASCII case, is one of keys
// (which are lower-case).
func inKeys(keys []string, key string) bool {
	for _, k := range keys {
		if len(k) == len(key) && equalFoldASCII(key, k) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether s lower-cased (ASCII only) is lower.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// view is b as a string without copying. The SDK copies every string it
// is given into the edit list before returning, so the filter's scratch
// buffers can be reused for the next value.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

var (
	hasher  sha256
	digest  [32]byte
	hexOut  [64]byte
	scratch []byte
)

// hashValue is the hex SHA-256 of the salt followed by v's text: a string's
// or bytes' own bytes, an int, double or bool as strconv writes it, an
// array or map as a canonical JSON-like rendering.
func hashValue(v sdk.Value) string {
	hasher.reset()
	hashWrite(&hasher, cfg.HashSalt)
	switch v.Type() {
	case sdk.ValueString:
		hashWrite(&hasher, v.Str())
	case sdk.ValueBytes:
		hashWrite(&hasher, v.Bytes())
	default:
		scratch = render(scratch[:0], v)
		hashWrite(&hasher, scratch)
	}
	hasher.sum(&digest)
	const hexDigits = "0123456789abcdef"
	for i, b := range digest {
		hexOut[2*i], hexOut[2*i+1] = hexDigits[b>>4], hexDigits[b&15]
	}
	return view(hexOut[:])
}

// render appends a deterministic text form of a non-string value.
func render(b []byte, v sdk.Value) []byte {
	switch v.Type() {
	case sdk.ValueString:
		return strconv.AppendQuote(b, v.Str())
	case sdk.ValueBool:
		return strconv.AppendBool(b, v.Bool())
	case sdk.ValueInt, sdk.ValueStrindex:
		return strconv.AppendInt(b, v.Int(), 10)
	case sdk.ValueDouble:
		return strconv.AppendFloat(b, v.Double(), 'g', -1, 64)
	case sdk.ValueBytes:
		return strconv.AppendQuote(b, string(v.Bytes()))
	case sdk.ValueArray:
		b = append(b, '[')
		first := true
		for e := range v.Array() {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = render(b, e)
		}
		return append(b, ']')
	case sdk.ValueMap:
		b = append(b, '{')
		first := true
		for k, e := range v.Map() {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = render(b, e)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// Two buffers the mask rules write into in turn: each rule reads the
// previous rule's output.
var maskBuf [2][]byte

// maskValue applies the mask rules that cover key to v and returns the new
// value when one of them matched. A string is rewritten match by match;
// an array or map holding a matching string anywhere is replaced as a
// whole by that rule's replacement, because the ABI can set only scalar
// values.
func maskValue(key string, v sdk.Value) (string, bool) {
	if len(cfg.Mask) == 0 {
		return "", false
	}
	switch v.Type() {
	case sdk.ValueString:
		return maskString(key, v.Str())
	case sdk.ValueArray, sdk.ValueMap:
		if r := nestedMatch(key, v); r != nil {
			return r.repl, true
		}
	}
	return "", false
}

func applies(r *rule, key string) bool { return len(r.keys) == 0 || inKeys(r.keys, key) }

func maskString(key, s string) (string, bool) {
	cur, changed, k := s, false, 0
	for i := range cfg.Mask {
		r := &cfg.Mask[i]
		if !applies(r, key) {
			continue
		}
		out, ok := r.replace(maskBuf[k][:0], cur)
		if !ok {
			continue
		}
		maskBuf[k] = out
		cur, changed, k = view(out), true, 1-k
	}
	return cur, changed
}

// replace appends s with r's matches replaced to out, reporting whether
// anything matched (out is meaningless when not).
func (r *rule) replace(out []byte, s string) ([]byte, bool) {
	last, matched := 0, false
	if r.re != nil {
		// FindAllStringIndex sees the whole value, so ^, $ and \b keep
		// their meaning; it allocates only when something matches.
		for _, m := range r.re.FindAllStringIndex(s, -1) {
			if m[1] == m[0] {
				continue // an empty match hides nothing
			}
			out = append(out, s[last:m[0]]...)
			out = append(out, r.repl...)
			last, matched = m[1], true
		}
	} else {
		for from := 0; from < len(s); {
			st, en := r.find(s, from)
			if st < 0 {
				break
			}
			out = append(out, s[last:st]...)
			out = append(out, r.repl...)
			last, from, matched = en, en, true
		}
	}
	if !matched {
		return out, false
	}
	return append(out, s[last:]...), true
}

// nestedMatch returns the first rule covering key that matches a string
// anywhere inside the array or map v, or nil.
func nestedMatch(key string, v sdk.Value) *rule {
	switch v.Type() {
	case sdk.ValueString:
		s := v.Str()
		for i := range cfg.Mask {
			r := &cfg.Mask[i]
			if applies(r, key) && r.matches(s) {
				return r
			}
		}
	case sdk.ValueArray:
		for e := range v.Array() {
			if r := nestedMatch(key, e); r != nil {
				return r
			}
		}
	case sdk.ValueMap:
		for _, e := range v.Map() {
			if r := nestedMatch(key, e); r != nil {
				return r
			}
		}
	}
	return nil
}

func (r *rule) matches(s string) bool {
	out, ok := r.replace(maskBuf[0][:0], s)
	maskBuf[0] = out
	return ok
}
