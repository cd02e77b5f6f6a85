package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/wasmhost/internal/abi"
	"github.com/otlpgw/otlpgw/wasmhost/internal/memlimit"
)

// instance is one instantiated module. Only the goroutine that holds it
// (from the pool, or while making it) touches it, host functions included:
// they run on that goroutine.
type instance struct {
	f       *Filter
	mod     api.Module
	mem     api.Memory
	lim     *memlimit.Memory
	alloc   api.Function
	process [otlpwire.NumSignals]api.Function
	stack   [4]uint64
	edits   otlpwire.Edits

	logs logLimiter
	// line holds an unfinished line written to fd 1 or 2.
	line [3][]byte
	// stderrHead keeps the start of what the guest wrote to stderr during
	// the current call: a Go guest's panic message, for the failure.
	stderrHead []byte
	// lastLog is the last warn or error line the guest logged, for the
	// message when its init refuses its config.
	lastLog string
	// bulkOnly is what otlpgw_bulk_only answered after init.
	bulkOnly bool
}

const (
	maxLogLine    = 1 << 10 // longer log lines and stdio lines are cut
	stderrHeadLen = 512
)

func newInstance(ctx context.Context, f *Filter) (_ *instance, err error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	inst := &instance{f: f, lim: memlimit.New(f.memLimit)}
	inst.logs.init()
	mod, err := f.wr.InstantiateModule(
		experimental.WithMemoryAllocator(ctx, inst.lim.Allocator()),
		f.compiled,
		// Anonymous, so a filter can have many; no start function, because
		// _initialize runs below where its failure can be described.
		wazero.NewModuleConfig().WithName("").WithStartFunctions(),
	)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	inst.mod, inst.mem = mod, mod.Memory()
	inst.alloc = mod.ExportedFunction(abi.ExportAlloc)
	for _, s := range f.signals {
		inst.process[s] = mod.ExportedFunction(abi.ProcessExports[s])
	}
	f.track(inst)
	defer func() {
		if err != nil {
			f.destroy(inst)
		}
	}()
	st := inst.stack[:]
	if f.hasInitialize {
		if err := mod.ExportedFunction(abi.ExportInitialize).CallWithStack(ctx, st); err != nil {
			return nil, inst.describe(ctx, abi.ExportInitialize, err)
		}
	}
	if err := mod.ExportedFunction(abi.ExportVersion).CallWithStack(ctx, st); err != nil {
		return nil, inst.describe(ctx, abi.ExportVersion, err)
	}
	if v := int32(st[0]); v != abi.Version {
		return nil, fmt.Errorf("ABI version %d not supported (want %d)", v, abi.Version)
	}
	st[0] = uint64(len(f.config))
	if err := inst.alloc.CallWithStack(ctx, st); err != nil {
		return nil, inst.describe(ctx, "init: "+abi.ExportAlloc, err)
	}
	ptr := uint32(st[0])
	if !inst.mem.Write(ptr, f.config) || ptr == 0 {
		return nil, fmt.Errorf("init: %s(%d) returned %#x, which is not writable memory", abi.ExportAlloc, len(f.config), ptr)
	}
	st[0], st[1] = uint64(ptr), uint64(len(f.config))
	if err := mod.ExportedFunction(abi.ExportInit).CallWithStack(ctx, st); err != nil {
		return nil, inst.describe(ctx, abi.ExportInit, err)
	}
	if rc := int32(st[0]); rc != 0 {
		why := ""
		if inst.lastLog != "" {
			why = ": " + inst.lastLog
		}
		return nil, fmt.Errorf("init: the module refused its config (%s returned %d)%s", abi.ExportInit, rc, why)
	}
	if fn := mod.ExportedFunction(abi.ExportBulkOnly); fn != nil {
		if err := fn.CallWithStack(ctx, st); err != nil {
			return nil, inst.describe(ctx, abi.ExportBulkOnly, err)
		}
		inst.bulkOnly = int32(st[0]) == 1
	}
	// Every instance has the same config; one that answers otherwise is
	// not deterministic and cannot be trusted with the batch-free path.
	if f.haveFirst && inst.bulkOnly != f.bulkOnly {
		return nil, fmt.Errorf("%s returned %v after init, the first instance %v", abi.ExportBulkOnly, inst.bulkOnly, f.bulkOnly)
	}
	return inst, nil
}

