package jsoncfg

// ParseDuration parses a duration as Go's time.ParseDuration does ("24h",
// "1h30m", "1.5s", "250ms", "-2m"; units ns, us, µs, μs, ms, s, m, h) and
// returns it in nanoseconds. It is not time.ParseDuration because package
// time imports syscall, whose wasip1 initialisation scans preopened
// directories and so makes a module import WASI file functions the gateway
// refuses.
func ParseDuration(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, true
	}
	if s == "" {
		return 0, false
	}
	var total uint64
	for s != "" {
		// A number: digits, optionally a fraction; at least one digit.
		whole, i, over := uint64(0), 0, false
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if whole > (1<<63)/10 {
				over = true
			}
			whole = whole*10 + uint64(s[i]-'0')
		}
		digits := i
		frac, scale := uint64(0), uint64(1)
		if i < len(s) && s[i] == '.' {
			i++
			for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
				digits++
				if scale > (1<<63)/10 { // digits beyond any unit's precision
					continue
				}
				frac, scale = frac*10+uint64(s[i]-'0'), scale*10
			}
		}
		if digits == 0 || over {
			return 0, false
		}
		s = s[i:]
		// A unit: letters up to the next digit or dot.
		j := 0
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit, ok := units[s[:j]]
		if !ok {
			return 0, false
		}
		s = s[j:]
		if whole > (1<<63)/unit {
			return 0, false
		}
		v := whole * unit
		if frac > 0 {
			// frac/scale of a unit, rounded down as time.ParseDuration does.
			v += uint64(float64(frac) * (float64(unit) / float64(scale)))
		}
		total += v
		if total > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(total), true
	}
	if total > 1<<63-1 {
		return 0, false
	}
	return int64(total), true
}

var units = map[string]uint64{
	"ns": 1,
	"us": 1e3,
	"µs": 1e3, // U+00B5 micro sign
	"μs": 1e3, // U+03BC Greek mu
	"ms": 1e6,
	"s":  1e9,
	"m":  60e9,
	"h":  3600e9,
}
