// Package detect finds sensitive runs in text for MASK_VALUES (sdk/ABI.md
// §4): payment card numbers, e-mail addresses, bearer tokens and JWTs.
// They are hand-written scanners rather than regular expressions because
// they look at every byte of every string value a mask covers: a scanner
// skips most bytes at a glance and checks what a pattern cannot (Luhn).
package detect

import "strings"

// A Detector finds the first sensitive run of s at or after byte from and
// returns its bounds, or -1, -1.
type Detector func(s string, from int) (start, end int)

// Detectors by their MASK_VALUES number (its Arg's low byte); 0, a
// pattern, has none here.
var byNumber = [...]Detector{1: findCard, 2: findEmail, 3: findBearer, 4: findJWT}

// Names are the detectors' names in configs and docs, by number.
var Names = [...]string{1: "credit_card", 2: "email", 3: "bearer_token", 4: "jwt"}

// Get returns detector n, or nil when there is none.
func Get(n int) Detector {
	if n <= 0 || n >= len(byNumber) {
		return nil
	}
	return byNumber[n]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z'
}

// findCard finds a payment card number: 13 to 19 digits, optionally in
// groups separated by single spaces or dashes, that pass the Luhn check
// (which rules out most other digit runs: timestamps, IDs, phone numbers).
// A longer run of digits is not a card number and is left alone.
func findCard(s string, from int) (int, int) {
	for i := from; i+minCard <= len(s); {
		// A run of at least minCard bytes starting anywhere in
		// s[i:i+minCard] covers s[i+minCard-1]: when that byte cannot be
		// part of a run, skip them all. Text is mostly letters, so this
		// looks at one byte in 13.
		if c := s[i+minCard-1]; !isDigit(c) && c != ' ' && c != '-' {
			i += minCard
			continue
		}
		if !isDigit(s[i]) {
			i++
			continue
		}
		start, end, digits := i, i, 0
		j := i
		for j < len(s) {
			if isDigit(s[j]) {
				digits++
				j++
				end = j
				continue
			}
			if (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		if digits >= minCard && digits <= 19 && luhn(s[start:end]) {
			return start, end
		}
		i = end
	}
	return -1, -1
}

// minCard is the fewest digits of a card number.
const minCard = 13

// luhn checks the Luhn checksum of the digits of s, skipping separators.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomain(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// findEmail finds an e-mail address: local@domain.tld, the local part of
// letters, digits and . _ % + -, the domain of letters, digits, dots and
// dashes with a top-level label of two or more letters.
func findEmail(s string, from int) (int, int) {
	for at := from; ; at++ {
		k := strings.IndexByte(s[at:], '@')
		if k < 0 {
			return -1, -1
		}
		at += k
		l := at
		for l > from && isEmailLocal(s[l-1]) {
			l--
		}
		r := at + 1
		for r < len(s) && isDomain(s[r]) {
			r++
		}
		for r > at+1 && (s[r-1] == '.' || s[r-1] == '-') {
			r--
		}
		if l == at {
			continue
		}
		dom := s[at+1 : r]
		dot := strings.LastIndexByte(dom, '.')
		if dot <= 0 || len(dom)-dot-1 < 2 {
			continue
		}
		tld := true
		for i := dot + 1; i < len(dom); i++ {
			if c := dom[i] | 0x20; c < 'a' || c > 'z' {
				tld = false
				break
			}
		}
		if tld {
			return l, r
		}
	}
}

// isToken68 is the token68 alphabet of RFC 7235 credentials, less the
// trailing '=' padding.
func isToken68(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// findBearer finds the credentials after "Bearer " (any case): only the
// token is masked, so "Authorization: Bearer abc" reads
// "Authorization: Bearer ***".
func findBearer(s string, from int) (int, int) {
	// Look for the space after the word: spaces are rarer than letters,
	// and IndexByte is the fastest scan the guest has.
	for i := from + 6; i+1 < len(s); i++ {
		k := strings.IndexByte(s[i:], ' ')
		if k < 0 {
			return -1, -1
		}
		i += k
		b := i - 6
		if b < from || !strings.EqualFold(s[b:i], "bearer") || (b > 0 && isAlnum(s[b-1])) {
			continue
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		k = j
		for k < len(s) && isToken68(s[k]) {
			k++
		}
		if k == j {
			continue
		}
		for k < len(s) && s[k] == '=' {
			k++
		}
		return j, k
	}
	return -1, -1
}

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// findJWT finds a JSON Web Token: three base64url segments joined by dots,
// the first starting "eyJ" (the encoding of `{"`); the signature may be
// empty (an unsecured JWT).
func findJWT(s string, from int) (int, int) {
	for {
		k := strings.Index(s[from:], "eyJ")
		if k < 0 {
			return -1, -1
		}
		i := from + k
		j, segs := i, 1
		for {
			n := j
			for j < len(s) && isBase64URL(s[j]) {
				j++
			}
			if segs == 3 || j == n || j >= len(s) || s[j] != '.' {
				break
			}
			j++
			segs++
		}
		if segs == 3 && (i == 0 || !isBase64URL(s[i-1])) {
			return i, j
		}
		from = i + 3
	}
}
