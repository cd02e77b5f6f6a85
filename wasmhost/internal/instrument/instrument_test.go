package instrument

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

var opts = Options{Module: "host", Name: "tick", Fuel: 10}

// A tiny assembler for hand-written modules.

func u32(v uint32) []byte { return appendU32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// vec is a vector: its length, then its items.
func vec(items ...[]byte) []byte { return cat(u32(uint32(len(items))), cat(items...)) }

func name(s string) []byte { return appendName(nil, s) }

func sec(id byte, items ...[]byte) []byte {
	p := vec(items...)
	return cat([]byte{id}, u32(uint32(len(p))), p)
}

func custom(n string, payload []byte) []byte {
	p := cat(name(n), payload)
	return cat([]byte{0}, u32(uint32(len(p))), p)
}

func wasm(sections ...[]byte) []byte { return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...)) }

// fn is a code entry: locals (already a vector) and instructions.
func fn(locals []byte, code ...byte) []byte {
	b := cat(locals, code)
	return cat(u32(uint32(len(b))), b)
}

func functype(params, results []byte) []byte {
	return cat([]byte{0x60}, u32(uint32(len(params))), params, u32(uint32(len(results))), results)
}

const (
	i32 = 0x7f
	end = 0x0b
)

var noLocals = vec()

// sumLoop exports run(n) = 1+2+...+n, computed in a loop.
func sumLoop() []byte {
	return wasm(
		sec(1, functype([]byte{i32}, []byte{i32})),
		sec(3, u32(0)),
		sec(7, cat(name("run"), []byte{0}, u32(0))),
		sec(10, fn(vec([]byte{1, i32}),
			0x02, 0x40, 0x03, 0x40,
			0x20, 0x00, 0x45, 0x0d, 0x01, // local.get 0; i32.eqz; br_if 1
			0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01, // acc += n
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, // n--
			0x0c, 0x00, end, end,
			0x20, 0x01, end)),
	)
}

// host runs instrumented modules: a wazero runtime with the tick import,
// which counts its calls and returns opts.Fuel, or stops the call with
// errStop once stopAfter calls have been made (if > 0).
type host struct {
	r         wazero.Runtime
	ticks     int
	stopAfter int
}

var errStop = errors.New("stopped by tick")

func newHost(t testing.TB, features ...api.CoreFeatures) *host {
	t.Helper()
	ctx := context.Background()
	f := api.CoreFeaturesV2
	for _, x := range features {
		f |= x
	}
	h := &host{r: wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(f))}
	t.Cleanup(func() { _ = h.r.Close(ctx) })
	_, err := h.r.NewHostModuleBuilder("host").NewFunctionBuilder().WithFunc(func(context.Context) int32 {
		h.ticks++
		if h.stopAfter > 0 && h.ticks >= h.stopAfter {
			panic(errStop)
		}
		return opts.Fuel
	}).Export("tick").
		NewFunctionBuilder().WithFunc(func(_ context.Context, v int32) int32 { return v * 10 }).Export("times10").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run instruments bin, instantiates it and calls export with args.
func (h *host) run(t testing.TB, bin []byte, export string, args ...uint64) ([]uint64, error) {
	t.Helper()
	out, err := Module(bin, opts)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	ctx := context.Background()
	mod, err := h.r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate the instrumented module: %v", err)
	}
	defer mod.Close(ctx)
	return mod.ExportedFunction(export).Call(ctx, args...)
}

func TestLoopFuel(t *testing.T) {
	h := newHost(t)
	res, err := h.run(t, sumLoop(), "run", 100)
	if err != nil || res[0] != 5050 {
		t.Fatalf("run(100) = %v, %v; want 5050", res, err)
	}
	// 1 entry + 101 loop headers = 102 units; a tick every 10.
	if h.ticks != 10 {
		t.Errorf("%d ticks, want 10", h.ticks)
	}
	out, _ := Module(sumLoop(), opts)
	if m, err := parse(out); err != nil {
		t.Fatal(err)
	} else if len(m.types) != 2 || m.funcImports != 1 || m.globals != 2 {
		t.Errorf("instrumented module: %d types, %d imported functions, %d globals; want () -> i32 added, the tick, fuel and scratch", len(m.types), m.funcImports, m.globals)
	}
}

