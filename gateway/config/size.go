package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a number of bytes. In YAML it is a plain integer or a number
// with a unit: KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
type Size int64

// Binary size units, for writing defaults and limits in code.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// sizeWant is the "want" half of every size error.
const sizeWant = "want bytes as an integer, or a number with KB, MB, GB, KiB, MiB or GiB"

// ParseSize parses "16MiB", "4MB", "1024" and the like.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size (got %q, %s)", s, sizeWant)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size too large (got %q, want at most 4EiB)", s)
	}
	return Size(n * mult), nil
}

// String formats the size with the largest binary unit that divides it.
func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", s>>30)
	case s != 0 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s != 0 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return strconv.FormatInt(int64(s), 10)
}
