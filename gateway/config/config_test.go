package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate():\n%s", strings.Join(Problems(err), "\n"))
	}
}

func TestEmptyFileLoadsAsDefault(t *testing.T) {
	got, err := Load([]string{writeFile(t, "empty.yaml", "")}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(*got, want) {
		t.Errorf("Load(empty file) = %+v\nwant Default() = %+v", *got, want)
	}
}

func TestEmbeddedDefaultLoadsAndValidates(t *testing.T) {
	c, err := Load(nil, noEnv)
	if err != nil {
		t.Fatalf("embedded default:\n%s", strings.Join(Problems(err), "\n"))
	}
	if len(c.Exporters) != 1 || c.Exporters[0].Type != "debug" {
		t.Errorf("embedded default exporters = %+v, want one debug exporter", c.Exporters)
	}
}

// The shipped examples must keep loading as the config evolves.
func TestExamplesLoadAndValidate(t *testing.T) {
	files, err := filepath.Glob("../../configs/examples/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v (found %d)", err, len(files))
	}
	env := envMap(map[string]string{"UPSTREAM_TOKEN": "t", "INGEST_API_KEY": "k", "OTLPGW_TOKEN": "o"})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load([]string{f}, env); err != nil {
				t.Fatalf("%s:\n%s", f, strings.Join(Problems(err), "\n"))
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	ok := writeFile(t, "ok.yaml", "")
	_, err := Load([]string{ok, missing, missing + "2"}, noEnv)
	got := Problems(err)
	want := []string{
		missing + ": cannot read: no such file or directory",
		missing + "2: cannot read: no such file or directory",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
}

func TestLoadErrorsAreFieldErrors(t *testing.T) {
	p := writeFile(t, "c.yaml", "receivers: {otlp: {grpc: {endpoitn: x}}}\nexporters: [{name: a, type: otlp, endpoint: a:4317, timeout: 0s}]\n")
	_, err := Load([]string{p}, noEnv)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v holds no *FieldError", err)
	}
	want := []string{
		"receivers.otlp.grpc.endpoitn: unknown key (did you mean endpoint?)",
		"exporters[0].timeout: must be > 0 (got 0s)",
	}
	if got := Problems(err); !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
}

func TestValidateIsReadOnly(t *testing.T) {
	p := writeFile(t, "c.yaml", `
exporters:
  - {name: a, type: otlp, endpoint: "", headers: {k: v}, retry: {jitter: 3}}
filters:
  - {name: f, module: builtin:f, config: {k: [1, 2]}, signals: [traces, bogus]}
memory_limit: {soft: 95%, hard: 90%}
`)
	// Load fails on these problems, so build the same Config by hand.
	c := Default()
	c.Exporters = []Exporter{defaultExporter()}
	c.Exporters[0].Name, c.Exporters[0].Type = "a", "otlp"
	c.Exporters[0].Headers = map[string]string{"k": "v"}
	c.Exporters[0].Retry.Jitter = 3
	resolveExporterDefaults(&c.Exporters[0])
	c.Filters = []Filter{defaultFilter()}
	c.Filters[0].Name, c.Filters[0].Module = "f", "builtin:f"
	c.Filters[0].Config = map[string]any{"k": []any{1, 2}}
	c.Filters[0].Signals = []string{"traces", "bogus"}
	c.MemoryLimit = MemoryLimit{Soft: "95%", Hard: "90%"}
	before := c.Hash()
	snapshot := dumpConfig(&c)

	first := Problems(c.Validate())
	second := Problems(c.Validate())
	if len(first) != 4 || !slices.Equal(first, second) {
		t.Errorf("Validate reported %q then %q, want the same 4 problems twice", first, second)
	}
	if c.Hash() != before || !slices.Equal(dumpConfig(&c), snapshot) {
		t.Errorf("Validate changed the config")
	}
	// The file form reports the same problems through Load.
	_, err := Load([]string{p}, noEnv)
	if got := Problems(err); !slices.Equal(got, first) {
		t.Errorf("Load problems %q, want %q", got, first)
	}
}

func TestHash(t *testing.T) {
	a := writeFile(t, "a.yaml", "log: {level: debug, format: json}\nbatch: {timeout: 1s}\n")
	// Same values: other key order, other units, split over two files.
	b1 := writeFile(t, "b1.yaml", "batch:\n  timeout: 1000ms\n")
	b2 := writeFile(t, "b2.yaml", "log:\n  format: json\n  level: debug\n")
	c := writeFile(t, "c.yaml", "log: {level: info, format: json}\nbatch: {timeout: 1s}\n")

	load := func(files ...string) string {
		t.Helper()
		cfg, err := Load(files, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Hash()
	}
	ha, hb, hc := load(a), load(b1, b2), load(c)
	if ha != hb {
		t.Errorf("same values, different hashes: %s vs %s", ha, hb)
	}
	if ha == hc {
		t.Errorf("different values, same hash %s", ha)
	}
	if len(ha) != 64 {
		t.Errorf("hash %q is not hex SHA-256", ha)
	}
	d := Default()
	d.Filters = []Filter{{Name: "f", Config: map[string]any{"x": 1.5, "y": map[string]any{"z": true}}}}
	if h1, h2 := d.Hash(), d.Hash(); h1 != h2 {
		t.Errorf("hash of a free-form filter config is not stable")
	}
}

func TestProblems(t *testing.T) {
	err := errors.Join(
		&FieldError{Path: "a.b", Msg: "bad (got 1, want 2)"},
		errors.Join(&FieldError{Path: "c[0]", Msg: "worse"}, &FieldError{Msg: "no path"}),
		errors.New("two\nlines"),
	)
	want := []string{"a.b: bad (got 1, want 2)", "c[0]: worse", "no path", "two", "lines"}
	if got := Problems(err); !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
	if got := Problems(nil); got != nil {
		t.Errorf("Problems(nil) = %q, want nil", got)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"1KB", 1000, false},
		{"1MB", 1000 * 1000, false},
		{"1GB", 1000 * 1000 * 1000, false},
		{"1KiB", KiB, false},
		{"16MiB", 16 * MiB, false},
		{"2GiB", 2 * GiB, false},
		{" 16 MiB ", 16 * MiB, false},
		{"512B", 512, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"1.5MiB", 0, true},
		{"-1", 0, true},
		{"1mib", 0, true},
		{"1TiB", 0, true},
		{"9999999999GiB", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	env := envMap(map[string]string{"A": "x", "E": "", "NL": "a\nb"})
	for _, tc := range []struct{ in, want string }{
		{"no dollars", "no dollars"},
		{"${env:A}", "x"},
		{"${env:A}${env:A}-${env:B:-d}", "xx-d"},
		{"${env:E:-d}|${env:E}", "d|"},
		{"${env:B:-}", ""},
		{"${env:B:-a b:c}", "a b:c"},
		{"$$ $$$$ $${env:A} $x $", "$ $$ ${env:A} $x $"},
		{"${env:NL}\n${env:A}", "a\nb\nx"},
		{"  # ${env:UNSET}\nk: ${env:A} # ${env:A}", "  # ${env:UNSET}\nk: x # x"},
	} {
		got, errs := expandEnv("f", []byte(tc.in), env)
		if len(errs) > 0 || string(got) != tc.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, errs, tc.want)
		}
	}
	_, errs := expandEnv("f.yaml", []byte("a: 1\nb: ${env:UNSET}\n"), env)
	if got := Problems(errors.Join(errs...)); len(got) != 1 || !strings.HasPrefix(got[0], "f.yaml:2: ${env:UNSET}: environment variable UNSET is not set") {
		t.Errorf("unset variable: %q", got)
	}
}

func TestDurationsAcceptZeroAndUnits(t *testing.T) {
	p := writeFile(t, "c.yaml", "queue: {block_timeout: 0}\nbatch: {timeout: 1m30s}\n")
	c, err := Load([]string{p}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.BlockTimeout != 0 || c.Batch.Timeout != 90*time.Second {
		t.Errorf("block_timeout %v, batch.timeout %v; want 0s and 1m30s", c.Queue.BlockTimeout, c.Batch.Timeout)
	}
}
