package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/wasmhost/internal/abi"
	"github.com/otlpgw/otlpgw/wasmhost/internal/hostmod"
	"github.com/otlpgw/otlpgw/wasmhost/internal/instrument"
	"github.com/otlpgw/otlpgw/wasmhost/internal/pool"
	"github.com/otlpgw/otlpgw/wasmhost/internal/wasi"
)

// Defaults and bounds of LoadConfig.
const (
	// DefaultTimeout bounds one call when LoadConfig.Timeout is 0.
	DefaultTimeout = 50 * time.Millisecond
	// DefaultMemoryLimit is each instance's memory cap when
	// LoadConfig.MemoryLimit is 0: 64 MiB.
	DefaultMemoryLimit = 64 << 20
	// MaxMemoryLimit is the largest memory a 32-bit guest can address: 4 GiB.
	MaxMemoryLimit = 1 << 32
	// InitTimeout bounds making one instance: instantiation, the module's
	// _initialize, otlpgw_abi_version and otlpgw_init.
	InitTimeout = 10 * time.Second
	// ABIVersion is the filter ABI version this host speaks (sdk/ABI.md).
	ABIVersion = abi.Version
)

const pageSize = 64 << 10

// crashLoop is the crash-loop policy: after 5 consecutive failures, wait
// 100 ms before making the next instance, doubling per further failure up
// to 30 s. A successful call ends the run.
var crashLoop = pool.Policy{Threshold: 5, Base: 100 * time.Millisecond, Max: 30 * time.Second}

// LoadConfig describes one filter: which module, on which signals, within
// which limits. The gateway builds it from the filters section of its
// configuration.
type LoadConfig struct {
	// Name identifies the filter in errors, logs, metrics and
	// partial-success messages. Required.
	Name string
	// Module is "builtin:NAME", looked up in RuntimeConfig.Builtins, or the
	// path of a .wasm file. Required.
	Module string
	// Signals the filter runs on. Default (empty): every signal the module
	// exports a process function for. Naming one it does not export is an
	// error.
	Signals []otlpwire.Signal
	// Timeout bounds one call on one batch, and separately the wait for a
	// free instance. Default DefaultTimeout (50 ms).
	Timeout time.Duration
	// MemoryLimit caps each instance's linear memory, in bytes, rounded
	// down to whole 64 KiB pages. Default DefaultMemoryLimit (64 MiB); at
	// most MaxMemoryLimit (4 GiB).
	MemoryLimit int64
	// Config is given to the module's otlpgw_init, as JSON. Default "{}".
	// Must be valid JSON.
	Config []byte
	// Instances is how many instances the filter keeps, so how many batches
	// it can work on at once. Default runtime.GOMAXPROCS(0): the CPUs this
	// process may use, which follows a container CPU limit where NumCPU
	// would count the whole node.
	Instances int
	// OnError is what the pipeline should do with a batch when a call
	// fails; it is copied into every FailureError. OnErrorPass (default),
	// OnErrorDrop or OnErrorReject.
	OnError string
}

