// Package abi holds the names and signatures of filter ABI v1 (sdk/ABI.md)
// and checks a compiled module against them. It is pure bookkeeping: no
// guest code runs here.
package abi

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Version is the ABI version this host speaks.
const Version = 1

// Export names the guest provides.
const (
	ExportVersion    = "otlpgw_abi_version"
	ExportAlloc      = "otlpgw_alloc"
	ExportInit       = "otlpgw_init"
	ExportInitialize = "_initialize"
	ExportMemory     = "memory"
	// ExportBulkOnly is optional: () -> i32, 1 when the module, as its
	// init configured it, never reads a batch (ABI.md §1).
	ExportBulkOnly = "otlpgw_bulk_only"
)

// ProcessExports are the per-signal process exports, indexed by
// otlpwire.Signal (traces, metrics, logs).
var ProcessExports = [3]string{"otlpgw_process_traces", "otlpgw_process_metrics", "otlpgw_process_logs"}

// HostModule is the import namespace of the otlpgw host functions.
const HostModule = "otlpgw"

// DeadlineTick is the host function the load-time instrumentation
// (internal/instrument) imports from HostModule: the fuel counter calls it
// when it runs out. It is not part of the ABI: a module that imports it
// itself is refused, so CheckImports, which sees the instrumented module,
// accepts exactly one, with signature DeadlineTickSig.
const DeadlineTick = "deadline_tick"

// DeadlineTickSig is DeadlineTick's signature: it returns the fresh fuel.
var DeadlineTickSig = sig(nil, i32)

// WASIModule is the WASI preview 1 namespace; only WASIFuncs may be imported
// from it.
const WASIModule = "wasi_snapshot_preview1"

// MaxEditList bounds an edit list's length in bytes (ABI §4).
const MaxEditList = 64 << 20

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	f64 = api.ValueTypeF64
)

// Sig is a function signature.
type Sig struct{ Params, Results []api.ValueType }

func (s Sig) String() string {
	return "(" + types(s.Params) + ") -> (" + types(s.Results) + ")"
}

func types(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ", ")
}

func (s Sig) matches(params, results []api.ValueType) bool {
	return string(s.Params) == string(params) && string(s.Results) == string(results)
}

func sig(params []api.ValueType, results ...api.ValueType) Sig {
	return Sig{Params: params, Results: results}
}

func p(ts ...api.ValueType) []api.ValueType { return ts }

// HostFuncs are the otlpgw host functions and their signatures (ABI §2).
var HostFuncs = map[string]Sig{
	"log":              sig(p(i32, i32, i32)),
	"metric_define":    sig(p(i32, i32, i32, i32, i32), i32),
	"metric_add":       sig(p(i32, f64)),
	"metric_record":    sig(p(i32, f64)),
	"health_report":    sig(p(i32, i32, i32)),
	"gateway_pressure": sig(nil, f64),
	"gateway_health":   sig(nil, i32),
	"now":              sig(nil, i64),
}

// WASIFuncs are the WASI functions a filter may import with their preview 1
// signatures. Everything else in WASI is refused at load.
//
// ABI.md §2 lists all but the last five. Those five are here because Go's
// syscall and os packages import them at start-up (any guest that imports
// time, fmt, encoding/json or os does): the syscall package enumerates
// preopened directories and os probes and flags stdio. They are inert: no
// directory is preopened, stdio are character devices whose flags and
// closing are ignored, and every other descriptor is EBADF. They open
// nothing; path_open, fd_read, sockets and the rest stay refused.
var WASIFuncs = map[string]Sig{
	"args_get":          sig(p(i32, i32), i32),
	"args_sizes_get":    sig(p(i32, i32), i32),
	"environ_get":       sig(p(i32, i32), i32),
	"environ_sizes_get": sig(p(i32, i32), i32),
	"clock_res_get":     sig(p(i32, i32), i32),
	"clock_time_get":    sig(p(i32, i64, i32), i32),
	"fd_write":          sig(p(i32, i32, i32, i32), i32),
	"poll_oneoff":       sig(p(i32, i32, i32, i32), i32),
	"proc_exit":         sig(p(i32)),
	"random_get":        sig(p(i32, i32), i32),
	"sched_yield":       sig(nil, i32),

	"fd_close":            sig(p(i32), i32),
	"fd_fdstat_get":       sig(p(i32, i32), i32),
	"fd_fdstat_set_flags": sig(p(i32, i32), i32),
	"fd_prestat_get":      sig(p(i32, i32), i32),
	"fd_prestat_dir_name": sig(p(i32, i32, i32), i32),
}

// Guest export signatures (ABI §1).
var (
	versionSig    = sig(nil, i32)
	allocSig      = sig(p(i32), i32)
	initSig       = sig(p(i32, i32), i32)
	initializeSig = sig(nil)
	processSig    = sig(p(i32, i32, i32, i32), i64)
)

