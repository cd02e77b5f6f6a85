package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// TestConfigPrintShowsTheEffectiveConfigRedacted checks that config print
// merges the files, expands ${env:...}, fills in defaults, redacts
// secrets, and that its output is itself a valid config file.
func TestConfigPrintShowsTheEffectiveConfigRedacted(t *testing.T) {
	t.Setenv("OTLPGW_TEST_TOKEN", "s3cret-env-token")
	a := writeConfig(t, "receivers: {otlp: {http: {auth: {bearer_tokens: [\"${env:OTLPGW_TEST_TOKEN}\"]}}}}\nexporters: [{name: first, type: debug}]\n")
	b := writeConfig(t, "exporters: [{name: up, type: otlphttp, endpoint: \"${env:OTLPGW_TEST_EP:-https://collector:4318}\", headers: {authorization: Bearer s3cret}}]\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"config", "print", "--config", a, "--config", b}, &stdout, &stderr); code != exitOK {
		t.Fatalf("config print exited %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Contains(out, "s3cret") {
		t.Errorf("config print leaks a secret:\n%s", out)
	}
	for _, want := range []string{
		"# otlpgw effective configuration",
		"bearer_tokens: [" + config.Redacted + "]",
		"authorization: " + config.Redacted,
		"endpoint: https://collector:4318", // env default expanded
		"compression: gzip",                // a default filled in
		"max_recv_msg_size: 16MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "name: first") {
		t.Errorf("the second file's exporters list should replace the first's:\n%s", out)
	}
	var vout, verr bytes.Buffer
	if code := Main([]string{"validate", "--config", writeConfig(t, out)}, &vout, &verr); code != exitOK {
		t.Errorf("printed config does not validate: %s\n%s", verr.String(), out)
	}
}