// Load compiles the module (or takes it from the cache), checks its imports
// and exports, and starts one instance straight away (its _initialize, ABI
// version and init must all succeed), so that a bad module fails here and
// never on a batch. The other instances start in the background. host may
// be nil.
//
// Errors name the filter and the step, e.g.
// "filter[redact]: compile: ..." or
// "filter[x]: ABI version 7 not supported (want 1)".
func (r *Runtime) Load(ctx context.Context, cfg LoadConfig, host HostEnv) (*Filter, error) {
	if cfg.Name == "" {
		return nil, errors.New("filter: name is required")
	}
	fail := func(format string, args ...any) (*Filter, error) {
		return nil, fmt.Errorf("filter[%s]: "+format, append([]any{cfg.Name}, args...)...)
	}
	if err := cfg.defaults(); err != nil {
		return fail("%v", err)
	}
	bin, err := r.resolve(cfg.Module)
	if err != nil {
		return fail("%v", err)
	}
	if host == nil {
		host = nopHost{}
	}
	r.loading.RLock()
	defer r.loading.RUnlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return fail("the wasm runtime is closed")
	}

	if !r.noDeadline {
		// The deadline: fuel at every function entry, loop header and
		// bulk operation, with a host call when it runs out (RATIONALE.md).
		if bin, err = instrument.Module(bin, instrument.Options{Module: abi.HostModule, Name: abi.DeadlineTick, Fuel: hostmod.Fuel}); err != nil {
			return fail("instrument: %s: %w", cfg.Module, err)
		}
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(r.cache).
		WithCustomSections(false)
	wr := wazero.NewRuntimeWithConfig(ctx, rc)
	f := &Filter{
		name:     cfg.Name,
		onError:  cfg.OnError,
		timeout:  cfg.Timeout,
		memLimit: uint64(cfg.MemoryLimit),
		config:   cfg.Config,
		host:     host,
		log:      r.log.With(slog.String("filter", cfg.Name)),
		rt:       r,
		wr:       wr,
		insts:    make(map[api.Module]*instance),
		metricID: make(map[string]int32),
	}
	ok := false
	defer func() {
		if !ok {
			_ = wr.Close(context.Background())
		}
	}()

	start := time.Now()
	f.compiled, err = wr.CompileModule(ctx, bin)
	if err != nil {
		return fail("compile: %s: %w", cfg.Module, err)
	}
	compileTime := time.Since(start)
	if err := abi.CheckImports(f.compiled); err != nil {
		return fail("%w", err)
	}
	ex, err := abi.CheckExports(f.compiled)
	if err != nil {
		return fail("%w", err)
	}
	if need := uint64(ex.MemoryMinPages) * pageSize; need > f.memLimit {
		return fail("memory: the module starts with %s, over its memory_limit of %s", mib(need), mib(f.memLimit))
	}
	f.hasInitialize = ex.Initialize
	if len(cfg.Signals) == 0 {
		for s, has := range ex.Process {
			if has {
				f.signals = append(f.signals, otlpwire.Signal(s))
			}
		}
	} else {
		for _, s := range cfg.Signals {
			if int(s) >= len(ex.Process) {
				return fail("signals: unknown signal %d", s)
			}
			if !ex.Process[s] {
				return fail("signals: %s: the module does not export %s", s, abi.ProcessExports[s])
			}
			if !f.handles[s] {
				f.signals = append(f.signals, s)
			}
			f.handles[s] = true
		}
	}
	for _, s := range f.signals {
		f.handles[s] = true
	}

	if err := wasi.Instantiate(ctx, wr, f.output); err != nil {
		return fail("host module %s: %w", abi.WASIModule, err)
	}
	if err := hostmod.Instantiate(ctx, wr, (*hostEnv)(f)); err != nil {
		return fail("host module %s: %w", abi.HostModule, err)
	}
	first, err := f.newInstance(ctx)
	if err != nil {
		return fail("%w", err)
	}
	f.bulkOnly, f.haveFirst = first.bulkOnly, true
	if !r.add(f) {
		f.destroy(first)
		return fail("the wasm runtime is closed")
	}
	f.pool = pool.New(cfg.Instances, first, f.newInstance, f.destroy, crashLoop, f.instantiateFailed)
	ok = true
	f.log.Info("filter loaded", slog.String("module", cfg.Module), slog.String("signals", signalNames(f.signals)),
		slog.Duration("compile", compileTime), slog.Int("instances", cfg.Instances))
	return f, nil
}

func (cfg *LoadConfig) defaults() error {
	if cfg.Module == "" {
		return errors.New("module is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("timeout: must be > 0 (got %v)", cfg.Timeout)
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	if cfg.MemoryLimit < pageSize || cfg.MemoryLimit > MaxMemoryLimit {
		return fmt.Errorf("memory_limit: must be between 64KiB and 4GiB (got %d bytes)", cfg.MemoryLimit)
	}
	cfg.MemoryLimit -= cfg.MemoryLimit % pageSize
	if cfg.Instances == 0 {
		cfg.Instances = goruntime.GOMAXPROCS(0)
	}
	if cfg.Instances < 0 {
		return fmt.Errorf("instances: must be > 0 (got %d)", cfg.Instances)
	}
	switch cfg.OnError {
	case "":
		cfg.OnError = OnErrorPass
	case OnErrorPass, OnErrorDrop, OnErrorReject:
	default:
		return fmt.Errorf("on_error: %q is not one of pass, drop, reject", cfg.OnError)
	}
	if len(cfg.Config) == 0 {
		cfg.Config = []byte("{}")
	}
	if !json.Valid(cfg.Config) {
		return errors.New("config: not valid JSON")
	}
	if len(cfg.Config) > math.MaxInt32 {
		return errors.New("config: too large")
	}
	return nil
}

func (r *Runtime) resolve(module string) ([]byte, error) {
	if name, ok := strings.CutPrefix(module, "builtin:"); ok {
		bin, ok := r.builtins[name]
		if !ok {
			return nil, fmt.Errorf("module %s: no such builtin filter", module)
		}
		return bin, nil
	}
	bin, err := os.ReadFile(module)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	return bin, nil
}

func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// signalNames formats signals for logs ("traces,logs"): a []Signal would
// print as raw bytes.
func signalNames(sigs []otlpwire.Signal) string {
	names := make([]string, len(sigs))
	for i, s := range sigs {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}
