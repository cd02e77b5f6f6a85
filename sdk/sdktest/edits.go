package sdktest

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Op is an edit list opcode (ABI.md §4).
type Op uint8

// Opcodes.
const (
	OpDropItem     Op = 1
	OpDeleteAttr   Op = 2
	OpSetAttr      Op = 3
	OpTruncateAttr Op = 4
	OpRenameAttr   Op = 5
	OpSetName      Op = 6
	OpSetStatus    Op = 7
	OpSetFixed64   Op = 8
	OpReject       Op = 9
	OpReplace      Op = 10
	// Bulk edits: Owner is a mask (1 resources, 2 scopes, 4 items).
	OpDeleteKey      Op = 11 // A = key; Arg bit 0 = ignore ASCII case
	OpTruncateValues Op = 12 // Arg = max bytes
	OpDropNamed      Op = 13 // A = name, B = reason; Arg bit 0 = match log bodies
	OpSetDefault     Op = 14 // A = key, B = AnyValue body
	OpCapAttrs       Op = 15 // Arg = attributes kept per owner
	OpClampFuture    Op = 16 // A = limit and now, two u64
	OpDropInvalid    Op = 17 // Arg = checks; A = min and max time; B = reasons
	OpDropMatch      Op = 18 // A = conditions, B = reason
	OpSample         Op = 19 // A = threshold, a u64; B = reason
	OpDropSeverity   Op = 20 // Arg = max severity; B = reason
	OpHashValues     Op = 21 // A = key, B = salt; Arg bit 0 = ignore ASCII case
	OpMaskValues     Op = 22 // Arg = detector, bit 8 = keys are exclusions; A = pattern and keys, B = replacement
	OpNormalizeKey   Op = 23 // A = key: other ASCII spellings renamed to it or deleted
)

var opNames = [...]string{"", "DROP_ITEM", "DELETE_ATTR", "SET_ATTR", "TRUNCATE_ATTR", "RENAME_ATTR",
	"SET_NAME", "SET_STATUS", "SET_FIXED64", "REJECT", "REPLACE", "DELETE_KEY", "TRUNCATE_VALUES", "DROP_NAMED", "SET_DEFAULT", "CAP_ATTRS", "CLAMP_FUTURE", "DROP_INVALID",
	"DROP_MATCH", "SAMPLE", "DROP_SEVERITY", "HASH_VALUES", "MASK_VALUES", "NORMALIZE_KEY"}

// String returns the ABI's name for op, e.g. "DROP_ITEM".
func (op Op) String() string {
	if int(op) < len(opNames) && op != 0 {
		return opNames[op]
	}
	return "OP(" + strconv.Itoa(int(op)) + ")"
}

// Edit is one decoded edit list record.
type Edit struct {
	Op     Op
	Owner  uint8 // 1 resource, 2 scope, 3 item, 4 metric; 0 for ops without one
	Target uint32
	Arg    uint32
	A, B   []byte
}

var ownerNames = [...]string{"", "resource", "scope", "item", "metric"}

func owner(o uint8) string {
	if int(o) < len(ownerNames) && o != 0 {
		return ownerNames[o]
	}
	return "owner(" + strconv.Itoa(int(o)) + ")"
}

