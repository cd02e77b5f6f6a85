package config

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzFix feeds arbitrary file text to validate --fix. Fix must never
// panic; it returns a config exactly when nothing remains to report, and
// that config is what its own output loads to; it leaves a file it could
// not fix byte for byte as it was; and fixing its output again fixes
// nothing more, since every fix is applied in one run.
func FuzzFix(f *testing.F) {
	for _, glob := range []string{"testdata/fix/*.yaml", "testdata/load/*/*.yaml"} {
		seeds, _ := filepath.Glob(glob)
		for _, s := range seeds {
			if b, err := os.ReadFile(s); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("exporters:\n  - {name: a, type: otlp, endpoint: \"http://c:4317\", timout: 0s}\n"))
	f.Add([]byte("batch: {preset: latency, timeout: -1s}\nshutdown_timout: 0s\n"))
	f.Add([]byte("exporters: &x [{name: a, type: otlp, endpoint: \"https://c:4317\"}]\nfilters: *x\n"))
	f.Add([]byte("exporters:\n- name: a\n  type: otlp\n  endpoint: http://c:4317\n  tls: {insecure: yes}\n"))
	env := func(k string) (string, bool) { return "v:" + k, len(k)%2 == 0 }
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Fix("fuzz.yaml", data, env)
		if (err == nil) != (res.Config != nil) {
			t.Fatalf("Config %v with error %v: want a config exactly when nothing remains", res.Config, err)
		}
		if len(res.Fixes) == 0 && !bytes.Equal(res.Out, data) {
			t.Fatalf("no fix reported, but the file changed:\n%s\n---\n%s", data, res.Out)
		}
		if err == nil {
			cfg, _, lerr := load([]source{{name: "fuzz.yaml", data: res.Out}}, env)
			if lerr != nil {
				t.Fatalf("Fix returned a config, but its output does not load: %v\n%s", lerr, res.Out)
			}
			if cfg.Hash() != res.Config.Hash() {
				t.Fatalf("Fix's config differs from its output's:\n%s", res.Out)
			}
		}
		if len(res.Fixes) == 0 {
			return
		}
		again, aerr := Fix("fuzz.yaml", res.Out, env)
		if len(again.Fixes) > 0 || !bytes.Equal(again.Out, res.Out) {
			t.Fatalf("a second --fix still fixes %q\nfirst fixes %q\ninput:\n%s\nfirst output:\n%s\nsecond output:\n%s",
				again.Fixes, res.Fixes, data, res.Out, again.Out)
		}
		if (aerr == nil) != (err == nil) {
			t.Fatalf("fixing the output again changed the verdict: %v, then %v", err, aerr)
		}
	})
}

