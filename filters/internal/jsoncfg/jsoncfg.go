// Package jsoncfg reads the JSON config a stock filter receives in its Init
// (the filter's `config:` block from the gateway configuration).
//
// It exists because encoding/json imports fmt, and fmt imports os, whose
// initialisation makes a wasip1 module import WASI file functions
// (fd_close, fd_fdstat_get, fd_prestat_*) that the gateway refuses at load
// (sdk/ABI.md §2). This package uses only errors, math, strconv and
// unicode/utf8, which import nothing the host refuses (not even package
// time: see ParseDuration).
//
// It follows the gateway's configuration habits: defaults are set in code
// and decoded over, unknown keys are errors, and every problem is reported
// with its key path, all at once.
package jsoncfg

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// Kind is the kind of a JSON value.
type Kind uint8

// Kinds.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	ObjectKind
)

var kindNames = [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}

// Value is one parsed JSON value.
type Value struct {
	Kind    Kind
	Bool    bool
	Number  float64
	String  string
	Array   []Value
	Members []Member // an object's members, in document order
}

// Member is one key and value of a JSON object.
type Member struct {
	Key   string
	Value Value
}

// Describe names v's kind for error messages: "a string", "an array".
func (v Value) Describe() string { return kindNames[v.Kind] }

// maxDepth bounds nesting, so a hostile config cannot exhaust the guest's
// stack.
const maxDepth = 64

// Parse parses one JSON document (RFC 8259). An object with the same key
// twice is an error: the gateway never produces one, and silently keeping
// either would hide a mistake.
func Parse(data []byte) (Value, error) {
	p := parser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.i != len(p.data) {
		return Value{}, p.fail("unexpected data after the top-level value")
	}
	return v, nil
}

type parser struct {
	data []byte
	i    int
}

func (p *parser) fail(msg string) error {
	return errors.New("invalid JSON at byte " + strconv.Itoa(p.i) + ": " + msg)
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.fail("nested deeper than " + strconv.Itoa(maxDepth))
	}
	if p.i >= len(p.data) {
		return Value{}, p.fail("unexpected end of input")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return Value{Kind: String, String: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.word("true"):
		return Value{Kind: Bool, Bool: true}, nil
	case p.word("false"):
		return Value{Kind: Bool}, nil
	case p.word("null"):
		return Value{}, nil
	}
	return Value{}, p.fail("unexpected character " + strconv.QuoteRune(rune(p.data[p.i])))
}

func (p *parser) word(w string) bool {
	if len(p.data)-p.i >= len(w) && string(p.data[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}

func (p *parser) object(depth int) (Value, error) {
	v := Value{Kind: ObjectKind}
	p.i++ // {
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return Value{}, p.fail("want a string key")
		}
		at := p.i
		k, err := p.str()
		if err != nil {
			return Value{}, err
		}
		for _, m := range v.Members {
			if m.Key == k {
				p.i = at
				return Value{}, p.fail("duplicate key " + strconv.Quote(k))
			}
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return Value{}, p.fail("want ':' after a key")
		}
		p.i++
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.Members = append(v.Members, Member{k, e})
		p.space()
		if p.i >= len(p.data) {
			return Value{}, p.fail("unexpected end of input in an object")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, nil
		default:
			return Value{}, p.fail("want ',' or '}' in an object")
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	v := Value{Kind: Array}
	p.i++ // [
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.Array = append(v.Array, e)
		p.space()
		if p.i >= len(p.data) {
			return Value{}, p.fail("unexpected end of input in an array")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return Value{}, p.fail("want ',' or ']' in an array")
		}
	}
}

func (p *parser) number() (Value, error) {
	s := p.i
	if p.data[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.data) && p.data[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return Value{}, p.fail("malformed number")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return Value{}, p.fail("malformed number")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return Value{}, p.fail("malformed number")
		}
	}
	f, err := strconv.ParseFloat(string(p.data[s:p.i]), 64)
	if err != nil {
		p.i = s
		return Value{}, p.fail("number out of range")
	}
	return Value{Kind: Number, Number: f}, nil
}

