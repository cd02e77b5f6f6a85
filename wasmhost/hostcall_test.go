package wasmhost

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/otlpgw/otlpgw/wasmhost/internal/abi"
	"github.com/otlpgw/otlpgw/wasmhost/internal/hostmod"
	"github.com/otlpgw/otlpgw/wasmhost/internal/instrument"
	"github.com/otlpgw/otlpgw/wasmhost/internal/memlimit"
	"github.com/otlpgw/otlpgw/wasmhost/internal/wasi"
)

// hostCall is one host function a guest may import.
type hostCall struct {
	module, name string
	sig          abi.Sig
}

// hostCalls lists every host function, in a stable order.
func hostCalls() []hostCall {
	var out []hostCall
	for name, s := range abi.HostFuncs {
		out = append(out, hostCall{abi.HostModule, name, s})
	}
	for name, s := range abi.WASIFuncs {
		out = append(out, hostCall{abi.WASIModule, name, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].module+out[i].name < out[j].module+out[j].name })
	return out
}

// forwarderModule encodes a wasm module that imports every host function
// and exports, as "f<i>", a function with the same signature that passes
// its arguments straight through, plus one page of memory. It lets a test
// call host functions with any arguments from a real guest.
func forwarderModule(calls []hostCall) []byte {
	uleb := func(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }
	name := func(b []byte, s string) []byte { return append(uleb(b, uint32(len(s))), s...) }
	section := func(b []byte, id byte, body []byte) []byte {
		return append(uleb(append(b, id), uint32(len(body))), body...)
	}
	n := uint32(len(calls))
	var types, imports, funcs, exports, code []byte
	types, imports, funcs = uleb(nil, n), uleb(nil, n), uleb(nil, n)
	exports = uleb(nil, n+1)
	code = uleb(nil, n)
	for i, c := range calls {
		types = append(types, 0x60)
		types = uleb(types, uint32(len(c.sig.Params)))
		types = append(types, c.sig.Params...)
		types = uleb(types, uint32(len(c.sig.Results)))
		types = append(types, c.sig.Results...)

		imports = name(imports, c.module)
		imports = name(imports, c.name)
		imports = uleb(append(imports, 0x00), uint32(i))

		funcs = uleb(funcs, uint32(i))
		exports = name(exports, "f"+string(rune('a'+i)))
		exports = uleb(append(exports, 0x00), n+uint32(i))

		body := []byte{0x00} // no locals
		for p := range c.sig.Params {
			body = uleb(append(body, 0x20), uint32(p)) // local.get p
		}
		body = uleb(append(body, 0x10), uint32(i)) // call import i
		body = append(body, 0x0b)                  // end
		code = append(uleb(code, uint32(len(body))), body...)
	}
	exports = name(exports, "memory")
	exports = append(exports, 0x02, 0x00)
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = section(m, 1, types)
	m = section(m, 2, imports)
	m = section(m, 3, funcs)
	m = section(m, 5, []byte{0x01, 0x00, 0x01}) // one memory, min 1 page
	m = section(m, 7, exports)
	m = section(m, 10, code)
	return m
}

// hostHarness instantiates the forwarder module against the real host
// modules, bound to a filter that is not otherwise loaded.
type hostHarness struct {
	f     *Filter
	calls []hostCall
	cm    wazero.CompiledModule
}

func newHostHarness(t testing.TB) *hostHarness {
	t.Helper()
	ctx := context.Background()
	wr := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { _ = wr.Close(ctx) })
	f := &Filter{
		name: "harness", host: nopHost{}, log: slog.New(slog.DiscardHandler), wr: wr,
		insts: map[api.Module]*instance{}, metricID: map[string]int32{},
	}
	if err := wasi.Instantiate(ctx, wr, f.output); err != nil {
		t.Fatal(err)
	}
	if err := hostmod.Instantiate(ctx, wr, (*hostEnv)(f)); err != nil {
		t.Fatal(err)
	}
	h := &hostHarness{f: f, calls: hostCalls()}
	// Instrumented as Load does, so the deadline tick is linked too.
	bin, err := instrument.Module(forwarderModule(h.calls), instrument.Options{Module: abi.HostModule, Name: abi.DeadlineTick, Fuel: hostmod.Fuel})
	if err != nil {
		t.Fatal(err)
	}
	if h.cm, err = wr.CompileModule(ctx, bin); err != nil {
		t.Fatal(err)
	}
	return h
}

