package memlimit

import (
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// FuzzResolveAgreesWithValidate feeds arbitrary memory_limit values to
// both readers: what validate accepts must resolve at start-up, to a
// positive number of bytes no larger than the percentage allows, so a
// config that passed validate never fails to start or runs unlimited.
func FuzzResolveAgreesWithValidate(f *testing.F) {
	for _, s := range []string{"80%", "90 %", " 2GiB ", "100%", "0.5%", "1e2%", "0x1p6%", "2GB", "1024", "0", "0%",
		"101%", "NaN%", "Inf%", "-5%", "%", "80%%", "1_0%", "4611686018427387904", "+50%", "1e-300%"} {
		f.Add(s)
	}
	const total = 8 << 30
	f.Fuzz(func(t *testing.T, v string) {
		cfg := config.Default()
		cfg.MemoryLimit = config.MemoryLimit{Soft: v} // no hard limit to be below
		valid := true
		for _, p := range config.Problems(cfg.Validate()) {
			if strings.HasPrefix(p, "memory_limit.soft:") {
				valid = false
			}
		}
		n, err := resolveOne(v, total)
		if !valid {
			return
		}
		if err != nil {
			t.Fatalf("memory_limit %q passes validate but does not resolve: %v", v, err)
		}
		if strings.TrimSpace(v) == "" {
			if n != 0 {
				t.Fatalf("empty memory_limit resolved to %d, want 0 (no limit)", n)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("memory_limit %q passes validate but resolves to %d bytes", v, n)
		}
		if strings.HasSuffix(strings.TrimSpace(v), "%") && n > total {
			t.Fatalf("memory_limit %q resolved to %d, over the %d available", v, n, total)
		}
	})
}
