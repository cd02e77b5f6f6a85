package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// maxSuggestDistance is how far (in edits) an unknown key may be from a
// known one to be suggested, and renamed by validate --fix.
const maxSuggestDistance = 2

// suggestKey returns the known key of t nearest to key, when exactly one
// lies within maxSuggestDistance edits, no key of m already uses it, and
// value has the shape the known key wants; otherwise "" and the nearest
// candidates, if several tie (to name them, not to rename to any).
func suggestKey(key string, value any, m map[string]any, t reflect.Type) (string, []string) {
	best, bestD := []string(nil), maxSuggestDistance+1
	for i := range t.NumField() {
		k := t.Field(i).Tag.Get("koanf")
		if k == "" {
			continue
		}
		switch d := editDistance(key, k); {
		case d < bestD:
			best, bestD = []string{k}, d
		case d == bestD:
			best = append(best, k)
		}
	}
	if len(best) != 1 {
		return "", best
	}
	want := best[0]
	if _, taken := m[want]; taken {
		return "", nil // renaming would clash: both are the user's to sort out
	}
	if len(checkShape("", copyRaw(value), koanfFields(t)[want])) > 0 {
		return "", nil // the value could not be what the known key holds
	}
	return want, nil
}

// unknownKeyMsg is the message for an unknown key, with the suggestion.
func unknownKeyMsg(suggest string, ties []string) string {
	switch {
	case suggest != "":
		return fmt.Sprintf("unknown key (did you mean %s?)", suggest)
	case len(ties) > 1:
		slices.Sort(ties)
		return fmt.Sprintf("unknown key (did you mean %s?)", orList(ties))
	}
	return "unknown key"
}

// copyRaw deep-copies a decoded YAML value so that checking it leaves the
// original alone (checkShape clears what it refuses).
func copyRaw(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyRaw(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyRaw(e)
		}
		return out
	}
	return v
}

// editDistance is the optimal string alignment distance between a and b,
// compared case-insensitively: insertions, deletions, substitutions and
// transpositions of neighbours each count one (endpiont is one edit from
// endpoint); a difference of case alone counts one too.
func editDistance(a, b string) int {
	if strings.EqualFold(a, b) {
		if a == b {
			return 0
		}
		return 1
	}
	a, b = strings.ToLower(a), strings.ToLower(b)
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
