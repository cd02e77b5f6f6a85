package match

import (
	"regexp"
	"slices"
	"testing"
)

func TestCompileModes(t *testing.T) {
	cases := []struct {
		pattern string
		mode    Mode
		set     []string
	}{
		{`^(GET|HEAD) /(healthz|readyz|livez)$`, ModeExact, []string{
			"GET /healthz", "GET /readyz", "GET /livez", "HEAD /healthz", "HEAD /readyz", "HEAD /livez"}},
		{`^healthcheck$`, ModeExact, []string{"healthcheck"}},
		{`^/internal/`, ModePrefix, []string{"/internal/"}},
		{`\.(png|css)$`, ModeSuffix, []string{".png", ".css"}},
		{`^v[12]?/x$`, ModeExact, []string{"v/x", "v1/x", "v2/x"}},
		{`healthz`, ModeRegexp, nil},                               // unanchored: a substring match
		{`^GET /.*$`, ModeRegexp, nil},                             // infinite
		{`(?i)^get$`, ModeRegexp, nil},                             // case folding
		{`^[a-z]+$`, ModeRegexp, nil},                              // class too large, repetition
		{`^(a|b)(c|d)(e|f)(g|h)(i|j)(k|l)(m|n)$`, ModeRegexp, nil}, // 128 strings
	}
	for _, c := range cases {
		m, err := Compile(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if m.Mode() != c.mode {
			t.Errorf("%s: mode %d, want %d", c.pattern, m.Mode(), c.mode)
		}
		got := slices.Clone(m.set)
		slices.Sort(got)
		want := slices.Clone(c.set)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: set %q, want %q", c.pattern, got, want)
		}
	}
}

func TestCompileRefusesBadPatterns(t *testing.T) {
	if _, err := Compile(`^(GET`); err == nil {
		t.Error("an unbalanced pattern compiled")
	}
}

// The fast paths must agree with regexp on every input.
func TestMatchAgreesWithRegexp(t *testing.T) {
	patterns := []string{
		`^(GET|HEAD) /(healthz|readyz|livez)$`, `^/internal/`, `\.(png|css)$`, `^v[12]?/x$`,
		`healthz`, `^GET /.*$`, `^$`, `^`, `$`, `^a|b$`, `^(a|)$`,
	}
	inputs := []string{"", "GET /healthz", "GET /healthz ", "HEAD /livez", "POST /healthz", "GET /readyzz",
		"/internal/x", "/internal", "a.png", "a.pngx", ".css", "v/x", "v1/x", "v3/x", "xhealthzx", "a", "b", "ab", "ba"}
	for _, p := range patterns {
		m, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(p)
		for _, in := range inputs {
			if got, want := m.Match(in), re.MatchString(in); got != want {
				t.Errorf("pattern %s (mode %d) on %q: %v, regexp says %v", p, m.Mode(), in, got, want)
			}
		}
	}
}

func FuzzMatchAgreesWithRegexp(f *testing.F) {
	f.Add(`^(GET|HEAD) /(healthz|readyz|livez)$`, "GET /healthz")
	f.Add(`\.(png|css)$`, "x.css")
	f.Add(`^a?b?[xy]$`, "ay")
	f.Fuzz(func(t *testing.T, p, in string) {
		re, err := regexp.Compile(p)
		if err != nil {
			return
		}
		m, err := Compile(p)
		if err != nil {
			t.Fatalf("regexp compiles %q but Compile fails: %v", p, err)
		}
		if got, want := m.Match(in), re.MatchString(in); got != want {
			t.Errorf("pattern %q (mode %d) on %q: %v, regexp says %v", p, m.Mode(), in, got, want)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	m, _ := Compile(`^(GET|HEAD) /(healthz|readyz|livez)$`)
	re := regexp.MustCompile(`^(GET|HEAD) /(healthz|readyz|livez)$`)
	names := []string{"GET /api/v1/users/{id}", "GET /healthz", "POST /checkout", "HEAD /livez"}
	b.Run("set", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			m.Match(names[i&3])
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			re.MatchString(names[i&3])
		}
	})
}
