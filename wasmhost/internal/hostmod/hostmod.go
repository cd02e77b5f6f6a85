// Package hostmod is the otlpgw host module (ABI.md §2): the functions a
// filter imports. It decodes and bounds-checks the guest's arguments and
// hands plain values to an Env; it keeps no state of its own.
package hostmod

import (
	"context"
	"errors"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/otlpgw/otlpgw/wasmhost/internal/abi"
)

// Env is what the host functions act on. mod is the calling instance.
// Byte slices are views of guest memory, valid only during the call.
type Env interface {
	Log(ctx context.Context, mod api.Module, level int32, msg []byte)
	MetricDefine(mod api.Module, kind int32, name, help []byte) int32
	MetricAdd(mod api.Module, id int32, v float64)
	MetricRecord(mod api.Module, id int32, v float64)
	HealthReport(mod api.Module, status int32, msg []byte)
	Pressure() float64
	GatewayHealth() int32
}

// Instantiate adds the otlpgw host module, bound to env, to r.
func Instantiate(ctx context.Context, r wazero.Runtime, env Env) error {
	b := r.NewHostModuleBuilder(abi.HostModule)
	def := func(name string, fn api.GoModuleFunc) {
		s := abi.HostFuncs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, s.Params, s.Results).Export(name)
	}
	def("log", func(ctx context.Context, mod api.Module, stack []uint64) {
		msg := abi.Read(mod.Memory(), "otlpgw.log", uint32(stack[1]), uint32(stack[2]))
		env.Log(ctx, mod, int32(stack[0]), msg)
	})
	def("metric_define", func(_ context.Context, mod api.Module, stack []uint64) {
		mem := mod.Memory()
		name := abi.Read(mem, "otlpgw.metric_define", uint32(stack[1]), uint32(stack[2]))
		help := abi.Read(mem, "otlpgw.metric_define", uint32(stack[3]), uint32(stack[4]))
		stack[0] = api.EncodeI32(env.MetricDefine(mod, int32(stack[0]), name, help))
	})
	def("metric_add", func(_ context.Context, mod api.Module, stack []uint64) {
		env.MetricAdd(mod, int32(stack[0]), api.DecodeF64(stack[1]))
	})
	def("metric_record", func(_ context.Context, mod api.Module, stack []uint64) {
		env.MetricRecord(mod, int32(stack[0]), api.DecodeF64(stack[1]))
	})
	def("health_report", func(_ context.Context, mod api.Module, stack []uint64) {
		msg := abi.Read(mod.Memory(), "otlpgw.health_report", uint32(stack[1]), uint32(stack[2]))
		env.HealthReport(mod, int32(stack[0]), msg)
	})
	def("gateway_pressure", func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = api.EncodeF64(env.Pressure())
	})
	def("gateway_health", func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = api.EncodeI32(env.GatewayHealth())
	})
	def("now", func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = uint64(time.Now().UnixNano())
	})
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(deadlineTick), nil, abi.DeadlineTickSig.Results).Export(abi.DeadlineTick)
	_, err := b.Instantiate(ctx)
	return err
}

// Fuel is how many function entries and loop iterations (and 64-byte
// blocks of bulk memory operations) an instrumented guest runs between two
// calls to deadline_tick: the counter's initial value and what the tick
// returns. Chosen by measurement (wasmhost/RATIONALE.md): a spinning Go
// guest reaches the host about every 0.3-0.5 ms, so a garbage collection
// waits about that long for it and a call overruns its deadline by about
// that much; a one-instruction loop every 30-40 µs, where the tick (about
// 0.4 µs) costs about 1 %, and under 0.1 % in Go code.
const Fuel = 1 << 14

// deadlineTick is called by the instrumentation when the guest's fuel runs
// out. It stops the call once its context is done (deadline or caller
// gone), with the exit code wazero's own context watch would use, or once
// the instance was closed (Filter.Close), and otherwise refuels. Being a Go
// function call, it is also where the goroutine running the guest can be
// preempted: without it, compiled guest code has no preemption point and a
// looping guest would block the next garbage collection.
func deadlineTick(ctx context.Context, mod api.Module, stack []uint64) {
	if err := ctx.Err(); err != nil {
		code := sys.ExitCodeContextCanceled
		if errors.Is(err, context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		panic(sys.NewExitError(code))
	}
	if mod.IsClosed() {
		panic(sys.NewExitError(0))
	}
	stack[0] = Fuel
}
