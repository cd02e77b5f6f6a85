package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFixGolden runs Fix over every testdata/fix/NAME.yaml and compares
// the fixed file with NAME.yaml.fixed and the messages (fixes, then the
// problems that remain) with NAME.yaml.messages. go test -run
// TestFixGolden -update rewrites both from the results.
func TestFixGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/fix/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Fix("in.yaml", data, noEnv)
			var msgs strings.Builder
			for _, f := range res.Fixes {
				msgs.WriteString("fixed: " + f + "\n")
			}
			for _, p := range Problems(err) {
				msgs.WriteString(p + "\n")
			}
			if (err == nil) != (res.Config != nil) {
				t.Errorf("Config = %v with error %v: want a config exactly when nothing remains", res.Config, err)
			}
			golden(t, in+".fixed", string(res.Out))
			golden(t, in+".messages", msgs.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestFixedOutputIsStable checks that fixing a fixed file changes nothing
// more: every fix is applied in one run.
func TestFixedOutputIsStable(t *testing.T) {
	for _, in := range []string{"rename", "endpoint_scheme", "durations"} {
		data, err := os.ReadFile(filepath.Join("testdata/fix", in+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := Fix("in.yaml", data, noEnv)
		again, _ := Fix("in.yaml", first.Out, noEnv)
		if len(again.Fixes) > 0 || string(again.Out) != string(first.Out) {
			t.Errorf("%s: a second --fix still fixes %q", in, again.Fixes)
		}
	}
}
