package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// TestValidateAndRunRefuseTheSameConfigs checks that every configuration
// run refuses before binding anything, validate refuses too, with the same
// lines: validate used to pass configs whose exporter files were missing.
func TestValidateAndRunRefuseTheSameConfigs(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notWasm := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(notWasm, []byte("not wasm"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Ports 0 so that nothing clashes; none of these gets as far as binding.
	const recv = "receivers: {otlp: {grpc: {endpoint: 127.0.0.1:0}, http: {endpoint: 127.0.0.1:0}}}\nadmin: {endpoint: 127.0.0.1:0}\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"exporter ca_file", "exporters: [{name: up, type: otlp, endpoint: collector:4317, tls: {ca_file: " + missing + "}}]\n", "exporters[0]: tls.ca_file: "},
		{"exporter client certificate", "exporters: [{name: up, type: otlphttp, endpoint: https://collector:4318, tls: {cert_file: " + missing + ", key_file: " + missing + "}}]\n", "exporters[0]: tls.cert_file, tls.key_file: "},
		{"file exporter directory", "exporters: [{name: f, type: file, path: " + filepath.Join(dir, "no", "such", "out.jsonl") + "}]\n", "exporters[0]: path: "},
		{"persistent queue directory", "queue: {persistent: {directory: " + filepath.Join(notDir, "q") + "}}\nexporters: [{name: d, type: debug}]\n", "exporters[0]: queue.persistent.directory: "},
		{"receiver certificate", "receivers: {otlp: {grpc: {tls: {cert_file: " + missing + ", key_file: " + missing + "}}}}\nexporters: [{name: d, type: debug}]\n", "receivers.otlp.grpc.tls: "},
		{"filter module", "filters: [{name: f, module: " + notWasm + "}]\nexporters: [{name: d, type: debug}]\n", "filters[0]: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := writeConfig(t, recv)
			p := writeConfig(t, tc.body)
			var vout, verr bytes.Buffer
			if code := Main([]string{"validate", "--config", base, "--config", p}, &vout, &verr); code != exitUndelivered {
				t.Fatalf("validate exited %d, want %d; stdout %q stderr %q", code, exitUndelivered, vout.String(), verr.String())
			}
			if !strings.Contains(verr.String(), tc.want) {
				t.Errorf("validate output lacks %q:\n%s", tc.want, verr.String())
			}
			var rout, rerr bytes.Buffer
			if code := Main([]string{"run", "--config", base, "--config", p}, &rout, &rerr); code != exitBadConfig {
				t.Fatalf("run exited %d, want %d; stderr %q", code, exitBadConfig, rerr.String())
			}
			if verr.String() != rerr.String() {
				t.Errorf("validate and run report different problems:\nvalidate:\n%s\nrun:\n%s", verr.String(), rerr.String())
			}
		})
	}
}

// TestEmptyConfigFileWarns checks that a file with no keys (0 bytes, or
// only comments) is accepted with a warning naming it, on stderr for
// validate and in the log for run; an explicit {} is not warned about.
func TestEmptyConfigFileWarns(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		warn       bool
	}{
		{"zero bytes", "", true},
		{"only comments", "# extracted from the ConfigMap\n\n  # nothing else\n", true},
		{"document marker", "---\n", true},
		{"explicit empty mapping", "{}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			var stdout, stderr bytes.Buffer
			if code := Main([]string{"validate", "--config", p}, &stdout, &stderr); code != exitOK {
				t.Fatalf("validate exited %d: %s", code, stderr.String())
			}
			want := "warning: " + p + ": " + config.EmptyFileWarning + "\n"
			if got := stderr.String(); (got == want) != tc.warn || (!tc.warn && got != "") {
				t.Errorf("validate stderr = %q, want warning %v (%q)", got, tc.warn, want)
			}
		})
	}
	t.Run("run logs it", func(t *testing.T) {
		empty := writeConfig(t, "")
		// A second file that loads but fails the checks, so run stops
		// before binding anything.
		bad := writeConfig(t, "exporters: [{name: up, type: otlp, endpoint: collector:4317, tls: {ca_file: /nonexistent/ca.pem}}]\n")
		var stdout, stderr bytes.Buffer
		if code := Main([]string{"run", "--config", empty, "--config", bad}, &stdout, &stderr); code != exitBadConfig {
			t.Fatalf("run exited %d: %s", code, stderr.String())
		}
		if want := `level=WARN msg="` + empty + ": " + config.EmptyFileWarning + `"`; !strings.Contains(stderr.String(), want) {
			t.Errorf("run log lacks %q:\n%s", want, stderr.String())
		}
	})
}

// TestValidateFix checks the did-you-mean line of plain validate, and
// that validate --fix writes a file that then validates, to --out or to
// stdout, printing each fix with its key path.
func TestValidateFix(t *testing.T) {
	p := writeConfig(t, "receivers:\n  otlp:\n    grpc: {endpiont: 127.0.0.1:0}\n    http: {endpoint: 127.0.0.1:0}\nadmin: {endpoint: 127.0.0.1:0}\nexporters: [{name: up, type: otlp, endpoint: \"https://collector:4317\", timeout: 0s}]\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"validate", "--config", p}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("validate exited %d: %s", code, stderr.String())
	}
	if want := "receivers.otlp.grpc.endpiont: unknown key (did you mean endpoint?)\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("validate output lacks %q:\n%s", want, stderr.String())
	}

	wantFixes := []string{
		"fixed: receivers.otlp.grpc.endpiont: renamed to endpoint (unknown key; the only known key within 2 edits)\n",
		"fixed: exporters[0].endpoint: \"https://collector:4317\" -> \"collector:4317\" (otlp takes host:port; TLS stays on, as https:// said)\n",
		"fixed: exporters[0].timeout: 0s -> 10s (must be > 0; reset to its default)\n",
	}
	out := filepath.Join(t.TempDir(), "fixed.yaml")
	stdout.Reset()
	stderr.Reset()
	if code := Main([]string{"validate", "--fix", "--config", p, "--out", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("validate --fix exited %d: %s", code, stderr.String())
	}
	for _, want := range append(wantFixes, "wrote "+out+" (3 fixes)\n", "configuration is valid\n") {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("validate --fix output lacks %q:\n%s", want, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("validate --fix --out wrote to stdout: %q", stdout.String())
	}
	stderr.Reset()
	if code := Main([]string{"validate", "--config", out}, &stdout, &stderr); code != exitOK {
		t.Errorf("the fixed file does not validate: %s", stderr.String())
	}

	// Without --out the fixed file is the whole of stdout.
	stdout.Reset()
	stderr.Reset()
	if code := Main([]string{"validate", "--fix", "--config", p}, &stdout, &stderr); code != exitOK {
		t.Fatalf("validate --fix exited %d: %s", code, stderr.String())
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(written) {
		t.Errorf("stdout %q differs from the --out file %q", stdout.String(), written)
	}

	// What stays an error makes --fix fail, after writing what it could.
	bad := writeConfig(t, "exporters: [{name: up, type: otlp, endpoint: \"https://collector:4317\", tls: {insecure: true}, timout: 1s}]\n")
	stdout.Reset()
	stderr.Reset()
	if code := Main([]string{"validate", "--fix", "--config", bad}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("validate --fix on a contradiction exited %d: %s", code, stderr.String())
	}
	for _, want := range []string{"fixed: exporters[0].timout: renamed to timeout", "exporters[0].endpoint: unexpected scheme, and https:// contradicts tls.insecure: true"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("validate --fix output lacks %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "timeout: 1s") {
		t.Errorf("the safe fix was not written: %q", stdout.String())
	}
}
