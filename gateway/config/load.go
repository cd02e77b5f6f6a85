package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/otlpgw/otlpgw/configs"
)

// embeddedName names the embedded default file in error messages.
const embeddedName = "embedded default.yaml"

// source is one configuration file's name (for messages) and bytes.
type source struct {
	name     string
	data     []byte
	embedded bool
}

// Load reads, merges, decodes and validates the configuration files, in
// order. With no files it uses the embedded default (configs/default.yaml),
// whose debug exporter gives way to the OTEL_EXPORTER_OTLP_* exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT is set.
// env looks up environment variables, both for ${env:NAME} references and
// for OTEL_EXPORTER_OTLP_*; nil means the process environment.
//
// On any problem Load returns a nil Config and an error joining every
// problem found (read, ${env:...}, YAML syntax, unknown keys, types,
// validation); Problems turns it into one line per problem.
func Load(files []string, env func(string) (string, bool)) (*Config, error) {
	cfg, _, err := LoadWithWarnings(files, env)
	return cfg, err
}

// EmptyFileWarning is the warning for a configuration file with no keys:
// valid, but every key takes its default, which is rarely what a file was
// written for (a ConfigMap extracted under the wrong key gives one).
const EmptyFileWarning = "the file is empty (no keys, or only comments): every key takes its default"

