// Package wasi is the small part of WASI preview 1 a filter gets (ABI.md
// §2): clocks, randomness, stdout/stderr to the host's log, an empty
// argument list and environment, sleeping, yielding and exit. There is no
// file system, network or environment, and the functions a Go wasip1
// runtime needs are all here.
//
// wazero's own WASI module would offer every preview 1 function and sleep
// in poll_oneoff without watching the call's context; this one is written
// so that a sleeping guest wakes when its call's deadline passes.
package wasi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/otlpgw/otlpgw/wasmhost/internal/abi"
)

// WASI errno values used here.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoInval   = 28
	errnoNotsup  = 58
)

// fd_fdstat_get values.
const (
	filetypeCharDevice = 2
	rightFdWrite       = 1 << 6
)

// Clock ids.
const (
	clockRealtime  = 0
	clockMonotonic = 1
)

// Output receives what the guest writes to fd 1 (stdout) or 2 (stderr).
// p is a view of guest memory, valid only during the call.
type Output func(ctx context.Context, mod api.Module, fd uint32, p []byte)

// epoch anchors the monotonic clock guests see.
var epoch = time.Now()

// Instantiate adds the wasi_snapshot_preview1 host module to r.
func Instantiate(ctx context.Context, r wazero.Runtime, out Output) error {
	b := r.NewHostModuleBuilder(abi.WASIModule)
	def := func(name string, fn api.GoModuleFunc) {
		s := abi.WASIFuncs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, s.Params, s.Results).Export(name)
	}
	def("args_get", empty)
	def("environ_get", empty)
	def("args_sizes_get", zeroSizes("args_sizes_get"))
	def("environ_sizes_get", zeroSizes("environ_sizes_get"))
	def("clock_res_get", clockResGet)
	def("clock_time_get", clockTimeGet)
	def("random_get", randomGet)
	def("sched_yield", empty)
	def("proc_exit", procExit)
	def("poll_oneoff", pollOneoff)
	def("fd_write", func(ctx context.Context, mod api.Module, stack []uint64) {
		fdWrite(ctx, mod, stack, out)
	})
	def("fd_close", stdioOnly)
	def("fd_fdstat_set_flags", stdioOnly)
	def("fd_fdstat_get", fdFdstatGet)
	def("fd_prestat_get", badf)
	def("fd_prestat_dir_name", badf)
	_, err := b.Instantiate(ctx)
	return err
}

// badf answers EBADF: no directory is preopened, so there is nothing to
// describe.
func badf(_ context.Context, _ api.Module, stack []uint64) { stack[0] = errnoBadf }

// stdioOnly accepts and ignores the call for fd 0, 1 and 2 (closing or
// flagging stdio changes nothing a guest can observe) and answers EBADF for
// any other descriptor.
func stdioOnly(_ context.Context, _ api.Module, stack []uint64) {
	if uint32(stack[0]) > 2 {
		stack[0] = errnoBadf
		return
	}
	stack[0] = errnoSuccess
}

// fdFdstatGet describes fd 0, 1 and 2 as character devices; 1 and 2 may be
// written, 0 has no rights at all.
func fdFdstatGet(_ context.Context, mod api.Module, stack []uint64) {
	fd, ptr := uint32(stack[0]), uint32(stack[1])
	if fd > 2 {
		stack[0] = errnoBadf
		return
	}
	st := abi.Read(mod.Memory(), "wasi.fd_fdstat_get", ptr, 24)
	clear(st)
	st[0] = filetypeCharDevice
	if fd > 0 {
		binary.LittleEndian.PutUint64(st[8:], rightFdWrite)
	}
	stack[0] = errnoSuccess
}

func empty(_ context.Context, _ api.Module, stack []uint64) {
	if len(stack) > 0 {
		stack[0] = errnoSuccess
	}
}

// zeroSizes answers args_sizes_get and environ_sizes_get: no entries, no
// bytes.
func zeroSizes(fn string) api.GoModuleFunc {
	fn = abi.WASIModule + "." + fn
	return func(_ context.Context, mod api.Module, stack []uint64) {
		mem := mod.Memory()
		binary.LittleEndian.PutUint32(abi.Read(mem, fn, uint32(stack[0]), 4), 0)
		binary.LittleEndian.PutUint32(abi.Read(mem, fn, uint32(stack[1]), 4), 0)
		stack[0] = errnoSuccess
	}
}

func clockResGet(_ context.Context, mod api.Module, stack []uint64) {
	id, ptr := uint32(stack[0]), uint32(stack[1])
	if id != clockRealtime && id != clockMonotonic {
		stack[0] = errnoInval
		return
	}
	binary.LittleEndian.PutUint64(abi.Read(mod.Memory(), "wasi.clock_res_get", ptr, 8), 1)
	stack[0] = errnoSuccess
}

func clockTimeGet(_ context.Context, mod api.Module, stack []uint64) {
	id, ptr := uint32(stack[0]), uint32(stack[2])
	now, ok := clockNow(id)
	if !ok {
		stack[0] = errnoInval
		return
	}
	binary.LittleEndian.PutUint64(abi.Read(mod.Memory(), "wasi.clock_time_get", ptr, 8), uint64(now))
	stack[0] = errnoSuccess
}