// call runs host function i with args on a fresh instance whose memory
// starts with mem, and returns the call's error.
func (h *hostHarness) call(t testing.TB, i int, args []uint64, mem []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	mod, err := h.f.wr.InstantiateModule(context.Background(), h.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{f: h.f, mod: mod, lim: memlimit.New(1 << 16)}
	inst.logs.init()
	h.f.track(inst)
	defer h.f.destroy(inst)
	mod.Memory().Write(0, mem)
	stack := make([]uint64, max(len(args), 1))
	copy(stack, args)
	return mod.ExportedFunction("f"+string(rune('a'+i))).CallWithStack(ctx, stack)
}

// allowedHostError reports whether err is a way a host call may fail: a
// bounds error (bad_output), an exit (proc_exit, or a sleep cut short by
// the deadline). Anything else, a Go runtime error above all, is a bug.
func allowedHostError(err error) bool {
	var be *abi.BoundsError
	var exit *sys.ExitError
	return err == nil || errors.As(err, &be) || errors.As(err, &exit)
}

// TestHostCallsBoundsChecked calls every host function that takes a
// pointer with pointers and lengths at and past the end of memory: each
// must fail the call with a bounds error, never panic in Go.
func TestHostCallsBoundsChecked(t *testing.T) {
	h := newHostHarness(t)
	const memSize = 1 << 16
	for i, c := range h.calls {
		if len(c.sig.Params) < 2 || c.name == "metric_add" || c.name == "metric_record" {
			continue
		}
		for _, bad := range []uint64{memSize, memSize - 1, math.MaxUint32} {
			args := make([]uint64, len(c.sig.Params))
			for p := range args {
				args[p] = bad
			}
			// fd 1 so fd_write reads its iovecs; a clock subscription count
			// of 1 so poll_oneoff reads its input.
			switch c.name {
			case "fd_write", "fd_fdstat_get":
				args[0] = 1
			case "poll_oneoff":
				args[2] = 1
			case "proc_exit", "fd_close", "fd_fdstat_set_flags", "fd_prestat_get", "fd_prestat_dir_name", "clock_res_get", "clock_time_get":
				args[0] = 0
			}
			err := h.call(t, i, args, nil)
			var be *abi.BoundsError
			switch c.name {
			case "proc_exit", "fd_close", "fd_fdstat_set_flags", "fd_prestat_get", "fd_prestat_dir_name", "args_get", "environ_get":
				// These read no guest memory.
				if !allowedHostError(err) {
					t.Errorf("%s.%s%v: %v", c.module, c.name, args, err)
				}
			default:
				if !errors.As(err, &be) {
					t.Errorf("%s.%s%v: error %v, want a bounds error", c.module, c.name, args, err)
				}
			}
		}
	}
}

// FuzzHostCalls calls host functions with arbitrary arguments over
// arbitrary memory: the call may succeed or fail as the ABI allows, and
// must never fail any other way.
func FuzzHostCalls(f *testing.F) {
	h := newHostHarness(f)
	for i := range h.calls {
		f.Add(uint8(i), uint64(0), uint64(8), uint64(16), uint64(1), uint64(32), []byte("hello\n"))
	}
	// An fd_write iovec {ptr 16, len 6} at 0, and a clock subscription.
	iov := make([]byte, 64)
	binary.LittleEndian.PutUint32(iov[0:], 16)
	binary.LittleEndian.PutUint32(iov[4:], 6)
	copy(iov[16:], "hello\n")
	for i, c := range h.calls {
		if c.name == "fd_write" {
			f.Add(uint8(i), uint64(2), uint64(0), uint64(1), uint64(40), uint64(0), iov)
		}
		if c.name == "poll_oneoff" {
			sub := make([]byte, 48)
			binary.LittleEndian.PutUint64(sub[24:], 1000) // 1 µs relative
			f.Add(uint8(i), uint64(0), uint64(100), uint64(1), uint64(200), uint64(0), sub)
		}
	}
	f.Fuzz(func(t *testing.T, fn uint8, a0, a1, a2, a3, a4 uint64, mem []byte) {
		i := int(fn) % len(h.calls)
		c := h.calls[i]
		args := []uint64{a0, a1, a2, a3, a4}[:len(c.sig.Params)]
		for p, ty := range c.sig.Params {
			if ty == api.ValueTypeI32 {
				args[p] = uint64(uint32(args[p]))
			}
		}
		if len(mem) > 1<<16 {
			mem = mem[:1<<16]
		}
		if err := h.call(t, i, args, mem); !allowedHostError(err) {
			t.Fatalf("%s.%s%v: %v", c.module, c.name, args, err)
		}
	})
}