// LoadWithWarnings is Load that also returns what is valid but probably
// not meant, one line per warning, each starting with the file it is
// about, such as "a.yaml: " + EmptyFileWarning.
func LoadWithWarnings(files []string, env func(string) (string, bool)) (*Config, []string, error) {
	if env == nil {
		env = os.LookupEnv
	}
	if len(files) == 0 {
		return load([]source{{name: embeddedName, data: configs.Default, embedded: true}}, env)
	}
	srcs := make([]source, 0, len(files))
	var errs []error
	for _, f := range files {
		b, err := file.Provider(f).ReadBytes()
		if err != nil {
			errs = append(errs, &FieldError{Path: f, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
			continue
		}
		srcs = append(srcs, source{name: f, data: b})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return load(srcs, env)
}

// unwrapPathError drops the path os.PathError repeats, since the message
// already starts with it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func load(srcs []source, env func(string) (string, bool)) (*Config, []string, error) {
	var errs []error
	var warnings []string

	// Expansion and parsing errors of every file are collected before giving
	// up, so one run shows every missing variable.
	k := koanf.New(".")
	for _, s := range srcs {
		text, xerrs := expandEnv(s.name, s.data, env)
		errs = append(errs, xerrs...)
		if len(xerrs) > 0 {
			continue
		}
		if err := k.Load(rawbytes.Provider(text), yaml.Parser()); err != nil {
			errs = append(errs, &FieldError{Path: s.name, Msg: "invalid YAML: " + yamlMessage(err)})
		} else if !s.embedded && emptyDocument(text) {
			warnings = append(warnings, s.name+": "+EmptyFileWarning)
		}
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	raw := k.Raw()

	// The embedded default names a debug exporter only as the no-config
	// fallback; the OTEL variables take its place, as they would for a file
	// that names no exporter.
	if len(srcs) == 1 && srcs[0].embedded {
		if ep, ok := env(envEndpoint); ok && ep != "" {
			delete(raw, "exporters")
		}
	}

	errs = append(errs, checkShape("", raw, reflect.TypeFor[Config]())...)

	cfg := Default()
	cfg.Exporters = nil
	if l, ok := raw["exporters"].([]any); ok {
		cfg.Exporters = make([]Exporter, len(l))
		for i := range cfg.Exporters {
			cfg.Exporters[i] = defaultExporter()
		}
	}
	if l, ok := raw["filters"].([]any); ok {
		cfg.Filters = make([]Filter, len(l))
		for i := range cfg.Filters {
			cfg.Filters[i] = defaultFilter()
		}
	}
	errs = append(errs, decode(raw, &cfg)...)
	// A key that did not decode kept its default; checking it again would
	// only repeat the problem under another message.
	undecoded := make([]string, 0, len(errs))
	for _, e := range errs {
		if fe, ok := e.(*FieldError); ok {
			undecoded = append(undecoded, fe.Path)
		}
	}

	for i := range cfg.Exporters {
		resolveExporterDefaults(&cfg.Exporters[i])
	}
	applyPreset(&cfg, raw)
	if len(cfg.Exporters) == 0 {
		e, eerrs := envExporter(env)
		errs = append(errs, eerrs...)
		cfg.Exporters = []Exporter{e}
	}

	errs = append(errs, validateExcept(&cfg, undecoded)...)
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return &cfg, warnings, nil
}

// emptyDocument reports whether YAML text holds no value at all: zero
// bytes, whitespace, comments or a bare document marker. An explicit {}
// is a choice, not an accident, and does not count.
func emptyDocument(text []byte) bool {
	var v any
	return yamlv3.Unmarshal(text, &v) == nil && v == nil
}

// validateExcept runs Validate and leaves out problems at or below the
// given paths.
func validateExcept(cfg *Config, skip []string) []error {
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if fe, ok := e.(*FieldError); ok && slices.ContainsFunc(skip, func(p string) bool { return within(fe.Path, p) }) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// within reports whether path is p or a key or element below it.
func within(path, p string) bool {
	rest, ok := strings.CutPrefix(path, p)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// yamlMessage tidies a YAML parser error into one line.
func yamlMessage(err error) string {
	var te *yamlv3.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	// Everything below the top level decodes into any, so "cannot
	// unmarshal" can only mean the document is not a mapping.
	if m := yamlTypeErr.FindStringSubmatch(te.Errors[0]); m != nil {
		got, ok := yamlKinds[m[2]]
		if !ok {
			got = "!!" + m[2]
		}
		return "the top level must be a mapping of keys such as receivers: and exporters: (got " + got + " at line " + m[1] + ")"
	}
	return strings.Join(te.Errors, "; ") // such as a key defined twice
}

var (
	yamlTypeErr = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+)`)
	yamlKinds   = map[string]string{"seq": "a list", "str": "a string", "int": "a number", "float": "a number", "bool": "true or false", "null": "null"}
)

// presets are the named batch settings; queue is the queue.max_bytes that
// goes with them.
var presets = map[string]struct {
	items   int
	bytes   Size
	timeout time.Duration
	queue   Size
}{
	"low_latency":     {100, 1 * MiB, 50 * time.Millisecond, 32 * MiB},
	"high_throughput": {8192, 8 * MiB, time.Second, 1 * GiB},
}

// applyPreset sets the preset's values for every key no file wrote.
func applyPreset(cfg *Config, raw map[string]any) {
	p, ok := presets[cfg.Batch.Preset]
	if !ok {
		return // Validate reports unknown presets.
	}
	if !present(raw, "batch", "max_items") {
		cfg.Batch.MaxItems = p.items
	}
	if !present(raw, "batch", "max_bytes") {
		cfg.Batch.MaxBytes = p.bytes
	}
	if !present(raw, "batch", "timeout") {
		cfg.Batch.Timeout = p.timeout
	}
	if !present(raw, "queue", "max_bytes") {
		cfg.Queue.MaxBytes = p.queue
	}
}

// present reports whether the merged files set the nested key to a non-null value.
func present(m map[string]any, keys ...string) bool {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = mm[k]; !ok {
			return false
		}
	}
	return v != nil
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[time.Duration]()
)

// checkShape reports unknown keys and values of the wrong shape (a list
// where a mapping belongs and so on) with their full path. Mis-shaped values
// are removed from raw so that the decoder reports nothing twice.
func checkShape(path string, raw any, t reflect.Type) []error {
	var errs []error
	var walk func(path string, raw any, t reflect.Type) bool
	walk = func(path string, raw any, t reflect.Type) bool {
		if raw == nil {
			return true
		}
		wrong := func() bool {
			errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf("wrong type (got %s, want %s)", describeValue(raw), describeType(t))})
			return false
		}
		switch t.Kind() {
		case reflect.Struct:
			m, ok := raw.(map[string]any)
			if !ok {
				return wrong()
			}
			fields := koanfFields(t)
			for _, key := range sortedKeys(m) {
				p := joinPath(path, key)
				ft, ok := fields[key]
				if !ok {
					suggest, ties := suggestKey(key, m[key], m, t)
					errs = append(errs, &FieldError{Path: p, Msg: unknownKeyMsg(suggest, ties), rename: suggest})
					continue
				}
				if !walk(p, m[key], ft) {
					m[key] = nil
				}
			}
		case reflect.Slice:
			l, ok := raw.([]any)
			if !ok {
				return wrong()
			}
			for i := range l {
				if !walk(fmt.Sprintf("%s[%d]", path, i), l[i], t.Elem()) {
					l[i] = nil
				}
			}
		case reflect.Map:
			m, ok := raw.(map[string]any)
			if !ok {
				return wrong()
			}
			if t.Elem().Kind() == reflect.Interface {
				return true // free-form
			}
			for _, key := range sortedKeys(m) {
				if !walk(joinPath(path, key), m[key], t.Elem()) {
					delete(m, key)
				}
			}
		default:
			switch raw.(type) {
			case map[string]any, []any:
				return wrong()
			}
		}
		return true
	}
	walk(path, raw, t)
	return errs
}

func koanfFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("koanf"); tag != "" {
			out[tag] = f.Type
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describeValue renders a YAML value for the "got" half of a message.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprint(v)
}

// describeType renders a Go type in operator terms for the "want" half.
func describeType(t reflect.Type) string {
	switch t {
	case sizeType:
		return "a size"
	case durationType:
		return "a duration"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// decode decodes the merged files over cfg. Shape and unknown keys are
// already checked; what remains are scalar conversions.
func decode(raw map[string]any, cfg *Config) []error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:    "koanf",
		Result:     cfg,
		DecodeHook: mapstructure.DecodeHookFuncType(decodeHook),
		// Keys match exactly, as checkShape already required.
		MatchName: func(a, b string) bool { return a == b },
	})
	if err != nil {
		return []error{fmt.Errorf("config decoder: %w", err)}
	}
	var errs []error
	flattenDecodeError(d.Decode(raw), &errs)
	slices.SortStableFunc(errs, func(a, b error) int {
		return strings.Compare(a.Error(), b.Error())
	})
	return errs
}

// hookError is a conversion failure whose message is already in house form.
type hookError struct{ msg string }

func (e *hookError) Error() string { return e.msg }

// decodeHook converts YAML scalars to sizes, durations and strings, with
// messages an operator can act on.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == sizeType:
		return toSize(data)
	case to == durationType:
		return toDuration(data)
	case to.Kind() == reflect.String:
		// Scalars in string fields (a header value, a port-only name) are
		// taken as written rather than refused.
		switch v := data.(type) {
		case int, int64, uint64, float64, bool:
			return fmt.Sprint(v), nil
		}
	case to.Kind() == reflect.Int:
		if f, ok := data.(float64); ok && f != math.Trunc(f) {
			return nil, &hookError{fmt.Sprintf("wrong type (got %v, want an integer)", f)}
		}
	}
	return data, nil
}

func toSize(data any) (any, error) {
	bad := func() (any, error) {
		return nil, &hookError{fmt.Sprintf("not a size (got %s, %s)", describeValue(data), sizeWant)}
	}
	switch v := data.(type) {
	case string:
		s, err := ParseSize(v)
		if err != nil {
			return nil, &hookError{err.Error()}
		}
		return s, nil
	case int:
		if v < 0 {
			return bad()
		}
		return Size(v), nil
	case int64:
		if v < 0 {
			return bad()
		}
		return Size(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return bad()
		}
		return Size(v), nil
	case float64:
		if v < 0 || v != math.Trunc(v) || v > 1<<62 {
			return bad()
		}
		return Size(v), nil
	}
	return bad()
}

func toDuration(data any) (any, error) {
	switch v := data.(type) {
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, &hookError{fmt.Sprintf("not a duration (got %q, want a number with a unit, such as 250ms, 30s or 5m)", v)}
		}
		return d, nil
	case int:
		if v == 0 {
			return time.Duration(0), nil
		}
	}
	// A bare number would silently mean nanoseconds.
	return nil, &hookError{fmt.Sprintf("not a duration (got %s, want a number with a unit, such as 250ms, 30s or 5m)", describeValue(data))}
}

// flattenDecodeError turns the decoder's nested, joined errors into one
// FieldError per problem.
func flattenDecodeError(err error, out *[]error) {
	switch e := err.(type) {
	case nil:
	case interface{ Unwrap() []error }:
		for _, e := range e.Unwrap() {
			flattenDecodeError(e, out)
		}
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		var nested *mapstructure.DecodeError
		if _, joined := inner.(interface{ Unwrap() []error }); joined || errors.As(inner, &nested) {
			flattenDecodeError(inner, out)
			return
		}
		msg := inner.Error()
		var ute *mapstructure.UnconvertibleTypeError
		if errors.As(inner, &ute) {
			msg = fmt.Sprintf("wrong type (got %s, want %s)", describeValue(ute.Value), describeType(ute.Expected.Type()))
		}
		*out = append(*out, &FieldError{Path: e.Name(), Msg: msg})
	default:
		if u := errors.Unwrap(err); u != nil {
			flattenDecodeError(u, out)
			return
		}
		*out = append(*out, err)
	}
}
