package filters

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEveryStockFilterIsEmbedded: each filters/NAME/NAME.wasm is in Builtin,
// byte for byte, and Builtin names nothing else.
func TestEveryStockFilterIsEmbedded(t *testing.T) {
	files, err := filepath.Glob("*/*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range files {
		name := filepath.Dir(f)
		if filepath.Base(f) != name+".wasm" {
			continue
		}
		found++
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := Builtin[name]; !ok || string(got) != string(want) {
			t.Errorf("builtin:%s is missing or differs from %s", name, f)
		}
	}
	if found != len(Builtin) || found == 0 {
		t.Errorf("%d modules on disk, %d embedded", found, len(Builtin))
	}
}
