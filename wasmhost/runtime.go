package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
)

// RuntimeConfig configures a Runtime. The zero value is usable.
type RuntimeConfig struct {
	// CacheDir keeps compiled modules on disk between runs: a Go filter
	// compiles in 1-1.5 s cold and 0.1-0.2 s from the cache. Default:
	// otlpgw/wazero under os.UserCacheDir(); when that cannot be created, a
	// temporary directory that Close removes.
	CacheDir string
	// Builtins resolves LoadConfig.Module "builtin:NAME": NAME to the
	// module's bytes (the stock filters embedded in the binary). Default:
	// none. The map is read, never written.
	Builtins map[string][]byte
	// Logger receives the host's logs about filters (load, failures, crash
	// loops) and the filters' own log lines, each with filter=NAME.
	// Default: discarded.
	Logger *slog.Logger

	// noDeadline loads modules without the deadline instrumentation, for
	// the benchmark that measures what it costs. Never in production: a
	// looping guest would then hang the gateway (ARCHITECTURE §4).
	noDeadline bool
}

// Runtime compiles and runs filters. Make one per process and share it: it
// owns the compilation cache (and through it wazero's compiler engine, so a
// module compiled once is compiled for every filter and every reload that
// uses it). Each filter gets its own wazero runtime inside it, because a
// runtime carries one set of host modules and the host functions are bound
// to their filter.
type Runtime struct {
	cache      wazero.CompilationCache
	tmpDir     string
	builtins   map[string][]byte
	log        *slog.Logger
	noDeadline bool

	// loading is held shared by each Load and exclusively by Close, so the
	// cache (and its engine) is never closed under a compilation.
	loading sync.RWMutex
	mu      sync.Mutex
	filters map[*Filter]struct{}
	closed  bool
}

// NewRuntime opens the compilation cache and returns a Runtime.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{
		builtins:   cfg.Builtins,
		log:        log,
		noDeadline: cfg.noDeadline,
		filters:    make(map[*Filter]struct{}),
	}
	dir := cfg.CacheDir
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "otlpgw", "wazero")
		}
	}
	var err error
	if dir != "" {
		if r.cache, err = wazero.NewCompilationCacheWithDir(dir); err == nil {
			return r, nil
		}
		if cfg.CacheDir != "" {
			return nil, fmt.Errorf("wasm runtime: compilation cache %s: %w", dir, err)
		}
		log.Info("wasm compilation cache unavailable, using a temporary directory", slog.String("dir", dir), slog.Any("error", err))
	}
	if r.tmpDir, err = os.MkdirTemp("", "otlpgw-wazero-"); err != nil {
		return nil, fmt.Errorf("wasm runtime: compilation cache: %w", err)
	}
	if r.cache, err = wazero.NewCompilationCacheWithDir(r.tmpDir); err != nil {
		_ = os.RemoveAll(r.tmpDir)
		return nil, fmt.Errorf("wasm runtime: compilation cache %s: %w", r.tmpDir, err)
	}
	return r, nil
}

// Close closes every filter still open (see Filter.Close; ctx bounds the
// wait for their calls in flight), then the compilation cache. Safe to call
// twice.
func (r *Runtime) Close(ctx context.Context) error {
	r.loading.Lock()
	defer r.loading.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	open := make([]*Filter, 0, len(r.filters))
	for f := range r.filters {
		open = append(open, f)
	}
	r.mu.Unlock()

	var errs []error
	for _, f := range open {
		errs = append(errs, f.Close(ctx))
	}
	errs = append(errs, r.cache.Close(ctx))
	if r.tmpDir != "" {
		errs = append(errs, os.RemoveAll(r.tmpDir))
	}
	return errors.Join(errs...)
}

func (r *Runtime) add(f *Filter) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.filters[f] = struct{}{}
	return true
}

func (r *Runtime) remove(f *Filter) {
	r.mu.Lock()
	delete(r.filters, f)
	r.mu.Unlock()
}