func (p *parser) str() (string, error) {
	p.i++ // opening quote
	var b []byte
	start := p.i
	for {
		if p.i >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.i]
		switch {
		case c == '"':
			b = append(b, p.data[start:p.i]...)
			p.i++
			if !utf8.Valid(b) {
				return "", p.fail("string is not valid UTF-8")
			}
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character in a string")
		case c == '\\':
			b = append(b, p.data[start:p.i]...)
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
			start = p.i
		default:
			p.i++
		}
	}
}

// escape decodes the escape sequence at p.i (which is at the backslash).
func (p *parser) escape() (rune, error) {
	p.i++
	if p.i >= len(p.data) {
		return 0, p.fail("unterminated escape")
	}
	c := p.data[p.i]
	p.i++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if r >= 0xd800 && r < 0xdc00 { // a high surrogate: its pair must follow
			if len(p.data)-p.i >= 6 && p.data[p.i] == '\\' && p.data[p.i+1] == 'u' {
				at := p.i
				p.i += 2
				lo, err := p.hex4()
				if err != nil {
					return 0, err
				}
				if lo >= 0xdc00 && lo < 0xe000 {
					return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), nil
				}
				p.i = at // not a pair: the next escape stands alone
			}
			return utf8.RuneError, nil
		}
		if r >= 0xdc00 && r < 0xe000 {
			return utf8.RuneError, nil
		}
		return r, nil
	}
	p.i--
	return 0, p.fail("invalid escape " + strconv.QuoteRune(rune(c)))
}

func (p *parser) hex4() (rune, error) {
	if len(p.data)-p.i < 4 {
		return 0, p.fail("short \\u escape")
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.fail("bad hex digit in a \\u escape")
		}
	}
	p.i += 4
	return r, nil
}

// Decoder decodes a config object field by field over defaults already in
// place, collecting every problem. Use Root, then the typed getters on the
// returned Object (and on nested ones), then Err.
type Decoder struct {
	errs []error
	objs []*Object
}

// Object is one JSON object being decoded; it remembers which keys were
// read so that Err can report the rest as unknown.
type Object struct {
	d       *Decoder
	path    string
	members []Member
	used    []bool
}

// Root parses data, which must hold a JSON object, and returns the decoder
// and the object. A parse error is returned at once: nothing can be decoded.
func Root(data []byte) (*Decoder, *Object, error) {
	v, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	d := &Decoder{}
	if v.Kind != ObjectKind {
		return nil, nil, errors.New("config: want a JSON object, got " + v.Describe())
	}
	return d, d.object("", v), nil
}

func (d *Decoder) object(path string, v Value) *Object {
	o := &Object{d: d, path: path, members: v.Members, used: make([]bool, len(v.Members))}
	d.objs = append(d.objs, o)
	return o
}

// Err returns every problem found so far, plus every key no getter read,
// joined; nil when the config is good.
func (d *Decoder) Err() error {
	errs := d.errs
	for _, o := range d.objs {
		for i, m := range o.members {
			if !o.used[i] {
				errs = append(errs, errors.New(o.key(m.Key)+": unknown key"))
			}
		}
	}
	return errors.Join(errs...)
}

