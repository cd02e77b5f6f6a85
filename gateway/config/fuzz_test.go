package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary file text through expansion, parsing, decoding
// and validation: Load must never panic, and must return either a valid
// config or at least one non-empty problem line.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/load/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("filters: [{config: {1: [a, {2: b}]}}]\nexporters: [[], {}, 3]\n"))
	f.Add([]byte("receivers: {otlp: {grpc: {endpoint: 2001-12-14, max_recv_msg_size: !!binary aGVsbG8=}}}\n"))
	env := func(k string) (string, bool) { return "v:" + k, len(k)%2 == 0 }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := load([]source{{name: "fuzz.yaml", data: data}}, env)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load returned a config that does not validate: %v", verr)
			}
			cfg.Hash()
			return
		}
		lines := Problems(err)
		if cfg != nil || len(lines) == 0 {
			t.Fatalf("cfg %v with error %v (%d problem lines)", cfg, err, len(lines))
		}
		for _, l := range lines {
			if strings.TrimSpace(l) == "" {
				t.Fatalf("empty problem line in %q", lines)
			}
		}
	})
}
