package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// printCase is a configuration with a secret in every place one can be.
const printCase = `
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:0, auth: {bearer_tokens: [s3cret-grpc-1, s3cret-grpc-2]}}
    http: {endpoint: 127.0.0.1:0, auth: {bearer_tokens: ["${env:HTTP_TOKEN}"]}}
filters:
  - name: r
    module: builtin:redact
    signals: [traces]
    config: {keys: [user.email], api_key: s3cret-filter, nested: {password: s3cret-nested, plain: visible, pin_token: 73313}}
batch: {preset: low_latency, max_items: 50}
queue: {block_timeout: 0s}
exporters:
  - name: up
    type: otlp
    endpoint: collector:4317
    headers: {authorization: "Bearer s3cret-header", x-tenant: s3cret-tenant}
    tls: {insecure: true}
    retry: {multiplier: 1.5}
  - {name: h, type: otlphttp, endpoint: "https://collector:4318"}
  - {name: d, type: debug}
memory_limit: {soft: 1GiB, hard: 2GiB}
`

func loadText(t *testing.T, text string, env map[string]string) *Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{p}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("load:\n%s\n%v", text, err)
	}
	return cfg
}

// TestPrintedConfigLoadsBackRedacted checks that the printed effective
// configuration is itself a valid file that loads to the same Config
// (secrets aside), and that no secret appears in it.
func TestPrintedConfigLoadsBackRedacted(t *testing.T) {
	cfg := loadText(t, printCase, map[string]string{"HTTP_TOKEN": "s3cret-env"})
	red := cfg.Redact()
	out, err := cfg.PrintRedacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") || strings.Contains(string(out), "73313") {
		t.Errorf("printed config leaks a secret:\n%s", out)
	}
	for _, want := range []string{"plain: visible", "user.email", "x-tenant: " + Redacted} {
		if !strings.Contains(string(out), want) {
			t.Errorf("printed config lacks %q:\n%s", want, out)
		}
	}
	back := loadText(t, string(out), nil)
	plain, err := red.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, plain, *back, red)
	// Redact copies: the running config keeps its secrets.
	if cfg.Exporters[0].Headers["authorization"] != "Bearer s3cret-header" || cfg.Receivers.OTLP.GRPC.Auth.BearerTokens[0] != "s3cret-grpc-1" {
		t.Error("Redact changed the config it was called on")
	}
}

// TestPrintedDefaultLoadsBack checks the defaults print and load back unchanged.
func TestPrintedDefaultLoadsBack(t *testing.T) {
	d := Default()
	out, err := d.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, out, *loadText(t, string(out), nil), d)
}

// assertSame checks that back, loaded from printed, is want. Every field is
// printed, so equal printouts mean equal configs, up to nil and empty
// lists and maps, which print alike and mean the same.
func assertSame(t *testing.T, printed []byte, back, want Config) {
	t.Helper()
	again, err := back.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(printed) {
		t.Errorf("printed config loads back different:\n%s\nprints again as\n%s", printed, again)
	}
	if back.Exporters[0].Retry != want.Exporters[0].Retry || back.Batch != want.Batch || back.Queue != want.Queue {
		t.Errorf("loaded back %+v, want %+v", back, want)
	}
}