// String renders the edit for test failures and golden lists:
//
//	DROP_ITEM item 3 "healthcheck"
//	DELETE_ATTR attr 0
//	SET_ATTR item 0 "team"=string("payments")
//	TRUNCATE_ATTR attr 2 to 16
//	RENAME_ATTR attr 1 to "user.id"
//	SET_NAME item 0 "redacted"
//	SET_STATUS item 0 code 2 "timeout"
//	SET_FIXED64 item 0 field 7 = 1700000000000000000
//	REJECT "too many spans"
//	REPLACE 120 bytes
//	DELETE_KEY "password" on resources,scopes,items ignoring case
//	TRUNCATE_VALUES to 256 on items
//	DROP_MATCH name~"^GET " attr url.path="/metrics" "dropped by rules[1]"
//	SAMPLE below 0x80000000000000 "sampled out"
//	DROP_SEVERITY up to 8 "shed under pressure"
//	HASH_VALUES "user.email" on resources,scopes,items ignoring case salt "pepper"
//	MASK_VALUES credit_card -> "***" on items except ["user.email"]
func (e Edit) String() string {
	switch e.Op {
	case OpDropItem:
		return fmt.Sprintf("DROP_ITEM item %d %q", e.Target, e.A)
	case OpDeleteAttr:
		return fmt.Sprintf("DELETE_ATTR attr %d", e.Target)
	case OpSetAttr:
		return fmt.Sprintf("SET_ATTR %s %d %q=%s", owner(e.Owner), e.Target, e.A, anyValueString(e.B))
	case OpTruncateAttr:
		return fmt.Sprintf("TRUNCATE_ATTR attr %d to %d", e.Target, e.Arg)
	case OpRenameAttr:
		return fmt.Sprintf("RENAME_ATTR attr %d to %q", e.Target, e.A)
	case OpSetName:
		return fmt.Sprintf("SET_NAME %s %d %q", owner(e.Owner), e.Target, e.A)
	case OpSetStatus:
		return fmt.Sprintf("SET_STATUS item %d code %d %q", e.Target, e.Arg, e.A)
	case OpSetFixed64:
		v := uint64(0)
		if len(e.A) == 8 {
			v = binary.LittleEndian.Uint64(e.A)
		}
		return fmt.Sprintf("SET_FIXED64 item %d field %d = %d", e.Target, e.Arg, v)
	case OpReject:
		return fmt.Sprintf("REJECT %q", e.A)
	case OpReplace:
		return fmt.Sprintf("REPLACE %d bytes", len(e.A))
	case OpDeleteKey:
		s := fmt.Sprintf("DELETE_KEY %q on %s", e.A, ownerMask(e.Owner))
		if e.Arg&1 != 0 {
			s += " ignoring case"
		}
		return s
	case OpTruncateValues:
		return fmt.Sprintf("TRUNCATE_VALUES to %d on %s", e.Arg, ownerMask(e.Owner))
	case OpDropNamed:
		if e.Arg&1 != 0 {
			return fmt.Sprintf("DROP_NAMED body %q %q", e.A, e.B)
		}
		return fmt.Sprintf("DROP_NAMED %q %q", e.A, e.B)
	case OpDropInvalid:
		if len(e.A) == 16 {
			return fmt.Sprintf("DROP_INVALID checks %#x within %d..%d", e.Arg, binary.LittleEndian.Uint64(e.A), binary.LittleEndian.Uint64(e.A[8:]))
		}
	case OpClampFuture:
		if len(e.A) == 16 {
			return fmt.Sprintf("CLAMP_FUTURE after %d to %d", binary.LittleEndian.Uint64(e.A), binary.LittleEndian.Uint64(e.A[8:]))
		}
	case OpCapAttrs:
		return fmt.Sprintf("CAP_ATTRS to %d on %s", e.Arg, ownerMask(e.Owner))
	case OpSetDefault:
		return fmt.Sprintf("SET_DEFAULT %q = %s on %s", e.A, anyValueString(e.B), ownerMask(e.Owner))
	case OpDropMatch:
		if conds, ok := conditionsString(e.A); ok {
			return fmt.Sprintf("DROP_MATCH %s %q", conds, e.B)
		}
	case OpSample:
		if len(e.A) == 8 {
			return fmt.Sprintf("SAMPLE below %#x %q", binary.LittleEndian.Uint64(e.A), e.B)
		}
	case OpDropSeverity:
		return fmt.Sprintf("DROP_SEVERITY up to %d %q", e.Arg, e.B)
	case OpHashValues:
		s := fmt.Sprintf("HASH_VALUES %q on %s", e.A, ownerMask(e.Owner))
		if e.Arg&1 != 0 {
			s += " ignoring case"
		}
		if len(e.B) > 0 {
			s += fmt.Sprintf(" salt %q", e.B)
		}
		return s
	case OpMaskValues:
		if s, ok := maskString(e); ok {
			return s
		}
	case OpNormalizeKey:
		return fmt.Sprintf("NORMALIZE_KEY %q on %s", e.A, ownerMask(e.Owner))
	}
	return fmt.Sprintf("%s owner %d target %d arg %d a %x b %x", e.Op, e.Owner, e.Target, e.Arg, e.A, e.B)
}

