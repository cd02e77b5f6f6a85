package jsoncfg

import (
	"testing"
	"time"
)

var durations = []string{
	"0", "-0", "+0", "24h", "1h30m", "90m", "1.5s", "250ms", "1us", "1µs", "1μs", "3ns", "-2m", "+5s",
	".5s", "1.s", "1.0000000001s", "0.1ns", "2562047h47m16.854775807s", "2562047h47m16.854775808s",
	"-2562047h47m16.854775808s", "9223372036854775807ns", "9223372036854775808ns", "99999999999999999999h",
	"", "h", "1", "1d", "1hh", "1h 30m", "s1", ".", "-", "1..5s", "1e3s",
}

func TestParseDurationAgreesWithTime(t *testing.T) {
	for _, s := range durations {
		want, werr := time.ParseDuration(s)
		got, ok := ParseDuration(s)
		if ok != (werr == nil) || (ok && got != int64(want)) {
			t.Errorf("%q: %d, %v; time.ParseDuration says %d, %v", s, got, ok, want, werr)
		}
	}
}

func FuzzParseDurationAgreesWithTime(f *testing.F) {
	for _, s := range durations {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := time.ParseDuration(s)
		got, ok := ParseDuration(s)
		if ok != (werr == nil) || (ok && got != int64(want)) {
			t.Errorf("%q: %d, %v; time.ParseDuration says %d, %v", s, got, ok, want, werr)
		}
	})
}
