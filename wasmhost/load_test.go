package wasmhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// TestLoadRefuses checks that every kind of bad module, and every bad
// setting, fails at Load with a message naming the filter and the step.
func TestLoadRefuses(t *testing.T) {
	rt, logs := newRuntime(t)
	garbage := filepath.Join(t.TempDir(), "garbage.wasm")
	if err := os.WriteFile(garbage, []byte("\x00asm\x01\x00\x00\x00\xffnot a module"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One function using SIMD (i32.const 0; i32x4.splat; drop), which the
	// deadline instrumentation does not decode.
	simd := filepath.Join(t.TempDir(), "simd.wasm")
	if err := os.WriteFile(simd, []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x09\x01\x07\x00\x41\x00\xfd\x11\x1a\x0b"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		module string // a test module's name, or a path / builtin: as is
		cfg    LoadConfig
		want   string
	}{
		{"wrong ABI version", "abi7", LoadConfig{}, "filter[wrong ABI version]: ABI version 7 not supported (want 1)"},
		{"missing exports", "noexports", LoadConfig{}, "filter[missing exports]: exports: missing export otlpgw_alloc (i32) -> (i32); missing export otlpgw_init (i32, i32) -> (i32); missing export: at least one of otlpgw_process_traces"},
		{"path_open", "pathopen", LoadConfig{}, "filter[path_open]: import wasi_snapshot_preview1.path_open: not allowed"},
		{"sock_accept", "sockaccept", LoadConfig{}, "filter[sock_accept]: import wasi_snapshot_preview1.sock_accept: not allowed"},
		{"init refuses", "initfail", LoadConfig{}, `filter[init refuses]: init: the module refused its config (otlpgw_init returned 1): config: missing required key "patterns"`},
		{"not wasm", garbage, LoadConfig{}, "filter[not wasm]: instrument: " + garbage + ": "},
		{"SIMD", simd, LoadConfig{}, "filter[SIMD]: instrument: " + simd + ": code section: function 0: body byte 3: opcode 0xfd not supported (SIMD)"},
		{"no such file", "/nonexistent/x.wasm", LoadConfig{}, "filter[no such file]: module: open /nonexistent/x.wasm: no such file or directory"},
		{"no such builtin", "builtin:nope", LoadConfig{}, "filter[no such builtin]: module builtin:nope: no such builtin filter"},
		{"signal not exported", "noop", LoadConfig{Signals: []otlpwire.Signal{otlpwire.Traces, otlpwire.Logs}}, "filter[signal not exported]: signals: logs: the module does not export otlpgw_process_logs"},
		{"memory limit under the module's minimum", "noop", LoadConfig{MemoryLimit: 1 << 20}, "filter[memory limit under the module's minimum]: memory: the module starts with 2 MiB, over its memory_limit of 1 MiB"},
		{"config not JSON", "noop", LoadConfig{Config: []byte("{")}, "filter[config not JSON]: config: not valid JSON"},
		{"bad on_error", "noop", LoadConfig{OnError: "ignore"}, `filter[bad on_error]: on_error: "ignore" is not one of pass, drop, reject`},
		{"negative timeout", "noop", LoadConfig{Timeout: -1}, "filter[negative timeout]: timeout: must be > 0 (got -1ns)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Name = tt.name
			cfg.Module = tt.module
			if p, ok := modules[tt.module]; ok {
				cfg.Module = p
			}
			f, err := rt.Load(context.Background(), cfg, nil)
			if err == nil {
				_ = f.Close(context.Background())
				t.Fatalf("Load succeeded, want error %q", tt.want)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Load error:\n got: %v\nwant: %s...", err, tt.want)
			}
		})
	}
	// The refusing module said why in the gateway's log, under its name.
	rec, ok := logs.find(`missing required key "patterns"`)
	if !ok || rec.attrs["filter"] != "init refuses" || rec.level.String() != "ERROR" {
		t.Errorf("init's log line = %+v, %v; want an ERROR with filter=init refuses", rec, ok)
	}
	// Nothing that failed to load stays registered with the runtime.
	rt.mu.Lock()
	n := len(rt.filters)
	rt.mu.Unlock()
	if n != 0 {
		t.Errorf("runtime holds %d filters after failed loads, want 0", n)
	}
}

// TestLoadDefaults checks the documented defaults and that signals default
// to what the module exports.
func TestLoadDefaults(t *testing.T) {
	rt, _ := newRuntime(t)
	f, err := rt.Load(context.Background(), LoadConfig{Name: "noop", Module: modules["noop"]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	if f.timeout != DefaultTimeout || f.memLimit != DefaultMemoryLimit || f.onError != OnErrorPass || string(f.config) != "{}" {
		t.Errorf("defaults: timeout %v, memory %d, on_error %q, config %q", f.timeout, f.memLimit, f.onError, f.config)
	}
	if got := f.Signals(); len(got) != 1 || got[0] != otlpwire.Traces {
		t.Errorf("Signals() = %v, want [traces] (all noop exports)", got)
	}
	g := load(t, rt, "good", LoadConfig{Name: "good-all", Module: "builtin:good"}, nil)
	if got := g.Signals(); len(got) != 3 {
		t.Errorf("Signals() = %v, want all three", got)
	}
	h := load(t, rt, "good", LoadConfig{Name: "good-logs", Signals: []otlpwire.Signal{otlpwire.Logs}, MemoryLimit: 64<<20 + 100}, nil)
	if h.Handles(otlpwire.Traces) || !h.Handles(otlpwire.Logs) {
		t.Errorf("Handles: traces %v logs %v, want false true", h.Handles(otlpwire.Traces), h.Handles(otlpwire.Logs))
	}
	if h.memLimit != 64<<20 {
		t.Errorf("memory limit %d, want it rounded down to whole pages (%d)", h.memLimit, 64<<20)
	}
}

// TestBuiltin loads a module through the builtin registry.
func TestBuiltin(t *testing.T) {
	rt, _ := newRuntime(t)
	f, err := rt.Load(context.Background(), LoadConfig{Name: "b", Module: "builtin:good"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCompilationCache checks that Load fills the on-disk cache, so the
// next process compiles from it.
func TestCompilationCache(t *testing.T) {
	dir := t.TempDir()
	rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if _, err := rt.Load(context.Background(), LoadConfig{Name: "c", Module: modules["noop"], Instances: 1}, nil); err != nil {
		t.Fatal(err)
	}
	var files int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("no compiled module cached under %s", dir)
	}
}