// TestStopsInfiniteLoop: the tick's panic ends the call with its error.
func TestStopsInfiniteLoop(t *testing.T) {
	h := newHost(t)
	h.stopAfter = 1000
	bin := wasm(
		sec(1, functype(nil, nil)),
		sec(3, u32(0)),
		sec(7, cat(name("spin"), []byte{0}, u32(0))),
		sec(10, fn(noLocals, 0x03, 0x40, 0x0c, 0x00, end, end)),
	)
	_, err := h.run(t, bin, "spin")
	if !errors.Is(err, errStop) || h.ticks != 1000 {
		t.Fatalf("spin: %v after %d ticks, want errStop after 1000", err, h.ticks)
	}
}

// TestRecursionWithoutLoops: a call tree without any loop (each function
// calls the next twice) is charged at every function entry.
func TestRecursionWithoutLoops(t *testing.T) {
	h := newHost(t)
	h.stopAfter = 100
	// f(n) = n == 0 ? 0 : f(n-1) + f(n-1) + 1: 2^40 calls.
	bin := wasm(
		sec(1, functype([]byte{i32}, []byte{i32})),
		sec(3, u32(0)),
		sec(7, cat(name("f"), []byte{0}, u32(0))),
		sec(10, fn(noLocals,
			0x20, 0x00, 0x45, 0x04, i32, 0x41, 0x00, 0x05, // if n == 0 { 0 } else
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00,
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00,
			0x6a, 0x41, 0x01, 0x6a, end, end)),
	)
	if _, err := h.run(t, bin, "f", 40); !errors.Is(err, errStop) {
		t.Fatalf("f(40): %v, want errStop", err)
	}
	h.ticks, h.stopAfter = 0, 0
	if res, err := h.run(t, bin, "f", 5); err != nil || res[0] != 31 {
		t.Fatalf("f(5) = %v, %v; want 31", res, err)
	}
	if h.ticks != 6 { // 63 calls, a tick every 10
		t.Errorf("%d ticks, want 6", h.ticks)
	}
}

// TestBulkCharge: memory.fill costs fuel by its length, so a loop of large
// fills reaches the host after a few iterations, not after opts.Fuel.
func TestBulkCharge(t *testing.T) {
	h := newHost(t)
	bin := wasm(
		sec(1, functype([]byte{i32}, nil)),
		sec(3, u32(0)),
		sec(5, []byte{0x00, 0x01}), // memory 1 page
		sec(7, cat(name("fill"), []byte{0}, u32(0))),
		sec(10, fn(noLocals,
			0x02, 0x40, 0x03, 0x40,
			0x20, 0x00, 0x45, 0x0d, 0x01,
			0x41, 0x00, 0x41, 0x07, 0x41, 0x80, 0x80, 0x04, 0xfc, 0x0b, 0x00, // memory.fill(0, 7, 65536)
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00,
			0x0c, 0x00, end, end, end)),
	)
	if _, err := h.run(t, bin, "fill", 3); err != nil {
		t.Fatal(err)
	}
	// Each fill charges 65536>>6 = 1024 units: the counter runs out at
	// every fill.
	if h.ticks != 3 {
		t.Errorf("%d ticks, want 3", h.ticks)
	}
}