// key is the path of member k of o, e.g. "rules[1].name_regex".
func (o *Object) key(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

// Fail records a problem with key, e.g. a value out of range.
func (o *Object) Fail(key, msg string) {
	o.d.errs = append(o.d.errs, errors.New(o.key(key)+": "+msg))
}

// Failf is Fail for a problem under a nested path, e.g. an array element:
// Failf("rules[1]", "...").
func (d *Decoder) Failf(path, msg string) {
	d.errs = append(d.errs, errors.New(path+": "+msg))
}

// Path is the object's own path, "" for the root.
func (o *Object) Path() string { return o.path }

// Get returns the member key, marking it read; a null counts as absent, so
// `key: null` keeps the default.
func (o *Object) Get(key string) (Value, bool) {
	for i, m := range o.members {
		if m.Key == key {
			o.used[i] = true
			return m.Value, m.Value.Kind != Null
		}
	}
	return Value{}, false
}

// Keys lists the object's keys in document order, without marking them
// read.
func (o *Object) Keys() []string {
	ks := make([]string, len(o.members))
	for i, m := range o.members {
		ks[i] = m.Key
	}
	return ks
}

func (o *Object) want(key string, v Value, kind string) {
	o.Fail(key, "want "+kind+", got "+v.Describe())
}

// String sets *dst to the string at key, if present; it reports whether
// the key was present and well-typed.
func (o *Object) String(key string, dst *string) bool {
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	if v.Kind != String {
		o.want(key, v, "a string")
		return false
	}
	*dst = v.String
	return true
}

// Bool sets *dst to the boolean at key, if present.
func (o *Object) Bool(key string, dst *bool) bool {
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	if v.Kind != Bool {
		o.want(key, v, "true or false")
		return false
	}
	*dst = v.Bool
	return true
}

// Float sets *dst to the number at key, if present and within [lo, hi].
func (o *Object) Float(key string, dst *float64, lo, hi float64) bool {
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	if v.Kind != Number {
		o.want(key, v, "a number")
		return false
	}
	if v.Number < lo || v.Number > hi {
		o.Fail(key, "want a number from "+fmtFloat(lo)+" to "+fmtFloat(hi)+", got "+fmtFloat(v.Number))
		return false
	}
	*dst = v.Number
	return true
}

// Int sets *dst to the integer at key, if present and within [lo, hi].
func (o *Object) Int(key string, dst *int, lo, hi int) bool {
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	if v.Kind != Number || v.Number != math.Trunc(v.Number) {
		o.want(key, v, "an integer")
		return false
	}
	if v.Number < float64(lo) || v.Number > float64(hi) {
		o.Fail(key, "want an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi)+", got "+fmtFloat(v.Number))
		return false
	}
	*dst = int(v.Number)
	return true
}

// Duration sets *dst to the duration at key in nanoseconds, if present: a
// string ParseDuration accepts ("24h", "90m", "1h30m"), at least 0.
func (o *Object) Duration(key string, dst *int64) bool {
	var s string
	if !o.String(key, &s) {
		return false
	}
	d, ok := ParseDuration(s)
	if !ok || d < 0 {
		o.Fail(key, "want a duration such as \"24h\" or \"90m\", got "+strconv.Quote(s))
		return false
	}
	*dst = d
	return true
}

// Strings sets *dst to the array of strings at key, if present.
func (o *Object) Strings(key string, dst *[]string) bool {
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	if v.Kind != Array {
		o.want(key, v, "an array of strings")
		return false
	}
	out := make([]string, 0, len(v.Array))
	good := true
	for i, e := range v.Array {
		if e.Kind != String {
			o.d.Failf(o.key(key)+"["+strconv.Itoa(i)+"]", "want a string, got "+e.Describe())
			good = false
			continue
		}
		out = append(out, e.String)
	}
	if good {
		*dst = out
	}
	return good
}

// Object returns the object at key, if present.
func (o *Object) Object(key string) (*Object, bool) {
	v, ok := o.Get(key)
	if !ok {
		return nil, false
	}
	if v.Kind != ObjectKind {
		o.want(key, v, "an object")
		return nil, false
	}
	return o.d.object(o.key(key), v), true
}

// Objects returns the array of objects at key, if present; elements that
// are not objects are reported and left out.
func (o *Object) Objects(key string) ([]*Object, bool) {
	v, ok := o.Get(key)
	if !ok {
		return nil, false
	}
	if v.Kind != Array {
		o.want(key, v, "an array of objects")
		return nil, false
	}
	out := make([]*Object, 0, len(v.Array))
	for i, e := range v.Array {
		p := o.key(key) + "[" + strconv.Itoa(i) + "]"
		if e.Kind != ObjectKind {
			o.d.Failf(p, "want an object, got "+e.Describe())
			continue
		}
		out = append(out, o.d.object(p, e))
	}
	return out, true
}

// Members returns the members of the object at key, in document order,
// for maps whose keys are data (attribute names), not config keys.
func (o *Object) Members(key string) ([]Member, bool) {
	v, ok := o.Get(key)
	if !ok {
		return nil, false
	}
	if v.Kind != ObjectKind {
		o.want(key, v, "an object")
		return nil, false
	}
	return v.Members, true
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
