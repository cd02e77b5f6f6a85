package sdk

import (
	"errors"
	"math"
	"regexp/syntax"
	"strconv"
	"strings"
)

// The rule-shaped bulk edits (DropWhere, MaskValues) take values built once,
// at package level or from the filter's config in Init: the conditions and
// masks are encoded and their patterns checked there, so a call per batch
// only copies bytes into the edit list.

// Condition kinds of DROP_MATCH (ABI.md §4).
const (
	condName       uint8 = 1
	condBody       uint8 = 2
	condHasAttr    uint8 = 3
	condAttrString uint8 = 4
	condAttrNumber uint8 = 5
	condAttrBool   uint8 = 6
	condAttrMatch  uint8 = 7
)

// MaxPatternSize is the longest pattern, in bytes, the gateway compiles.
const MaxPatternSize = 1024

// CheckPattern reports why the gateway would refuse pattern, nil if it
// would not: the pattern must be Go RE2 syntax (package regexp) and at
// most MaxPatternSize bytes. The constructors that take a pattern panic
// with this error; a filter whose patterns come from its config checks
// them here first, to refuse the config from Init with an error naming the
// rule.
func CheckPattern(pattern string) error {
	if len(pattern) > MaxPatternSize {
		return errors.New("pattern of " + strconv.Itoa(len(pattern)) + " bytes, more than " + strconv.Itoa(MaxPatternSize))
	}
	// Parse is the only step of regexp.Compile that can fail, and costs the
	// module far less code.
	_, err := syntax.Parse(pattern, syntax.Perl)
	return err
}

// mustPattern panics, naming the constructor, if the gateway would refuse
// pattern: a bad pattern would otherwise fail every batch as bad output.
func mustPattern(fn, pattern string) {
	if err := CheckPattern(pattern); err != nil {
		panic("sdk: " + fn + ": " + err.Error())
	}
}

// mustKey panics, naming the constructor, on an empty key, as every keyed
// edit of the SDK does: it is a missing config field, not a key to match.
func mustKey(fn, key string) {
	if key == "" {
		panic("sdk: " + fn + " with an empty key")
	}
}

// appendField appends s as a uvarint length and its bytes, the framing of
// every field of a DROP_MATCH condition and a MASK_VALUES key list.
func appendField(b []byte, s string) []byte {
	n := len(b)
	b = append(b, make([]byte, varintLen(uint64(len(s))))...)
	putVarint(b[n:], uint64(len(s)))
	return append(b, s...)
}

// Cond is one condition of DropWhere, encoded when it is built. Patterns
// are Go RE2 syntax and match anywhere in the text, as regexp.MatchString
// does (anchor them with ^ and $ to match the whole); keys match exactly,
// and the first attribute with the key is the one compared. The
// constructors panic on an empty key or a pattern CheckPattern refuses.
type Cond struct{ enc string }

// cond encodes a condition of one field (kinds 1-3).
func cond(kind uint8, field string) Cond { return Cond{string(appendField([]byte{kind}, field))} }

// attrCond encodes a condition on an attribute's value (kinds 4-7): the
// key, then the value to compare with.
func attrCond(kind uint8, key, value string) Cond {
	return Cond{string(appendField(appendField([]byte{kind}, validUTF8(key)), value))}
}

// NameMatches holds for an item whose name matches pattern: a span's name,
// a data point's metric name, a log record's event_name.
func NameMatches(pattern string) Cond {
	mustPattern("NameMatches", pattern)
	return cond(condName, pattern)
}

// BodyMatches holds for a log record whose body is a string that matches
// pattern. It never holds for a span or a data point.
func BodyMatches(pattern string) Cond {
	mustPattern("BodyMatches", pattern)
	return cond(condBody, pattern)
}

// HasAttr holds for an item with an attribute key, whatever its value.
func HasAttr(key string) Cond {
	mustKey("HasAttr", key)
	return cond(condHasAttr, validUTF8(key))
}

// AttrIs holds for an item whose attribute key is the string value,
// exactly (not a number or bytes that read the same).
func AttrIs(key, value string) Cond {
	mustKey("AttrIs", key)
	return attrCond(condAttrString, key, value)
}

// AttrIsNumber holds for an item whose attribute key is an int or a
// double numerically equal to v (200 matches both int 200 and double
// 200.0). A NaN v never holds.
func AttrIsNumber(key string, v float64) Cond {
	mustKey("AttrIsNumber", key)
	var b [8]byte
	putLE64(b[:], math.Float64bits(v))
	return attrCond(condAttrNumber, key, string(b[:]))
}

// AttrIsBool holds for an item whose attribute key is the boolean v.
func AttrIsBool(key string, v bool) Cond {
	mustKey("AttrIsBool", key)
	if v {
		return attrCond(condAttrBool, key, "\x01")
	}
	return attrCond(condAttrBool, key, "\x00")
}

// AttrMatches holds for an item whose attribute key is a string that
// matches pattern.
func AttrMatches(key, pattern string) Cond {
	mustKey("AttrMatches", key)
	mustPattern("AttrMatches", pattern)
	return attrCond(condAttrMatch, key, pattern)
}

