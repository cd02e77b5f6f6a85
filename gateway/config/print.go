package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Redacted is what config print and /-/config show in place of a secret.
// It passes Validate, so printed output loads back as it is.
const Redacted = "<redacted>"

// secretKey matches keys of free-form maps (a filter's config) whose
// values are secrets.
var secretKey = regexp.MustCompile(`(?i)pass(word|wd)?$|secret|token|api_?key|authorization|credential`)

// Redact returns a deep copy of c with every secret replaced by Redacted:
// fields tagged secret:"true" (every element of a list, every value of a
// map) and, in free-form maps, values under keys that name a secret.
// Empty secrets stay empty, so what was unset still reads as unset.
func (c *Config) Redact() Config {
	out := reflect.New(reflect.TypeFor[Config]()).Elem()
	copyRedacted(out, reflect.ValueOf(*c), false)
	return out.Interface().(Config)
}

// copyRedacted deep-copies src into dst; secret says src is a secret.
func copyRedacted(dst, src reflect.Value, secret bool) {
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			f := src.Type().Field(i)
			copyRedacted(dst.Field(i), src.Field(i), secret || f.Tag.Get("secret") == "true")
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyRedacted(dst.Index(i), src.Index(i), secret)
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		for _, k := range src.MapKeys() {
			v := reflect.New(src.Type().Elem()).Elem()
			copyRedacted(v, src.MapIndex(k), secret || (k.Kind() == reflect.String && secretKey.MatchString(k.String())))
			dst.SetMapIndex(k, v)
		}
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		if k := src.Elem().Kind(); secret && k != reflect.Map && k != reflect.Slice && !src.Elem().IsZero() {
			// A secret in a filter's config may be a number or a boolean:
			// the marker replaces it whatever its type.
			dst.Set(reflect.ValueOf(Redacted))
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		copyRedacted(v, src.Elem(), secret)
		dst.Set(v)
	case reflect.String:
		if secret && src.String() != "" {
			dst.SetString(Redacted)
			return
		}
		dst.Set(src)
	default:
		dst.Set(src)
	}
}

// MarshalYAML renders c as a configuration file: every key, in the order
// of the reference (docs/config.md), with durations and sizes written as
// an operator would (200ms, 16MiB). Loading the output gives c back (an
// empty list or map may come back as nil and the reverse: they mean the
// same everywhere).
// Redact first when the output leaves the process.
func (c *Config) MarshalYAML() ([]byte, error) {
	n, err := toNode(reflect.ValueOf(*c))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yamlv3.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yamlv3.Node{Kind: yamlv3.DocumentNode, Content: []*yamlv3.Node{n}}); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

func scalar(tag, v string) *yamlv3.Node {
	return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: tag, Value: v}
}

func toNode(v reflect.Value) (*yamlv3.Node, error) {
	switch v.Type() {
	case durationType:
		return scalar("!!str", time.Duration(v.Int()).String()), nil
	case sizeType:
		return scalar("!!str", Size(v.Int()).String()), nil
	}
	switch v.Kind() {
	case reflect.Struct:
		m := &yamlv3.Node{Kind: yamlv3.MappingNode}
		for i := range v.NumField() {
			key := v.Type().Field(i).Tag.Get("koanf")
			if key == "" {
				continue
			}
			fv, err := toNode(v.Field(i))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, scalar("!!str", key), fv)
		}
		return m, nil
	case reflect.Slice:
		s := &yamlv3.Node{Kind: yamlv3.SequenceNode, Style: yamlv3.FlowStyle}
		for i := range v.Len() {
			e, err := toNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			if e.Kind != yamlv3.ScalarNode {
				s.Style = 0 // a list of mappings reads better in block style
			}
			s.Content = append(s.Content, e)
		}
		return s, nil
	case reflect.Map:
		m := &yamlv3.Node{Kind: yamlv3.MappingNode}
		if v.Len() == 0 {
			m.Style = yamlv3.FlowStyle
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		for _, k := range keys {
			e, err := toNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, scalar("!!str", fmt.Sprint(k.Interface())), e)
		}
		return m, nil
	case reflect.Interface:
		if v.IsNil() {
			return scalar("!!null", "null"), nil
		}
		return toNode(v.Elem())
	case reflect.String:
		return scalar("!!str", v.String()), nil
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		f := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(f, ".eIN") {
			f += ".0" // so that it reads back as a number with a point, as written
		}
		return scalar("!!float", f), nil
	}
	return nil, fmt.Errorf("config: cannot print a %s", v.Type())
}

// printHeader opens what PrintRedacted writes. It is a whole-line comment,
// which ${env:...} expansion leaves alone, so the output loads as it is.
const printHeader = "# otlpgw effective configuration: files merged, ${env:...} expanded, defaults filled in; secrets show as " + Redacted + "\n"

// PrintRedacted is what `otlpgw config print` and GET /-/config show: c
// with its secrets redacted (see Redact) as YAML (see MarshalYAML), under
// a one-line comment saying so.
func (c *Config) PrintRedacted() ([]byte, error) {
	r := c.Redact()
	out, err := r.MarshalYAML()
	if err != nil {
		return nil, err
	}
	return append([]byte(printHeader), out...), nil
}