// CheckImports refuses any import outside the otlpgw host module and the
// allowed WASI functions, and any import whose signature differs from the
// ABI's, naming the offending import.
func CheckImports(m interface {
	ImportedFunctions() []api.FunctionDefinition
	ImportedMemories() []api.MemoryDefinition
}) error {
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		var want Sig
		var ok bool
		switch mod {
		case HostModule:
			if name == DeadlineTick {
				want, ok = DeadlineTickSig, true
			} else if want, ok = HostFuncs[name]; !ok {
				return fmt.Errorf("import %s.%s: no such host function in ABI v%d (have %s)", mod, name, Version, list(HostFuncs))
			}
		case WASIModule:
			if want, ok = WASIFuncs[name]; !ok {
				return fmt.Errorf("import %s.%s: not allowed (filters get no file system, sockets or environment; allowed WASI functions: %s)", mod, name, list(WASIFuncs))
			}
		default:
			return fmt.Errorf("import %s.%s: module %q is not provided (a filter may import only %q and some of %q)", mod, name, mod, HostModule, WASIModule)
		}
		if !want.matches(f.ParamTypes(), f.ResultTypes()) {
			return fmt.Errorf("import %s.%s: signature %s, want %s", mod, name, Sig{f.ParamTypes(), f.ResultTypes()}, want)
		}
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		return fmt.Errorf("import %s.%s: a filter must define its own memory, not import one", mod, name)
	}
	return nil
}

// Exports is what CheckExports found.
type Exports struct {
	// Process[s] is true when the module exports the process function of
	// signal s.
	Process [3]bool
	// Initialize is true when the module exports _initialize.
	Initialize bool
	// MemoryMinPages is the exported memory's initial size in 64 KiB pages.
	MemoryMinPages uint32
}

// CheckExports requires the ABI's exports with the right signatures: the
// version, alloc and init functions, at least one process function, and a
// memory named "memory". Every missing or mistyped export is reported.
func CheckExports(m interface {
	ExportedFunctions() map[string]api.FunctionDefinition
	ExportedMemories() map[string]api.MemoryDefinition
}) (Exports, error) {
	var ex Exports
	fns := m.ExportedFunctions()
	var problems []string
	need := func(name string, want Sig, required bool) bool {
		f, ok := fns[name]
		if !ok {
			if required {
				problems = append(problems, "missing export "+name+" "+want.String())
			}
			return false
		}
		if !want.matches(f.ParamTypes(), f.ResultTypes()) {
			problems = append(problems, fmt.Sprintf("export %s: signature %s, want %s", name, Sig{f.ParamTypes(), f.ResultTypes()}, want))
			return false
		}
		return true
	}
	need(ExportVersion, versionSig, true)
	need(ExportAlloc, allocSig, true)
	need(ExportInit, initSig, true)
	ex.Initialize = need(ExportInitialize, initializeSig, false)
	anyProcess := false
	for s, name := range ProcessExports {
		if _, ok := fns[name]; ok {
			ex.Process[s] = need(name, processSig, false)
			anyProcess = true
		}
	}
	if !anyProcess {
		problems = append(problems, "missing export: at least one of "+strings.Join(ProcessExports[:], ", "))
	}
	if mem, ok := m.ExportedMemories()[ExportMemory]; ok {
		ex.MemoryMinPages = mem.Min()
	} else {
		problems = append(problems, "missing export: memory \""+ExportMemory+"\"")
	}
	if len(problems) > 0 {
		return ex, fmt.Errorf("exports: %s", strings.Join(problems, "; "))
	}
	return ex, nil
}

func list(m map[string]Sig) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// UnpackResult splits a process function's i64 result into the edit list's
// guest pointer and length: (ptr << 32) | len.
func UnpackResult(r uint64) (ptr, n uint32) { return uint32(r >> 32), uint32(r) }

// BoundsError is what a host function panics with when the guest hands it a
// pointer and length outside its memory. wazero turns the panic into the
// call's error (wrapped), so the host classifies the failure as bad_output;
// the host process never sees the panic.
type BoundsError struct {
	Func     string // the host function, e.g. "otlpgw.log"
	Ptr, Len uint32
}

func (e *BoundsError) Error() string {
	return fmt.Sprintf("%s: guest range [%#x, +%d) is outside its memory", e.Func, e.Ptr, e.Len)
}

// Read returns the guest bytes [ptr, ptr+n) as a view of its memory, or
// panics with a *BoundsError. The view is valid until the guest runs again.
func Read(mem api.Memory, fn string, ptr, n uint32) []byte {
	if mem == nil { // a module without memory; Load refuses those
		panic(&BoundsError{Func: fn, Ptr: ptr, Len: n})
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		panic(&BoundsError{Func: fn, Ptr: ptr, Len: n})
	}
	return b
}