// describe turns a failed call during instantiation into an error that
// says which export failed and how.
func (inst *instance) describe(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: timeout: did not return within %v", step, InitTimeout)
		}
		return fmt.Errorf("%s: %w", step, ctx.Err())
	}
	fe := inst.classify(context.Background(), otlpwire.Traces, step, err)
	var e *FailureError
	if errors.As(fe, &e) {
		return fmt.Errorf("%s: %s", e.Kind, e.Msg)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// emptyIndexes index an empty batch of each signal: what a bulk-only
// module is given instead of the batch.
var emptyIndexes = [otlpwire.NumSignals]otlpwire.Index{{Signal: otlpwire.Traces}, {Signal: otlpwire.Metrics}, {Signal: otlpwire.Logs}}

// run makes one call: alloc, copy the request and its index in, process,
// then read, decode and apply the edit list. A bulk-only module gets an
// empty batch instead, and must answer with bulk edits (or REJECT). With
// pending set (bulk-only modules only), the edit list is checked and
// appended to *pending instead of applied, for the caller to apply with
// other filters' lists; req and ix are then not read.
func (inst *instance) run(ctx context.Context, sig otlpwire.Signal, req []byte, ix *otlpwire.Index, pending *[]byte) (Result, error) {
	f := inst.f
	inst.lim.Reset()
	inst.stderrHead = inst.stderrHead[:0]
	orig, decodeIx := req, ix
	if f.bulkOnly {
		req, ix = nil, &emptyIndexes[sig]
		if pending != nil {
			decodeIx = ix
		}
	}
	idxLen := ix.ABISize()
	total := uint64(len(req)) + uint64(idxLen)
	if total > math.MaxInt32 {
		return Result{}, f.failure(sig, KindOOM, fmt.Sprintf("a %d-byte batch and index do not fit a 32-bit guest", total), nil)
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	st := inst.stack[:]
	st[0] = total
	if err := inst.alloc.CallWithStack(cctx, st); err != nil {
		return Result{}, inst.classify(ctx, sig, abi.ExportAlloc, err)
	}
	ptr := uint32(st[0])
	if ptr == 0 {
		return Result{}, f.failure(sig, KindOOM, fmt.Sprintf("%s(%d) returned 0", abi.ExportAlloc, total), nil)
	}
	view, ok := inst.mem.Read(ptr, uint32(total))
	if !ok {
		return Result{}, f.failure(sig, KindBadOutput, fmt.Sprintf("%s(%d) returned %#x, outside the guest's %d-byte memory", abi.ExportAlloc, total, ptr, inst.mem.Size()), nil)
	}
	copy(view, req)
	// The index goes straight into guest memory: AppendABI fills the spare
	// capacity in place.
	at := view[len(req):len(req):total]
	if idx := ix.AppendABI(at); unsafe.SliceData(idx) != unsafe.SliceData(at) {
		copy(at[:idxLen], idx)
	}

	st[0], st[1], st[2], st[3] = uint64(ptr), uint64(len(req)), uint64(ptr)+uint64(len(req)), uint64(idxLen)
	if err := inst.process[sig].CallWithStack(cctx, st); err != nil {
		return Result{}, inst.classify(ctx, sig, abi.ProcessExports[sig], err)
	}
	if st[0] == 0 {
		return Result{}, nil
	}
	eptr, elen := abi.UnpackResult(st[0])
	if elen > abi.MaxEditList {
		return Result{}, f.failure(sig, KindBadOutput, fmt.Sprintf("edit list of %d bytes exceeds the %d-byte limit", elen, abi.MaxEditList), nil)
	}
	list, ok := inst.mem.Read(eptr, elen)
	if !ok {
		return Result{}, f.failure(sig, KindBadOutput, fmt.Sprintf("edit list [%#x, +%d) is outside the guest's %d-byte memory", eptr, elen, inst.mem.Size()), nil)
	}
	e := &inst.edits
	if err := e.Decode(list, decodeIx); err != nil {
		return Result{}, f.failure(sig, KindBadOutput, err.Error(), err)
	}
	switch e.Verdict {
	case otlpwire.VerdictReject:
		reason := string(e.RejectReason)
		if reason == "" {
			reason = "rejected by filter"
		}
		return Result{Reject: reason}, nil
	case otlpwire.VerdictEdit:
		if len(e.List) == 0 {
			return Result{}, nil
		}
	}
	if f.bulkOnly && !e.Bulk() {
		op := otlpwire.OpReplace
		for _, ed := range e.List {
			if !ed.Op.IsBulk() {
				op = ed.Op
				break
			}
		}
		msg := fmt.Sprintf("edit list: the module declared itself bulk-only but returned %s", op)
		return Result{}, f.failure(sig, KindBadOutput, msg, errors.New(msg))
	}
	if pending != nil {
		*pending = append(*pending, list...)
		return Result{}, nil
	}
	req, ix = orig, decodeIx
	out, dropped, changed, err := otlpwire.ApplyChanged(ix, req, e, nil)
	if err != nil {
		return Result{}, f.failure(sig, KindBadOutput, "applying the edit list: "+err.Error(), err)
	}
	if !changed {
		return Result{}, nil
	}
	res := Result{Req: out, Dropped: dropped}
	if dropped > 0 {
		res.Reason = string(e.DropReason)
		res.Drops = make([]Drop, 0, len(e.Drops))
		for _, d := range e.Drops {
			r := string(d.Reason)
			if d.Other {
				r = OtherReasons
			}
			res.Drops = append(res.Drops, Drop{Reason: r, Items: d.Items})
		}
	}
	return res, nil
}

// classify turns a failed guest call into a *FailureError, or, when the
// caller's own context ended, into an error wrapping ctx.Err() that does
// not count against the filter.
func (inst *instance) classify(parent context.Context, sig otlpwire.Signal, step string, err error) error {
	f := inst.f
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	if isExit {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			if perr := parent.Err(); perr != nil {
				return fmt.Errorf("filter[%s] signal[%s]: %s: %w", f.name, sig, step, perr)
			}
			return f.failure(sig, KindTimeout, fmt.Sprintf("%s did not return within %v", step, f.timeout), err)
		}
	}
	if inst.lim.Refused() {
		return f.failure(sig, KindOOM, fmt.Sprintf("%s: memory limit of %s reached%s", step, mib(f.memLimit), inst.stderrSuffix()), err)
	}
	var be *abi.BoundsError
	if errors.As(err, &be) {
		return f.failure(sig, KindBadOutput, fmt.Sprintf("%s: %v", step, be), err)
	}
	if isExit {
		return f.failure(sig, KindTrap, fmt.Sprintf("%s: exit code %d%s", step, exit.ExitCode(), inst.stderrSuffix()), err)
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // drop wazero's wasm stack trace
	}
	return f.failure(sig, KindTrap, fmt.Sprintf("%s: %s%s", step, msg, inst.stderrSuffix()), err)
}

// stderrSuffix is ": <first line the guest wrote to stderr in this call>",
// or "".
func (inst *instance) stderrSuffix() string {
	h := bytes.TrimSpace(inst.stderrHead)
	if i := bytes.IndexByte(h, '\n'); i >= 0 {
		h = h[:i]
	}
	if len(h) == 0 {
		return ""
	}
	return ": " + strings.ToValidUTF8(string(h), "\uFFFD")
}

// output receives the guest's writes to fd 1 and 2 (from the wasi module)
// and logs them line by line: stdout at debug, stderr at warn.
func (f *Filter) output(ctx context.Context, mod api.Module, fd uint32, p []byte) {
	inst := f.lookup(mod)
	if inst == nil || fd > 2 {
		return
	}
	if fd == 2 && len(inst.stderrHead) < stderrHeadLen {
		inst.stderrHead = append(inst.stderrHead, p[:min(len(p), stderrHeadLen-len(inst.stderrHead))]...)
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLogLine - len(inst.line[fd])
			inst.line[fd] = append(inst.line[fd], p[:min(len(p), max(room, 0))]...)
			return
		}
		line := p[:i]
		if len(inst.line[fd]) > 0 {
			line = append(inst.line[fd], line[:min(len(line), max(maxLogLine-len(inst.line[fd]), 0))]...)
			inst.line[fd] = inst.line[fd][:0]
		}
		inst.emitStdio(ctx, fd, line)
		p = p[i+1:]
	}
}