// TestRenumbering: adding an import moves every defined function up by
// one; every place that names a function must follow.
// renumbered is a module that names functions in every place the
// rewriter renumbers: calls, return_call, ref.func in code, global
// initialisers and element segments of each encoding, exports, the start
// function and the name section.
func renumbered() []byte {
	const funcref = 0x70
	v := []byte{i32}
	start := cat([]byte{8}, u32(1), u32(3)) // start: func 3
	elems := sec(9,
		// active, table 0, funcidx: table[0] = double
		cat(u32(0), []byte{0x41, 0x00, end}, vec(u32(1))),
		// passive, elemkind, funcidx
		cat(u32(1), []byte{0x00}, vec(u32(2))),
		// active, table 0, exprs: table[1] = ref.func quad, table[2] = ref.func times10
		cat(u32(4), []byte{0x41, 0x01, end}, vec([]byte{0xd2, 0x02, end}, []byte{0xd2, 0x00, end})),
		// active, explicit table 0, exprs: table[3] = ref.func double
		cat(u32(6), u32(0), []byte{0x41, 0x03, end, funcref}, vec([]byte{0xd2, 0x01, end})),
		// declarative, funcidx: get_ref's ref.func
		cat(u32(3), []byte{0x00}, vec(u32(5))),
	)
	code := sec(10,
		fn(noLocals, 0x20, 0x00, 0x20, 0x00, 0x6a, end),             // double
		fn(noLocals, 0x20, 0x00, 0x10, 0x01, 0x10, 0x01, end),       // quad
		fn(noLocals, 0x41, 0x01, 0x24, 0x01, end),                   // start: global 1 = 1
		fn(noLocals, 0x20, 0x00, 0x41, 0x01, 0x11, 0x00, 0x00, end), // via_table: table[1](x)
		fn(noLocals, 0xd2, 0x02, end),                               // get_ref
		fn(noLocals, 0x20, 0x00, 0x12, 0x02, end),                   // tail: return_call quad
	)
	names := custom("name", cat(
		[]byte{0}, sized(name("m")),
		[]byte{1}, sized(vec(cat(u32(0), name("times10")), cat(u32(1), name("double")), cat(u32(2), name("quad")))),
		[]byte{2}, sized(vec(cat(u32(1), vec(cat(u32(0), name("x")))), cat(u32(2), vec(cat(u32(0), name("y")))))),
	))
	return wasm(
		custom("producers", []byte("opaque")),
		sec(1, functype(v, v), functype(nil, v), functype(nil, nil), functype(nil, []byte{funcref})),
		sec(2, cat(name("host"), name("times10"), []byte{0}, u32(0))),
		sec(3, u32(0), u32(0), u32(2), u32(0), u32(3), u32(0)),
		sec(4, []byte{funcref, 0x00, 0x04}),
		sec(5, []byte{0x00, 0x01}),
		sec(6, cat([]byte{funcref, 0x00, 0xd2}, u32(2), []byte{end}), []byte{i32, 0x01, 0x41, 0x00, end}),
		sec(7,
			cat(name("double"), []byte{0}, u32(1)),
			cat(name("quad"), []byte{0}, u32(2)),
			cat(name("via_table"), []byte{0}, u32(4)),
			cat(name("get_ref"), []byte{0}, u32(5)),
			cat(name("tail"), []byte{0}, u32(6)),
			cat(name("started"), []byte{3}, u32(1)),
			cat(name("quad_ref"), []byte{3}, u32(0)),
			cat(name("times10"), []byte{0}, u32(0))),
		start, elems, code, names,
	)
}

