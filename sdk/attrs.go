package sdk

import (
	"iter"
	"math"
)

// Attributes are the indexed attributes of one resource, scope, span, data
// point or log record. Reading is zero-copy; the edit methods record edits
// that the host applies after the callback returns, in call order.
//
// Keys are matched exactly. OTLP forbids duplicate keys but senders do not
// always obey: Get returns the first match, and the edits act on every
// attribute with the key.
type Attributes struct {
	b          *batch
	owner      uint8
	parent     int32
	start, end int32
}

// Len is the number of attributes.
func (a Attributes) Len() int { return int(a.end - a.start) }

// Get returns the value of the first attribute with key.
func (a Attributes) Get(key string) (Value, bool) {
	if i := a.find(key, a.start); i >= 0 {
		return a.b.attrValue(i), true
	}
	return Value{}, false
}

// Has reports whether an attribute with key exists.
func (a Attributes) Has(key string) bool { return a.find(key, a.start) >= 0 }

// All iterates over the attributes in order.
func (a Attributes) All() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		for i := a.start; i < a.end; i++ {
			if !yield(a.key(i), a.b.attrValue(i)) {
				return
			}
		}
	}
}

func (a Attributes) key(i int32) string {
	return a.b.str(a.b.atr(i, aKeyOff), a.b.atr(i, aKeyEnd))
}

// find returns the index of the first attribute from 'from' on whose key
// is key, or -1. It is the SDK's hottest loop: it reads each key's offsets
// as one 8-byte load and compares lengths before touching the request.
func (a Attributes) find(key string, from int32) int32 {
	if a.b == nil {
		return -1
	}
	idx, req, n := a.b.idx, a.b.req, int32(len(key))
	off := int(a.b.attrAt + from*attrSize + aKeyOff*4)
	for i := from; i < a.end; i++ {
		k := le64(idx, off)
		ko, ke := int32(k), int32(k>>32)
		if ke-ko == n && string(req[ko:ke]) == key {
			return i
		}
		off += attrSize
	}
	return -1
}

// Delete deletes every attribute with key and reports whether there was one.
func (a Attributes) Delete(key string) bool {
	found := false
	for i := a.find(key, a.start); i >= 0; i = a.find(key, i+1) {
		a.b.ed.add(opDeleteAttr, 0, uint32(i), 0, "")
		found = true
	}
	return found
}

// Rename gives every attribute with key old the key new and reports whether
// there was one. new must not be empty.
func (a Attributes) Rename(old, new string) bool {
	if new == "" {
		panic("otlpgw sdk: Attributes.Rename to an empty key")
	}
	found := false
	for i := a.find(old, a.start); i >= 0; i = a.find(old, i+1) {
		found = true
		if old != new {
			a.b.ed.add(opRenameAttr, 0, uint32(i), 0, new)
		}
	}
	return found
}

// Truncate cuts the string or bytes value of every attribute with key to at
// most n bytes (strings at a UTF-8 character boundary, by the host) and
// reports whether there was such an attribute. Values of other types and
// values already short enough are left alone.
func (a Attributes) Truncate(key string, n int) bool {
	found := false
	for i := a.find(key, a.start); i >= 0; i = a.find(key, i+1) {
		found = true
		a.b.attrValue(i).Truncate(n)
	}
	return found
}

// SetStr sets attribute key to the string v: the host replaces the
// attribute if the owner has one with that key, else appends it. key must
// not be empty.
func (a Attributes) SetStr(key, v string) {
	a.set(key, 0x0a, uint64(len(v)), v, nil)
}

// SetBytes sets attribute key to the bytes v, as SetStr does.
func (a Attributes) SetBytes(key string, v []byte) {
	a.set(key, 0x3a, uint64(len(v)), "", v)
}

// SetInt sets attribute key to the integer v, as SetStr does.
func (a Attributes) SetInt(key string, v int64) {
	a.set(key, 0x18, uint64(v), "", nil)
}

// SetBool sets attribute key to the boolean v, as SetStr does.
func (a Attributes) SetBool(key string, v bool) {
	var u uint64
	if v {
		u = 1
	}
	a.set(key, 0x10, u, "", nil)
}

// SetDouble sets attribute key to the float v, as SetStr does.
func (a Attributes) SetDouble(key string, v float64) {
	a.set(key, 0x21, math.Float64bits(v), "", nil)
}

// set records SET_ATTR with an AnyValue body of one field: tag, then the
// varint u (int, bool; the length of s or p for strings and bytes), then s
// or p; for a double (tag 0x21) u is the 8 bytes.
func (a Attributes) set(key string, tag byte, u uint64, s string, p []byte) {
	if key == "" {
		panic("otlpgw sdk: Attributes.Set with an empty key")
	}
	if a.b == nil {
		return
	}
	key = validUTF8(key)
	n := 9 // a double: tag and 8 bytes
	if tag != 0x21 {
		n = 1 + varintLen(u) + len(s) + len(p)
	}
	w := a.b.ed.record(opSetAttr, a.owner, uint32(a.parent), 0, len(key), n)
	if w == nil {
		return
	}
	k := put(w, key)
	w[k] = tag
	k++
	if tag == 0x21 {
		putLE64(w[k:], u)
		return
	}
	k += putVarint(w[k:], u)
	k += put(w[k:], s)
	copy(w[k:], p)
}

// ValueType is the type of a Value; its values are the AnyValue field
// numbers.
type ValueType uint8