func clockNow(id uint32) (int64, bool) {
	switch id {
	case clockRealtime:
		return time.Now().UnixNano(), true
	case clockMonotonic:
		return int64(time.Since(epoch)), true
	}
	return 0, false
}

func randomGet(_ context.Context, mod api.Module, stack []uint64) {
	buf := abi.Read(mod.Memory(), "wasi.random_get", uint32(stack[0]), uint32(stack[1]))
	_, _ = rand.Read(buf) // never fails since Go 1.24
	stack[0] = errnoSuccess
}

// procExit ends the call: the instance is finished (a Go guest calls it
// after a panic or a fatal error) and the host discards it.
func procExit(_ context.Context, _ api.Module, stack []uint64) {
	panic(sys.NewExitError(uint32(stack[0])))
}

func fdWrite(ctx context.Context, mod api.Module, stack []uint64, out Output) {
	fd, iovs, n, nwrittenPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	const fn = "wasi.fd_write"
	mem := mod.Memory()
	if fd != 1 && fd != 2 {
		stack[0] = errnoBadf
		return
	}
	if n > math.MaxUint32/8 {
		panic(&abi.BoundsError{Func: fn, Ptr: iovs, Len: math.MaxUint32})
	}
	vec := abi.Read(mem, fn, iovs, n*8)
	nwritten := abi.Read(mem, fn, nwrittenPtr, 4)
	var total uint32
	for i := uint32(0); i < n; i++ {
		ptr := binary.LittleEndian.Uint32(vec[i*8:])
		l := binary.LittleEndian.Uint32(vec[i*8+4:])
		p := abi.Read(mem, fn, ptr, l)
		if out != nil && l > 0 {
			out(ctx, mod, fd, p)
		}
		total += l
	}
	binary.LittleEndian.PutUint32(nwritten, total)
	stack[0] = errnoSuccess
}

// Subscription and event layouts of poll_oneoff (WASI preview 1).
const (
	subSize       = 48
	eventSize     = 32
	tagClock      = 0
	flagAbsTime   = 1
	maxPollSubscr = 1 << 16 // far more than any runtime asks for
)

// pollOneoff supports clock subscriptions only: that is how a Go guest
// sleeps (time.Sleep, timers, an idle scheduler). Any other subscription
// is answered at once with ENOTSUP. The sleep ends early when the call's
// context ends, with the exit error wazero would raise for that context, so
// a guest that sleeps cannot outlive its deadline.
func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, n, neventsPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	const fn = "wasi.poll_oneoff"
	if n == 0 || n > maxPollSubscr {
		stack[0] = errnoInval
		return
	}
	mem := mod.Memory()
	subs := abi.Read(mem, fn, in, n*subSize)
	events := abi.Read(mem, fn, out, n*eventSize)
	nevents := abi.Read(mem, fn, neventsPtr, 4)

	wait := time.Duration(math.MaxInt64)
	clocks, others := 0, 0
	for i := uint32(0); i < n; i++ {
		s := subs[i*subSize:]
		if s[8] != tagClock {
			others++
			continue
		}
		clocks++
		if d, ok := clockWait(s); ok && d < wait {
			wait = d
		}
	}
	k := uint32(0)
	writeEvent := func(s []byte, errno uint16) {
		e := events[k*eventSize : (k+1)*eventSize]
		clear(e)
		copy(e[0:8], s[0:8]) // userdata
		binary.LittleEndian.PutUint16(e[8:], errno)
		e[10] = s[8] // type = tag
		k++
	}
	if others > 0 {
		// Never sleep when there is something to answer at once.
		for i := uint32(0); i < n; i++ {
			if s := subs[i*subSize:]; s[8] != tagClock {
				writeEvent(s, errnoNotsup)
			}
		}
	} else {
		if wait > 0 && clocks > 0 {
			sleep(ctx, wait)
		}
		for i := uint32(0); i < n; i++ {
			s := subs[i*subSize:]
			if d, ok := clockWait(s); !ok {
				writeEvent(s, errnoInval)
			} else if d <= wait {
				writeEvent(s, errnoSuccess)
			}
		}
	}
	binary.LittleEndian.PutUint32(nevents, k)
	stack[0] = errnoSuccess
}

// clockWait is how long a clock subscription asks to wait from now; ok is
// false for an unknown clock.
func clockWait(s []byte) (time.Duration, bool) {
	id := binary.LittleEndian.Uint32(s[16:])
	timeout := binary.LittleEndian.Uint64(s[24:])
	flags := binary.LittleEndian.Uint16(s[40:])
	if flags&flagAbsTime == 0 {
		if timeout > math.MaxInt64 {
			return math.MaxInt64, true
		}
		return time.Duration(timeout), true
	}
	now, ok := clockNow(id)
	if !ok {
		return 0, false
	}
	if timeout > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return time.Duration(int64(timeout) - now), true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		code := sys.ExitCodeContextCanceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		panic(sys.NewExitError(code))
	}
}
