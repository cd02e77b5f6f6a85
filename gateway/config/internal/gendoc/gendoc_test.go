package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocIsCurrent fails when docs/config.md is not what the config
// structs generate: run make docs (go run ./gateway/config/internal/gendoc).
func TestDocIsCurrent(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(filepath.Join(root, "gateway", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/config.md is not current: run make docs (go run ./gateway/config/internal/gendoc) and commit it")
	}
}

// TestDocListsEveryKey checks the reference names every key with a
// description, and the reload behaviour reload.go enforces.
func TestDocListsEveryKey(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := generate(filepath.Join(root, "gateway", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "| `") && strings.HasSuffix(l, "|  |") {
			t.Errorf("key without a description: %s", l)
		}
	}
	for _, want := range []string{
		"| `receivers.otlp.grpc.endpoint` | string | `0.0.0.0:4317` | hot |",
		"| `receivers.otlp.grpc.max_recv_msg_size` | size | `16MiB` | restart, unless the endpoint changes too |",
		"| `exporters[].timeout` | duration | `10s` | hot |",
		"| `filters[].timeout` | duration | `50ms` | hot |",
		"| `admin.endpoint` | string | `localhost:8888` | restart |",
		"| `queue.persistent.directory` | string |  | restart |",
		"| `log.level` | string | `info` | hot |",
		"| `log.format` | string | `text` | restart |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}