// Value types.
const (
	ValueEmpty  ValueType = 0 // no value set
	ValueString ValueType = 1
	ValueBool   ValueType = 2
	ValueInt    ValueType = 3
	ValueDouble ValueType = 4
	ValueArray  ValueType = 5
	ValueMap    ValueType = 6 // a kvlist
	ValueBytes  ValueType = 7
	// ValueStrindex is a string_value_strindex: an index into a
	// dictionary that OTLP defines for profiles only. Int returns it.
	ValueStrindex ValueType = 8
)

// String returns the type's name: "empty", "string", "bool", "int",
// "double", "array", "map", "bytes" or "strindex".
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "unknown"
}

var valueTypeNames = [...]string{"empty", "string", "bool", "int", "double", "array", "map", "bytes", "strindex"}

// Value is an attribute's value, a log record's body, or an element of
// either. It reads the request in place: strings and byte slices it returns
// are valid only during the callback. The typed getters return the zero
// value when the type differs.
type Value struct {
	b    *batch
	attr int32 // the attribute it is the value of; -1 for other values
	typ  ValueType
	s, e int32 // payload in b.req
}

func (b *batch) attrValue(i int32) Value {
	return Value{b, i, ValueType(b.atr(i, aValType)), b.atr(i, aValOff), b.atr(i, aValEnd)}
}

// anyValue reads the AnyValue whose body is req[s:e]; the last value field
// wins, as in the host's index.
func (b *batch) anyValue(s, e int32) Value {
	v := Value{b: b, attr: -1}
	for i := int(s); i < int(e); {
		tag, j := uvarint(b.req, i)
		vs, ve := fieldValue(b.req, j, tag)
		if num := ValueType(tag >> 3); num >= ValueString && num <= ValueStrindex {
			v.typ, v.s, v.e = num, int32(vs), int32(ve)
		}
		i = ve
	}
	return v
}

// Type is the value's type.
func (v Value) Type() ValueType { return v.typ }

// Str is a string value, "" for other types.
func (v Value) Str() string {
	if v.typ != ValueString {
		return ""
	}
	return v.b.str(v.s, v.e)
}

// Int is an int (or strindex) value, 0 for other types.
func (v Value) Int() int64 {
	if (v.typ != ValueInt && v.typ != ValueStrindex) || v.e <= v.s {
		return 0
	}
	u, _ := uvarint(v.b.req, int(v.s))
	return int64(u)
}

// Bool is a bool value, false for other types.
func (v Value) Bool() bool {
	if v.typ != ValueBool || v.e <= v.s {
		return false
	}
	u, _ := uvarint(v.b.req, int(v.s))
	return u != 0
}

// Double is a double value, 0 for other types.
func (v Value) Double() float64 {
	if v.typ != ValueDouble || v.e-v.s != 8 {
		return 0
	}
	return float64frombits(le64(v.b.req, int(v.s)))
}

// Bytes is a bytes value, nil for other types. It aliases the request: do
// not modify it.
func (v Value) Bytes() []byte {
	if v.typ != ValueBytes {
		return nil
	}
	return v.b.req[v.s:v.e:v.e]
}

// Len is the number of bytes of a string or bytes value, or of elements of
// an array or map; 0 for other types.
func (v Value) Len() int {
	switch v.typ {
	case ValueString, ValueBytes:
		return int(v.e - v.s)
	case ValueArray, ValueMap:
		n := 0
		for i := int(v.s); i < int(v.e); n++ {
			i = v.b.skipField(i)
		}
		return n
	}
	return 0
}

// Array iterates over an array value's elements; nothing for other types.
func (v Value) Array() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.typ != ValueArray {
			return
		}
		for i := int(v.s); i < int(v.e); {
			tag, j := uvarint(v.b.req, i)
			if tag != 0x0a { // values = 1, length-delimited
				i = v.b.skipField(i)
				continue
			}
			l, bs := uvarint(v.b.req, j)
			i = bs + int(l)
			if !yield(v.b.anyValue(int32(bs), int32(i))) {
				return
			}
		}
	}
}

// Map iterates over a map (kvlist) value's entries; nothing for other
// types.
func (v Value) Map() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.typ != ValueMap {
			return
		}
		for i := int(v.s); i < int(v.e); {
			tag, j := uvarint(v.b.req, i)
			if tag != 0x0a {
				i = v.b.skipField(i)
				continue
			}
			l, bs := uvarint(v.b.req, j)
			i = bs + int(l)
			var f fields
			f.walkBody(v.b.req, bs, i)
			val := Value{b: v.b, attr: -1}
			if f.n[2] > 0 {
				val = v.b.anyValue(f.off[2], f.end[2])
			}
			if !yield(v.b.str(f.off[1], f.end[1]), val) {
				return
			}
		}
	}
}

// Truncate cuts an attribute's string or bytes value to at most n bytes
// (strings at a UTF-8 character boundary, by the host). It does nothing to
// values of other types, to values already short enough, and to values that
// are not an attribute's (a log body, an array element): the ABI can only
// truncate indexed attributes.
func (v Value) Truncate(n int) {
	if v.attr < 0 || (v.typ != ValueString && v.typ != ValueBytes) {
		return
	}
	n = max(n, 0)
	if int(v.e-v.s) <= n {
		return
	}
	v.b.ed.add(opTruncateAttr, 0, uint32(v.attr), uint32(n), "") // n < the value's length, an int32
}

// skipField returns the index after the field starting at req[i].
func (b *batch) skipField(i int) int {
	tag, j := uvarint(b.req, i)
	_, j = fieldValue(b.req, j, tag)
	return j
}