func (inst *instance) emitStdio(ctx context.Context, fd uint32, line []byte) {
	level, stream := slog.LevelDebug, "stdout"
	if fd == 2 {
		level, stream = slog.LevelWarn, "stderr"
	}
	inst.emit(ctx, level, line, slog.String("stream", stream))
}

// flushOutput logs unfinished stdio lines, e.g. a panic message cut short
// by the guest's exit.
func (inst *instance) flushOutput() {
	for fd := uint32(1); fd <= 2; fd++ {
		if len(inst.line[fd]) > 0 {
			inst.emitStdio(context.Background(), fd, inst.line[fd])
			inst.line[fd] = nil
		}
	}
}

// emit logs one guest line, rate-limited per instance.
func (inst *instance) emit(ctx context.Context, level slog.Level, msg []byte, attrs ...slog.Attr) {
	ok, suppressed := inst.logs.allow(time.Now())
	if !ok {
		return
	}
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	s := strings.ToValidUTF8(string(msg), "\uFFFD")
	if level >= slog.LevelWarn {
		inst.lastLog = s
	}
	attrs = append(attrs, slog.Bool("guest", true))
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	inst.f.log.LogAttrs(ctx, level, s, attrs...)
}

// logLimiter is a token bucket: bursts of logBurst lines, logRate lines
// per second after that. Lines over the limit are counted and the count is
// attached to the next line that gets through.
type logLimiter struct {
	tokens     float64
	last       time.Time
	suppressed int
}

const (
	logBurst = 20
	logRate  = 5.0
)

func (l *logLimiter) init() { l.tokens = logBurst }

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	if !l.last.IsZero() {
		l.tokens = min(logBurst, l.tokens+now.Sub(l.last).Seconds()*logRate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