// Condition kinds of DROP_MATCH.
const (
	condName = 1 + iota
	condBody
	condHasAttr
	condAttrString
	condAttrNumber
	condAttrBool
	condAttrMatch
)

// conditionsString renders DROP_MATCH's conditions, space-separated:
// name~"re", body~"re", attr k exists, attr k="v", attr k=200,
// attr k=true, attr k~"re". ok is false if a is malformed.
func conditionsString(a []byte) (s string, ok bool) {
	var parts []string
	for len(a) > 0 {
		kind := a[0]
		f1, rest, ok := lenPrefixed(a[1:])
		if !ok || kind < condName || kind > condAttrMatch {
			return "", false
		}
		var f2 []byte
		if kind >= condAttrString {
			if f2, rest, ok = lenPrefixed(rest); !ok {
				return "", false
			}
		}
		a = rest
		switch kind {
		case condName:
			parts = append(parts, fmt.Sprintf("name~%q", f1))
		case condBody:
			parts = append(parts, fmt.Sprintf("body~%q", f1))
		case condHasAttr:
			parts = append(parts, "attr "+keyString(f1)+" exists")
		case condAttrString:
			parts = append(parts, fmt.Sprintf("attr %s=%q", keyString(f1), f2))
		case condAttrNumber:
			if len(f2) != 8 {
				return "", false
			}
			parts = append(parts, "attr "+keyString(f1)+"="+strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(f2)), 'g', -1, 64))
		case condAttrBool:
			if len(f2) != 1 || f2[0] > 1 {
				return "", false
			}
			parts = append(parts, "attr "+keyString(f1)+"="+strconv.FormatBool(f2[0] == 1))
		case condAttrMatch:
			parts = append(parts, fmt.Sprintf("attr %s~%q", keyString(f1), f2))
		}
	}
	return strings.Join(parts, " "), len(parts) > 0
}

// lenPrefixed splits a uvarint length and that many bytes off the front of b.
func lenPrefixed(b []byte) (f, rest []byte, ok bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, false
	}
	return b[n : n+int(l)], b[n+int(l):], true
}

// keyString renders an attribute key bare when that is unambiguous
// (printable ASCII without spaces, quotes, = or ~), else quoted.
func keyString(k []byte) string {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '~' {
			return strconv.Quote(string(k))
		}
	}
	if len(k) == 0 {
		return `""`
	}
	return string(k)
}

var detectorNames = [...]string{"pattern", "credit_card", "email", "bearer_token", "jwt"}

// maskString renders MASK_VALUES: the detector (pattern "re" for
// detector 0), the replacement, the owners and the keys: only [...] or
// except [...]. ok is false if A is malformed.
func maskString(e Edit) (string, bool) {
	det := e.Arg & 0xff
	pattern, rest, ok := lenPrefixed(e.A)
	if !ok || det >= uint32(len(detectorNames)) {
		return "", false
	}
	var keys []string
	for len(rest) > 0 {
		var k []byte
		if k, rest, ok = lenPrefixed(rest); !ok {
			return "", false
		}
		keys = append(keys, string(k))
	}
	s := detectorNames[det]
	if det == 0 {
		s += fmt.Sprintf(" %q", pattern)
	}
	s = fmt.Sprintf("MASK_VALUES %s -> %q on %s", s, e.B, ownerMask(e.Owner))
	switch {
	case e.Arg&(1<<8) != 0:
		s += fmt.Sprintf(" except %q", keys)
	case len(keys) > 0:
		s += fmt.Sprintf(" only %q", keys)
	}
	return s, true
}

