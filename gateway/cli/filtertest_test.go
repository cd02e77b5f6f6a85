package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilterTestWarnsWhenTheInputHasNoItemsOfTheSignal(t *testing.T) {
	for _, tc := range []struct {
		name, input, signal, want string
	}{
		{"another signal's items", `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`, "traces",
			"otlpgw filter test: warning: the input has no spans, so the filter sees none: it holds 1 log records (use --signal logs)\n"},
		{"nothing at all", `{}`, "metrics",
			"otlpgw filter test: warning: the input has no data points, so the filter sees none (is the file a metrics request? check --signal)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeConfig(t, tc.input)
			var stdout, stderr bytes.Buffer
			if code := Main([]string{"filter", "test", "--module", "builtin:validate", "--signal", tc.signal, in}, &stdout, &stderr); code != 0 {
				t.Fatalf("filter test exited %d: %s", code, stderr.String())
			}
			if stderr.String() != tc.want {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
		})
	}
	// An input with items of the signal gets no warning.
	in := writeConfig(t, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"filter", "test", "--module", "builtin:validate", "--signal", "logs", in}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// The noop test module exports otlpgw_process_traces only.
func TestFilterTestWarnsWhenTheModuleDoesNotHandleTheSignal(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "noop.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasm, ".")
	cmd.Dir = filepath.Join("..", "..", "wasmhost", "testdata", "modules", "noop")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the noop module: %v\n%s", err, out)
	}
	in := writeConfig(t, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"filter", "test", "--module", wasm, "--signal", "logs", in}, &stdout, &stderr); code != 0 {
		t.Fatalf("filter test exited %d: %s", code, stderr.String())
	}
	want := "otlpgw filter test: warning: the module does not handle logs (it handles: traces); the gateway passes logs through it unchanged, and fails to load it with signals: [logs]\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if !strings.Contains(stdout.String(), "unchanged: all 1 log records kept") {
		t.Errorf("the verdict is not unchanged:\n%s", stdout.String())
	}
	stderr.Reset()
	if code := Main([]string{"filter", "test", "--module", wasm, "--signal", "traces", writeConfig(t, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"}]}]}]}`)}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("a handled signal: exit %d, stderr %q", code, stderr.String())
	}
}
