// Package match matches names and values against the patterns of
// DROP_MATCH and MASK_VALUES (Go's RE2 syntax), cheaply for the common
// cases.
//
// Most patterns operators write for names are a handful of literal strings
// anchored at one or both ends: ^(GET|HEAD) /(healthz|readyz|livez)$ is six
// exact names. Go's regexp runs such a pattern in a few hundred
// nanoseconds; comparing a name against six strings costs a few. Compile
// therefore expands a pattern whose language is a small finite set of strings (built
// from literals, alternations, optional parts and small character classes)
// into that set, and matches exact strings (^...$), prefixes (^...) or
// suffixes (...$) against it. Every other pattern runs through regexp.
package match

import (
	"regexp"
	"regexp/syntax"
)

// maxSet is the largest set of strings a pattern is expanded into; beyond
// it, linear comparison stops being cheaper than the regexp engine.
const maxSet = 64

// maxClass is the largest character class expanded into its runes.
const maxClass = 8

// Mode is how a Matcher compares.
type Mode uint8

// Modes.
const (
	ModeRegexp Mode = iota // regexp.MatchString
	ModeExact              // s equals one of the set
	ModePrefix             // s starts with one of the set
	ModeSuffix             // s ends with one of the set
)

// Matcher matches strings against one pattern. It does not change once
// compiled and is safe for concurrent use.
type Matcher struct {
	mode Mode
	set  []string
	re   *regexp.Regexp
}

// Compile compiles pattern (Go regexp syntax, unanchored unless it says
// otherwise, as regexp.MatchString).
func Compile(pattern string) (*Matcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	m := &Matcher{mode: ModeRegexp, re: re}
	if set, mode, ok := expand(pattern); ok {
		m.mode, m.set = mode, set
	}
	return m, nil
}

// Exact returns the set of strings the pattern matches exactly, when it is
// such a set (ModeExact).
func (m *Matcher) Exact() ([]string, bool) {
	return m.set, m.mode == ModeExact
}

// Regexp is the compiled pattern, for finding matches inside a string.
func (m *Matcher) Regexp() *regexp.Regexp { return m.re }

// Mode reports how the matcher compares (for tests and docs).
func (m *Matcher) Mode() Mode { return m.mode }

// Match reports whether s matches.
func (m *Matcher) Match(s string) bool {
	switch m.mode {
	case ModeExact:
		for _, w := range m.set {
			if len(w) == len(s) && w == s {
				return true
			}
		}
		return false
	case ModePrefix:
		for _, w := range m.set {
			if len(s) >= len(w) && s[:len(w)] == w {
				return true
			}
		}
		return false
	case ModeSuffix:
		for _, w := range m.set {
			if len(s) >= len(w) && s[len(s)-len(w):] == w {
				return true
			}
		}
		return false
	}
	return m.re.MatchString(s)
}

// expand returns the finite set of strings pattern denotes and how to
// compare against it, or false when the pattern is not a small finite set
// anchored at the start, the end or both.
func expand(pattern string) ([]string, Mode, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, 0, false
	}
	re = re.Simplify()
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	begin := len(subs) > 0 && subs[0].Op == syntax.OpBeginText
	if begin {
		subs = subs[1:]
	}
	end := len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText
	if end {
		subs = subs[:len(subs)-1]
	}
	if !begin && !end {
		return nil, 0, false
	}
	set := []string{""}
	for _, s := range subs {
		part, ok := strs(s)
		if !ok {
			return nil, 0, false
		}
		if set, ok = product(set, part); !ok {
			return nil, 0, false
		}
	}
	mode := ModeExact
	switch {
	case begin && !end:
		mode = ModePrefix
	case end && !begin:
		mode = ModeSuffix
	}
	return dedupe(set), mode, true
}

// strs is the finite language of re, or false.
func strs(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > maxClass {
				return nil, false
			}
		}
		out := make([]string, 0, n)
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpCapture:
		return strs(re.Sub[0])
	case syntax.OpQuest:
		s, ok := strs(re.Sub[0])
		if !ok {
			return nil, false
		}
		return append([]string{""}, s...), len(s) < maxSet
	case syntax.OpConcat:
		set := []string{""}
		for _, sub := range re.Sub {
			part, ok := strs(sub)
			if !ok {
				return nil, false
			}
			if set, ok = product(set, part); !ok {
				return nil, false
			}
		}
		return set, true
	case syntax.OpAlternate:
		var set []string
		for _, sub := range re.Sub {
			part, ok := strs(sub)
			if !ok {
				return nil, false
			}
			set = append(set, part...)
			if len(set) > maxSet {
				return nil, false
			}
		}
		return set, true
	}
	return nil, false
}

func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxSet {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out, true
}

func dedupe(set []string) []string {
	out := make([]string, 0, len(set))
	for _, s := range set {
		found := false
		for _, t := range out {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}