// anyValueString renders the body of an AnyValue holding one scalar.
func anyValueString(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	tag, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Sprintf("malformed(%x)", b)
	}
	rest := b[n:]
	switch tag {
	case 0x0a, 0x3a: // string, bytes
		l, m := binary.Uvarint(rest)
		if m <= 0 || uint64(len(rest)-m) != l {
			break
		}
		if tag == 0x0a {
			return fmt.Sprintf("string(%q)", rest[m:])
		}
		return fmt.Sprintf("bytes(%x)", rest[m:])
	case 0x10, 0x18: // bool, int
		v, m := binary.Uvarint(rest)
		if m <= 0 || m != len(rest) {
			break
		}
		if tag == 0x10 {
			return fmt.Sprintf("bool(%t)", v != 0)
		}
		return fmt.Sprintf("int(%d)", int64(v))
	case 0x21: // double
		if len(rest) == 8 {
			return "double(" + strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(rest)), 'g', -1, 64) + ")"
		}
	}
	return fmt.Sprintf("anyvalue(%x)", b)
}

// DecodeEdits decodes an edit list, checking its framing as the host does:
// 20-byte headers, reserved bytes zero, lengths inside the list, zero
// padding to a multiple of 4, and REJECT or REPLACE alone.
func DecodeEdits(b []byte) ([]Edit, error) {
	var out []Edit
	for i := 0; i < len(b); {
		if len(b)-i < 20 {
			return out, fmt.Errorf("record %d at byte %d: %d bytes left, want a 20-byte header", len(out), i, len(b)-i)
		}
		h := b[i : i+20]
		e := Edit{Op: Op(h[0]), Owner: h[1], Target: binary.LittleEndian.Uint32(h[4:]), Arg: binary.LittleEndian.Uint32(h[8:])}
		if h[2] != 0 || h[3] != 0 {
			return out, fmt.Errorf("record %d at byte %d: reserved bytes %x, want 0", len(out), i, h[2:4])
		}
		la, lb := uint64(binary.LittleEndian.Uint32(h[12:])), uint64(binary.LittleEndian.Uint32(h[16:]))
		body := uint64(i) + 20
		end := body + la + lb
		padded := (end + 3) &^ 3
		if padded > uint64(len(b)) {
			return out, fmt.Errorf("record %d at byte %d: len_a %d + len_b %d run past the list's %d bytes", len(out), i, la, lb, len(b))
		}
		e.A, e.B = b[body:body+la:body+la], b[body+la:end:end]
		for _, c := range b[end:padded] {
			if c != 0 {
				return out, fmt.Errorf("record %d at byte %d: nonzero padding", len(out), i)
			}
		}
		out = append(out, e)
		i = int(padded)
	}
	for k, e := range out {
		if (e.Op == OpReject || e.Op == OpReplace) && len(out) > 1 {
			return out, fmt.Errorf("record %d: %s with %d other records, want it alone", k, e.Op, len(out)-1)
		}
	}
	return out, nil
}

// Describe decodes an edit list into one String per record, for compact
// test assertions; a malformed list yields its records so far and a last
// line "malformed: ...".
func Describe(edits []byte) []string {
	es, err := DecodeEdits(edits)
	out := make([]string, 0, len(es)+1)
	for _, e := range es {
		out = append(out, e.String())
	}
	if err != nil {
		out = append(out, "malformed: "+err.Error())
	}
	return out
}

func ownerMask(m uint8) string {
	var parts []string
	for bit, name := range []string{"resources", "scopes", "items"} {
		if m&(1<<bit) != 0 {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, ",")
}
