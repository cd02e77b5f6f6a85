package jsoncfg

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// toAny converts a Value to what encoding/json's Unmarshal into any gives,
// for differential testing.
func toAny(v Value) any {
	switch v.Kind {
	case Bool:
		return v.Bool
	case Number:
		return v.Number
	case String:
		return v.String
	case Array:
		out := make([]any, 0, len(v.Array))
		for _, e := range v.Array {
			out = append(out, toAny(e))
		}
		return out
	case ObjectKind:
		out := map[string]any{}
		for _, m := range v.Members {
			out[m.Key] = toAny(m.Value)
		}
		return out
	}
	return nil
}

var docs = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `"a"`, `""`,
	`{"a": [1, "x", {"b": null}], "c": true}`,
	` { "k" : "v" } `,
	`"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"`,
	`"lone \ud83d surrogate"`,
	`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `+1`, `1e`, `"unterminated`, `{"a" 1}`, `{1: 2}`,
	`tru`, `nul`, `[1 2]`, `{"a":1 "b":2}`, `"ctl` + "\x01" + `"`, `"bad \x"`, `"\u12"`, `1 2`, ``, `   `,
	`"` + "\xff" + `"`, `1e400`,
}

func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, d := range docs {
		var want any
		werr := json.Unmarshal([]byte(d), &want)
		got, gerr := Parse([]byte(d))
		if d == `"`+"\xff"+`"` { // encoding/json replaces invalid UTF-8; a config must not carry it
			if gerr == nil {
				t.Errorf("%q: parsed invalid UTF-8", d)
			}
			continue
		}
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%q: error %v, encoding/json says %v", d, gerr, werr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(toAny(got), want) {
			t.Errorf("%q: %#v, encoding/json says %#v", d, toAny(got), want)
		}
	}
}

func TestParseRefusesDuplicateKeysAndDeepNesting(t *testing.T) {
	if _, err := Parse([]byte(`{"a":1,"a":2}`)); err == nil || !strings.Contains(err.Error(), `duplicate key "a"`) {
		t.Errorf("duplicate keys: %v", err)
	}
	if _, err := Parse([]byte(strings.Repeat("[", 100) + strings.Repeat("]", 100))); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzParseAgreesWithEncodingJSON(f *testing.F) {
	for _, d := range docs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		var want any
		werr := json.Unmarshal([]byte(d), &want)
		got, gerr := Parse([]byte(d))
		if gerr == nil && werr != nil {
			t.Fatalf("%q: parsed, encoding/json says %v", d, werr)
		}
		if gerr == nil && !reflect.DeepEqual(toAny(got), want) {
			t.Fatalf("%q: %#v, encoding/json says %#v", d, toAny(got), want)
		}
	})
}

func TestDecoderReadsTypedFieldsOverDefaults(t *testing.T) {
	d, o, err := Root([]byte(`{"s":"x","b":true,"f":0.5,"i":3,"d":"90m","l":["a","b"],
		"o":{"k":"v"},"os":[{"n":1}],"m":{"z":"1","a":"2"},"n":null}`))
	if err != nil {
		t.Fatal(err)
	}
	var (
		s        = "default"
		b        bool
		f        float64
		i        int
		dur      int64
		l        []string
		k, nkeep = "", "kept"
	)
	o.String("s", &s)
	o.Bool("b", &b)
	o.Float("f", &f, 0, 1)
	o.Int("i", &i, 0, 10)
	o.Duration("d", &dur)
	o.Strings("l", &l)
	if sub, ok := o.Object("o"); ok {
		sub.String("k", &k)
	}
	os, _ := o.Objects("os")
	var n int
	os[0].Int("n", &n, 0, 5)
	ms, _ := o.Members("m")
	o.String("n", &nkeep)
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if s != "x" || !b || f != 0.5 || i != 3 || dur != int64(90*time.Minute) || !reflect.DeepEqual(l, []string{"a", "b"}) ||
		k != "v" || n != 1 || len(ms) != 2 || ms[0].Key != "z" || nkeep != "kept" {
		t.Errorf("decoded s=%q b=%v f=%v i=%v d=%v l=%q k=%q n=%v members=%v null-kept=%q", s, b, f, i, dur, l, k, n, ms, nkeep)
	}
}

func TestDecoderReportsEveryProblemWithItsPath(t *testing.T) {
	d, o, err := Root([]byte(`{"s":1,"f":2,"i":1.5,"d":"soon","l":["a",2],"o":{"x":1},"os":[3,{"y":2}],"extra":0}`))
	if err != nil {
		t.Fatal(err)
	}
	var (
		s  string
		f  float64
		i  int
		du int64
		l  []string
	)
	o.String("s", &s)
	o.Float("f", &f, 0, 1)
	o.Int("i", &i, 0, 5)
	o.Duration("d", &du)
	o.Strings("l", &l)
	o.Object("o")
	o.Objects("os")
	got := d.Err().Error()
	for _, want := range []string{
		"s: want a string, got a number",
		"f: want a number from 0 to 1, got 2",
		"i: want an integer, got a number",
		`d: want a duration such as "24h" or "90m", got "soon"`,
		"l[1]: want a string, got a number",
		"os[0]: want an object, got a number",
		"o.x: unknown key",
		"os[1].y: unknown key",
		"extra: unknown key",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if _, _, err := Root([]byte(`[]`)); err == nil || !strings.Contains(err.Error(), "want a JSON object") {
		t.Errorf("a top-level array: %v", err)
	}
}
