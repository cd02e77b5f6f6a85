package detect

import (
	"slices"
	"testing"
)

// masked replaces every run find finds in s with "#".
func masked(find Detector, s string) string {
	out, last := "", 0
	for from := 0; from < len(s); {
		st, en := find(s, from)
		if st < 0 {
			break
		}
		out += s[last:st] + "#"
		last, from = en, en
	}
	return out + s[last:]
}

func byName(name string) Detector { return Get(slices.Index(Names[:], name)) }

func TestDetectors(t *testing.T) {
	cases := []struct {
		builtin, in, want string
	}{
		{"credit_card", "card 4111111111111111 ok", "card # ok"},
		{"credit_card", "4111-1111-1111-1111", "#"},
		{"credit_card", "4111 1111 1111 1111, 5500 0000 0000 0004", "#, #"},
		{"credit_card", "378282246310005", "#"},                             // 15-digit Amex
		{"credit_card", "4111111111111112", "4111111111111112"},             // Luhn fails
		{"credit_card", "ts 1760000000000000000", "ts 1760000000000000000"}, // 19 digits, Luhn fails
		{"credit_card", "41111111111111110000", "41111111111111110000"},     // 20 digits: not a card
		{"credit_card", "4111--1111111111111", "4111--1111111111111"},       // a double separator splits the run
		{"credit_card", "order 12345", "order 12345"},
		{"email", "from alice.smith+tag@mail.example.com.", "from #."},
		{"email", "a@b.co and c_d@e-f.org", "# and #"},
		{"email", "user@localhost", "user@localhost"},
		{"email", "@example.com", "@example.com"},
		{"email", "x@example.c0m", "x@example.c0m"},
		{"email", "@@a@b.io", "@@#"},
		{"bearer_token", "Authorization: Bearer abc.DEF-123_~+/==", "Authorization: Bearer #"},
		{"bearer_token", "bearer   tok", "bearer   #"},
		{"bearer_token", "BEARER x; Bearer y", "BEARER #; Bearer #"},
		{"bearer_token", "unbearer x", "unbearer x"},
		{"bearer_token", "Bearer ", "Bearer "},
		{"jwt", "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln end", "t=# end"},
		{"jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "#"}, // unsecured: empty signature
		{"jwt", "eyJonly.one", "eyJonly.one"},
		{"jwt", "xeyJa.b.c", "xeyJa.b.c"},
	}
	for _, c := range cases {
		if got := masked(byName(c.builtin), c.in); got != c.want {
			t.Errorf("%s on %q: %q, want %q", c.builtin, c.in, got, c.want)
		}
	}
}

func FuzzDetectors(f *testing.F) {
	f.Add("card 4111 1111 1111 1111 a@b.io Bearer x eyJa.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		for n, name := range Names {
			find := Get(n)
			if find == nil {
				continue
			}
			for from := 0; from < len(s); {
				st, en := find(s, from)
				if st < 0 {
					break
				}
				if st < from || en <= st || en > len(s) {
					t.Fatalf("%s on %q from %d: [%d,%d)", name, s, from, st, en)
				}
				from = en
			}
		}
	})
}