// FuzzParseSize checks ParseSize against big-integer arithmetic on the
// same digits and unit, and that every accepted size survives
// String -> ParseSize unchanged.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"16MiB", "4MB", "1024", " 2 GiB ", "0", "1B", "4611686018427387904", "4294967296GiB",
		"-1KiB", "1.5MiB", "+3KB", "0x10", "1e3", "9223372036854775807", "MiB", "1kib", "16 MiB\n"} {
		f.Add(s)
	}
	sizeRef := regexp.MustCompile(`^[\t\n\v\f\r ]*([+-]?[0-9]+)[\t\n\v\f\r ]*(KiB|MiB|GiB|KB|MB|GB|B)?[\t\n\v\f\r ]*$`)
	mults := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
	limit := big.NewInt(1 << 62)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSize(s)
		// strings.TrimSpace also trims Unicode spaces, which the
		// reference leaves out: only ASCII input is held to it.
		if m := sizeRef.FindStringSubmatch(s); m != nil && isASCII(s) {
			n, _ := new(big.Int).SetString(strings.TrimPrefix(m[1], "+"), 10)
			want := n.Mul(n, big.NewInt(mults[m[2]]))
			switch {
			case want.Sign() < 0:
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error: negative", s, got)
				}
			case want.Cmp(limit) > 0:
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error: over the 4EiB bound", s, got)
				}
			case err != nil:
				t.Fatalf("ParseSize(%q): %v, want %s", s, err, want)
			case big.NewInt(int64(got)).Cmp(want) != 0:
				t.Fatalf("ParseSize(%q) = %d, want %s", s, got, want)
			}
		} else if err == nil && isASCII(s) {
			t.Fatalf("ParseSize(%q) = %d, want an error", s, got)
		}
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("ParseSize(%q) error %q does not quote the input", s, err)
			}
			return
		}
		if got < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, got)
		}
		back, err := ParseSize(got.String())
		if err != nil || back != got {
			t.Fatalf("ParseSize(%q) = %d, printed %q, parsed back as %d, %v", s, got, got.String(), back, err)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// envRef is the reference reading of one line of a file for expandEnv:
// $$, a ${...} closed on the same line, or an unterminated ${.
var envRef = regexp.MustCompile(`\$\$|\$\{[^}]*\}|\$\{`)

// expandRef is expandEnv written a second way, line by line with a
// regular expression, to compare against: the output, and the line of
// every problem.
func expandRef(text string, env func(string) (string, bool)) (string, []int) {
	var bad []int
	lines := strings.Split(text, "\n")
	for n, l := range lines {
		if t := strings.TrimLeft(l, " \t"); strings.HasPrefix(t, "#") {
			continue
		}
		lines[n] = envRef.ReplaceAllStringFunc(l, func(m string) string {
			switch {
			case m == "$$":
				return "$"
			case m == "${":
				bad = append(bad, n+1)
				return m
			}
			spec, ok := strings.CutPrefix(m[2:len(m)-1], "env:")
			name, def, hasDef := strings.Cut(spec, ":-")
			if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(name) {
				bad = append(bad, n+1)
				return ""
			}
			v, set := env(name)
			switch {
			case hasDef && v == "":
				return def
			case set:
				return v
			}
			bad = append(bad, n+1)
			return ""
		})
	}
	return strings.Join(lines, "\n"), bad
}

// FuzzExpandEnv compares ${env:...} expansion with expandRef: the same
// text out and the same problems, at the same lines.
func FuzzExpandEnv(f *testing.F) {
	f.Add("endpoint: ${env:UPSTREAM}\nkey: ${env:KEY:-}\n# ${env:NOT_EXPANDED}\n", "collector:4317")
	f.Add("a: ${env:A:-x:-y}\nb: $${env:B}\nc: ${env:1X}\nd: ${file:/etc/x}\ne: ${env:Q\nf: }\n", "")
	f.Add("  # c ${\n\t#\n$\n${}\n$$$\n${env:AB}${env:ABC}", "a\nb")
	f.Add("x: \"${env:HEADERS:-k=v,k2=v2}\"\r\n  - ${env:_} #${env:__}\n", "$${env:AB}")
	f.Fuzz(func(t *testing.T, text, val string) {
		// Odd-length names are unset; even-length ones hold val, which
		// may itself look like a reference and must not be expanded again.
		env := func(k string) (string, bool) {
			if len(k)%2 == 1 {
				return "", false
			}
			return val, true
		}
		got, errs := expandEnv("f.yaml", []byte(text), env)
		want, wantBad := expandRef(text, env)
		var gotBad []int
		for _, e := range errs {
			var line int
			if _, err := fmt.Sscanf(e.(*FieldError).Path, "f.yaml:%d", &line); err != nil {
				t.Fatalf("problem without a line: %v", e)
			}
			gotBad = append(gotBad, line)
		}
		if fmt.Sprint(gotBad) != fmt.Sprint(wantBad) {
			t.Fatalf("expandEnv(%q) problems at lines %v, want %v: %v", text, gotBad, wantBad, errs)
		}
		if string(got) != want {
			t.Fatalf("expandEnv(%q) = %q, want %q", text, got, want)
		}
	})
}

// FuzzEnvExporter feeds arbitrary OTEL_EXPORTER_OTLP_* values to the
// exporter built when no file names one. It must never panic, and an
// exporter it builds without a problem must pass Validate: a mistake in
// a variable is reported against the variable, never as a problem with
// an exporters[0] that no file holds.
func FuzzEnvExporter(f *testing.F) {
	f.Add("http://collector:4318", "", "", "", "")
	f.Add("https://collector:4317", "grpc", "api-key=s%20ecret,x=1", "2500", "gzip")
	f.Add("collector:4317", "grpc", "", "", "")
	f.Add("http://[::1]:4318/v1", "http/protobuf", "a=b,,=c", "-1", "snappy")
	f.Add("http://", "grpc", " =x", "0", "none")
	f.Add(" https://c ", "http/json", "%zz=1", "1e3", "zstd")
	f.Fuzz(func(t *testing.T, endpoint, protocol, headers, timeout, compression string) {
		vars := map[string]string{envEndpoint: endpoint, envProtocol: protocol, envHeaders: headers, envTimeout: timeout, envCompression: compression}
		e, errs := envExporter(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
		for _, err := range errs {
			fe, ok := err.(*FieldError)
			if !ok || vars[fe.Path] == "" && fe.Path != envEndpoint {
				t.Fatalf("problem %v is not against a variable that is set", err)
			}
		}
		if len(errs) > 0 {
			return
		}
		cfg := Default()
		cfg.Exporters = []Exporter{e}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("variables %q built an exporter without a problem, but it does not validate: %v", vars, err)
		}
	})
}