// TestRenumbering: adding an import moves every defined function up by
// one; every place that names a function must follow.
func TestRenumbering(t *testing.T) {
	bin := renumbered()
	h := newHost(t, experimental.CoreFeaturesTailCall)
	out, err := Module(bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := parse(out); err != nil {
		t.Fatal(err)
	} else if len(m.types) != 4 {
		t.Errorf("instrumented module has %d types, want the 4 it had: () -> i32 is reused", len(m.types))
	}
	ctx := context.Background()
	compiled, err := h.r.CompileModule(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	// Names follow their functions; the tick has none.
	for i, want := range []string{"times10", "tick", "double", "quad"} {
		def := compiled.ImportedFunctions()
		var got string
		if i < len(def) {
			_, got, _ = def[i].Import()
		} else {
			got = compiled.ExportedFunctions()[want].Name()
		}
		if got != want {
			t.Errorf("function %d is named %q, want %q", i, got, want)
		}
	}
	if d := compiled.ExportedFunctions()["double"]; len(d.ParamNames()) != 1 || d.ParamNames()[0] != "x" {
		t.Errorf("double's parameter names %v, want [x]", d.ParamNames())
	}
	mod, err := h.r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	call := func(name string, args ...uint64) uint64 {
		t.Helper()
		res, err := mod.ExportedFunction(name).Call(ctx, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res) == 0 {
			return 0
		}
		return res[0]
	}
	if got := call("double", 3); got != 6 {
		t.Errorf("double(3) = %d", got)
	}
	if got := call("quad", 3); got != 12 {
		t.Errorf("quad(3) = %d", got)
	}
	if got := call("via_table", 3); got != 12 {
		t.Errorf("via_table(3) = %d, want quad(3) through the table", got)
	}
	if got := call("times10", 3); got != 30 {
		t.Errorf("times10(3) = %d", got)
	}
	if got := mod.ExportedGlobal("started").Get(); got != 1 {
		t.Errorf("global set by the start function = %d, want 1", got)
	}
	if call("get_ref") == 0 {
		t.Error("get_ref returned a null reference")
	}
	if got := call("tail", 3); got != 12 {
		t.Errorf("tail(3) = %d, want quad(3) through return_call", got)
	}
}

func sized(b []byte) []byte { return cat(u32(uint32(len(b))), b) }

func TestRefuses(t *testing.T) {
	base := func(code ...byte) []byte {
		return wasm(
			sec(1, functype(nil, nil)),
			sec(3, u32(0)),
			sec(5, []byte{0x00, 0x01}),
			sec(6, []byte{i32, 0x01, 0x41, 0x00, end}),
			sec(10, fn(noLocals, code...)),
		)
	}
	tests := []struct {
		name string
		bin  []byte
		want string
	}{
		{"not wasm", []byte("hello, world"), "not a WebAssembly binary"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "unsupported WebAssembly binary version"},
		{"truncated", base(0x01, end)[:30], "exceeds"},
		{"SIMD", base(0x41, 0x00, 0xfd, 0x11, 0x1a, end), "opcode 0xfd not supported (SIMD)"},
		{"atomics", base(0xfe, 0x03, 0x00, end), "opcode 0xfe not supported (threads)"},
		{"exceptions", base(0x1f, 0x40, 0x00, end, end), "exception handling"},
		{"unknown 0xfc", base(0xfc, 0x20, end), "opcode 0xfc 32 not supported"},
		{"multi-memory memarg", base(0x41, 0x00, 0x28, 0x42, 0x01, 0x00, 0x1a, end), "multi-memory"},
		{"the fuel global", base(0x41, 0x00, 0x24, 0x01, end), "global index 1 out of range"},
		{"a global past the fuel", base(0x23, 0x02, 0x1a, end), "global index 2 out of range"},
		{"call out of range", base(0x10, 0x05, end), "function index 5 out of range"},
		{"no end", base(0x01), "function 0: body does not end with end"},
		// Type 1 does not exist, but would once () -> i32 is appended.
		{"block type out of range", base(0x02, 0x01, end, end), "block type index 1 out of range"},
		{"call_indirect type out of range", base(0x41, 0x00, 0x11, 0x01, 0x00, end), "type index 1 out of range"},
		{"import type out of range", wasm(sec(1, functype(nil, nil)), sec(2, cat(name("a"), name("b"), []byte{0}, u32(1)))), "import 0: type index 1 out of range"},
		{"importing the tick", wasm(
			sec(1, functype(nil, []byte{i32})),
			sec(2, cat(name("host"), name("tick"), []byte{0}, u32(0))),
		), "import host.tick is reserved"},
		{"tag section", wasm(sec(13)), "tag section (id 13): not supported"},
		{"sections out of order", wasm(sec(3), sec(1)), "out of order"},
		{"shared memory", wasm(sec(2, cat(name("env"), name("mem"), []byte{0x02, 0x03, 0x01, 0x01}))), "limits flags 0x3 not supported"},
		{"huge count", wasm(sec(1)[:1], []byte{0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}), "count 4294967295 exceeds"},
		{"overlong LEB", base(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, end), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Module(tt.bin, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestStockFilters instruments the repository's compiled stock filters (Go
// guests): every instruction Go emits is decoded, and wazero compiles the
// result.
func TestStockFilters(t *testing.T) {
	paths, _ := filepath.Glob("../../../filters/*/*.wasm")
	if len(paths) == 0 {
		t.Fatal("no stock filter modules found")
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	for _, p := range paths {
		bin, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Module(bin, Options{Module: "otlpgw", Name: "deadline_tick", Fuel: 1000})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		c, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Errorf("%s: wazero refuses the instrumented module: %v", p, err)
			continue
		}
		_ = c.Close(ctx)
		t.Logf("%s: %d -> %d bytes (+%.1f%%)", filepath.Base(p), len(bin), len(out), 100*float64(len(out)-len(bin))/float64(len(bin)))
	}
}

// BenchmarkStockFilter measures instrumenting a Go guest of 2-3 MB, which
// Load does before compiling (or finding it in the compilation cache).
func BenchmarkStockFilter(b *testing.B) {
	bin, err := os.ReadFile("../../../filters/redact/redact.wasm")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := Module(bin, Options{Module: "otlpgw", Name: "deadline_tick", Fuel: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}