// Conditions are the conditions of one DropWhere rule, all of which must
// hold, encoded once by Where.
type Conditions struct{ enc string }

// Where joins conds into the conditions of one DropWhere rule: an item
// matches when every one of them holds. Build it once, at package level or
// in Init. It panics on no conditions (a rule that would drop every item)
// and on a zero Cond.
func Where(conds ...Cond) Conditions {
	if len(conds) == 0 {
		panic("sdk: Where with no conditions")
	}
	var b strings.Builder
	for _, c := range conds {
		if c.enc == "" {
			panic("sdk: Where with a zero Cond (build conditions with NameMatches, AttrIs, ...)")
		}
		b.WriteString(c.enc)
	}
	return Conditions{b.String()}
}

// SampleThreshold is the Sample threshold that keeps percentKept percent
// of traces (clamped to 0..100): OpenTelemetry's consistent probability
// sampling threshold, (1 - percentKept/100) * 2^56, computed as 2^56 minus
// the rounded count of kept values. Every gateway, and every sampler that
// follows the specification at the same percentage, keeps or drops a trace
// alike, so the spans and logs of one trace stay together. A NaN panics.
func SampleThreshold(percentKept float64) uint64 {
	if math.IsNaN(percentKept) {
		panic("sdk: SampleThreshold of NaN")
	}
	p := min(max(percentKept, 0), 100)
	return 1<<56 - uint64(math.Round(p/100*(1<<56)))
}

// Detector is what MaskValues looks for in a string value.
type Detector uint8

// Detectors. Every detector but DetectPattern is built into the gateway,
// which runs it natively.
const (
	DetectPattern     Detector = 0 // the Mask's own pattern
	DetectCreditCard  Detector = 1 // payment card numbers
	DetectEmail       Detector = 2 // email addresses
	DetectBearerToken Detector = 3 // HTTP bearer tokens
	DetectJWT         Detector = 4 // JSON Web Tokens
)

var detectorNames = [...]string{"pattern", "credit_card", "email", "bearer_token", "jwt"}

// String returns the detector's ABI name, e.g. "credit_card".
func (d Detector) String() string {
	if int(d) < len(detectorNames) {
		return detectorNames[d]
	}
	return "detector(" + strconv.Itoa(int(d)) + ")"
}

// maskExceptKeys is MASK_VALUES's arg flag: the keys are exclusions.
const maskExceptKeys = 1 << 8

// Mask is one MaskValues rule, encoded once by NewMask.
type Mask struct {
	arg  uint32
	a, b string
}

// NewMask builds a MaskValues rule that replaces what d finds in string
// values with replacement (DetectPattern: each match of pattern, Go RE2
// syntax). keys are the attribute keys it covers, compared ignoring ASCII
// case; with exceptKeys they are the keys it leaves alone instead, and
// with neither keys nor exceptKeys it covers every key. Build it once, at
// package level or in Init. It panics on an unknown detector, on a pattern with any detector
// but DetectPattern, on an empty pattern with it or one CheckPattern
// refuses, and on an empty key.
func NewMask(d Detector, pattern, replacement string, keys []string, exceptKeys bool) Mask {
	switch {
	case int(d) >= len(detectorNames):
		panic("sdk: NewMask with unknown " + d.String())
	case d == DetectPattern && pattern == "":
		panic("sdk: NewMask with DetectPattern and an empty pattern")
	case d != DetectPattern && pattern != "":
		panic("sdk: NewMask with a pattern and " + d.String() + ", which takes none")
	}
	mustPattern("NewMask", pattern)
	a := appendField(nil, pattern)
	for _, k := range keys {
		mustKey("NewMask", k)
		a = appendField(a, validUTF8(k))
	}
	arg := uint32(d)
	if exceptKeys {
		arg |= maskExceptKeys
	}
	return Mask{arg, string(a), validUTF8(replacement)}
}

// Scalar is an attribute value for SetDefault, encoded when it is built
// (an AnyValue body of one field).
type Scalar struct{ body string }

// StrValue is the string v as a Scalar.
func StrValue(v string) Scalar {
	v = validUTF8(v)
	b := append([]byte{0x0a}, make([]byte, varintLen(uint64(len(v))))...)
	putVarint(b[1:], uint64(len(v)))
	return Scalar{string(append(b, v...))}
}

// IntValue is the integer v as a Scalar.
func IntValue(v int64) Scalar {
	b := make([]byte, 1+varintLen(uint64(v)))
	b[0] = 0x18
	putVarint(b[1:], uint64(v))
	return Scalar{string(b)}
}

// DoubleValue is the float v as a Scalar.
func DoubleValue(v float64) Scalar {
	var b [9]byte
	b[0] = 0x21
	putLE64(b[1:], math.Float64bits(v))
	return Scalar{string(b[:])}
}

// BoolValue is the boolean v as a Scalar.
func BoolValue(v bool) Scalar {
	if v {
		return Scalar{"\x10\x01"}
	}
	return Scalar{"\x10\x00"}
}
