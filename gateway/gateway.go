// Package gateway assembles otlpgw's running service from a Config:
// exporters with their queues, the filter chain, the pipeline, the OTLP
// receivers and the admin server, and swaps them on hot reload.
//
// Lifecycle: New builds the first generation and binds nothing. Start
// starts the admin server, then exporters, then receivers (so each stage
// has a live consumer before anything can reach it). Shutdown runs in the
// reverse order: receivers stop taking requests, the pipeline finishes
// what is in flight, filters close, exporters drain their queues until the
// deadline, then the admin server stops. Shutdown is safe twice and
// without Start.
//
// Reload builds a new generation beside the running one, swaps receivers
// over to it, then retires the old one: build new, swap, stop old (see
// reload.go).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlpgw/otlpgw/gateway/admin"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/exporter"
	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"
	"github.com/otlpgw/otlpgw/gateway/internal/memlimit"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/receiver"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// Settings are what the caller injects.
type Settings struct {
	Logger *slog.Logger
	// Metrics, when nil, is created by New.
	Metrics *telemetry.Metrics
	// Builtins resolves filter modules named "builtin:NAME" (the stock
	// filters embedded in the binary; see package filters).
	Builtins map[string][]byte
	// CacheDir is where compiled filter modules are cached; empty picks
	// the user cache directory (see wasmhost.RuntimeConfig).
	CacheDir string
	// ConfigFiles are the files Reload loads again (and the watcher
	// watches); none means the embedded default.
	ConfigFiles []string
	// Env resolves ${env:NAME} on reload; nil is the process environment.
	Env func(string) (string, bool)
	// LogLevel, when set, is the level Logger's handler reads: a reload
	// that changes log.level sets it. Without it, changing log.level
	// needs a restart.
	LogLevel *slog.LevelVar
	// Version is the gateway's version for otlpgw_build_info; empty
	// takes the module version the binary was built from.
	Version string
	// FS is where persistent queues write their journals; nil (what the
	// binary passes) is the real file system. A seam for end-to-end tests,
	// which fill the disk or fail fsyncs under load.
	FS faultfs.FS
}

// Gateway is the running service.
type Gateway struct {
	set     Settings
	log     *slog.Logger
	metrics *telemetry.Metrics
	mem     *memlimit.Watcher
	admin   *admin.Server

	// runtime compiles and runs filters for every generation; made on
	// first need, closed by Shutdown.
	runtimeMu sync.Mutex
	runtime   *wasmhost.Runtime
	host      *hostEnv

	cur  atomic.Pointer[generation]
	grpc atomic.Pointer[receiver.GRPC]
	http atomic.Pointer[receiver.HTTP]

	reload reloader

	// draining is set the moment Shutdown stops intake; readiness reads it.
	draining atomic.Bool

	stopMem  context.CancelFunc
	memDone  chan struct{}
	started  time.Time
	shutOnce sync.Once
	shutErr  error
}

// generation is everything built from one Config value. Exporters may be
// shared with the generation before or after it (an unchanged exporter
// keeps its queue and connection across reloads).
type generation struct {
	num       int64
	cfg       *config.Config
	hash      string
	loadedAt  time.Time
	exporters []*exporter.Exporter
	filters   []*chainFilter
	pipe      *pipeline.Generation
}

// New builds a gateway from cfg, which must have passed Validate.
func New(cfg *config.Config, set Settings) (*Gateway, error) {
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Metrics == nil {
		set.Metrics = telemetry.NewMetrics()
	}
	g := &Gateway{set: set, log: set.Logger, metrics: set.Metrics}

	limits, err := memlimit.Resolve(cfg.MemoryLimit)
	if err != nil {
		return nil, err
	}
	g.mem = memlimit.NewWatcher(limits, memlimit.Options{Logger: g.log, Getenv: set.Env, Pressure: g.metrics.MemoryPressure, InUse: g.metrics.MemoryInUse, Limit: g.metrics.MemoryLimit})

	gen, _, err := g.build(context.Background(), cfg, nil)
	if err != nil {
		g.closeRuntime()
		return nil, err
	}
	gen.num = 1
	g.cur.Store(gen)

	rset := receiver.Settings{Logger: g.log, Metrics: g.metrics}
	warnCleartextTokens(g.log, cfg)
	if cfg.Receivers.OTLP.GRPC.Endpoint != "" {
		g.grpc.Store(receiver.NewGRPC(cfg.Receivers.OTLP.GRPC, gen.pipe, rset))
	}
	if cfg.Receivers.OTLP.HTTP.Endpoint != "" {
		g.http.Store(receiver.NewHTTP(cfg.Receivers.OTLP.HTTP, gen.pipe, rset))
	}
	g.admin = admin.New(cfg.Admin, g.metrics.Registry, g.readiness, g.log, func(mux *http.ServeMux) {
		g.reloadHandlers(mux)
		mux.Handle("GET /-/config", g.ConfigHandler())
	})
	g.metrics.ConfigGeneration.Set(1)
	g.metrics.BuildInfo.WithLabelValues(buildInfo(set.Version)).Set(1)
	for _, r := range reloadResults {
		g.metrics.ConfigReloads.WithLabelValues(r)
	}
	return g, nil
}

// build makes a generation from cfg, reusing prev's exporters whose
// configuration is unchanged. It starts nothing and binds nothing; created
// lists the exporters it made, which the caller starts on commit or shuts
// down on failure.
func (g *Gateway) build(ctx context.Context, cfg *config.Config, prev *generation) (_ *generation, created []*exporter.Exporter, err error) {
	gen := &generation{cfg: cfg, hash: cfg.Hash(), loadedAt: time.Now()}
	defer func() {
		if err != nil {
			shutdownNow(created)
		}
	}()
	for i, ec := range cfg.Exporters {
		if e := prev.reusable(ec, cfg); e != nil {
			gen.exporters = append(gen.exporters, e)
			continue
		}
		e, err := exporter.New(ec, cfg.Batch, int64(cfg.Queue.MaxBytes), exporter.Settings{Logger: g.log, Metrics: g.metrics, PersistentDir: cfg.Queue.Persistent.Directory, FS: g.set.FS})
		if err != nil {
			return nil, created, fmt.Errorf("exporters[%d] (%s): %w", i, ec.Name, err)
		}
		created = append(created, e)
		gen.exporters = append(gen.exporters, e)
		g.metrics.ShutdownAtRisk.WithLabelValues(ec.Name).Set(0)
	}
	if len(cfg.Filters) > 0 {
		rt, err := g.filterRuntime(ctx)
		if err != nil {
			return nil, created, err
		}
		var prevFilters []*chainFilter
		if prev != nil {
			prevFilters = prev.filters
		}
		var loaded []*chainFilter
		if gen.filters, loaded, err = loadFilters(ctx, rt, cfg.Filters, g.set.Builtins, prevFilters, g.host, g.metrics); err != nil {
			return nil, created, err
		}
		defer func() {
			if err != nil {
				closeFilters(loaded)
			}
		}()
	}
	chain := pipelineChain(gen.filters)
	dests := make([]pipeline.Destination, len(gen.exporters))
	for i, e := range gen.exporters {
		dests[i] = e
	}
	gen.pipe = pipeline.NewGeneration(chain, dests, pipeline.Options{
		MaxItems:     cfg.Batch.MaxItems,
		MaxBytes:     int(cfg.Batch.MaxBytes),
		BlockTimeout: cfg.Queue.BlockTimeout,
		OverMemory:   g.mem.Over,
	}, pipeline.Settings{Logger: g.log})
	return gen, created, nil
}

// reusable returns prev's exporter that ec describes unchanged (same
// name, same settings, same batch and queue limits), or nil.
func (prev *generation) reusable(ec config.Exporter, cfg *config.Config) *exporter.Exporter {
	if prev == nil {
		return nil
	}
	for i, pe := range prev.cfg.Exporters {
		if pe.Name == ec.Name && sameExporter(pe, ec) && prev.cfg.Batch == cfg.Batch && prev.cfg.Queue.MaxBytes == cfg.Queue.MaxBytes {
			return prev.exporters[i]
		}
	}
	return nil
}

func (g *Gateway) filterRuntime(ctx context.Context) (*wasmhost.Runtime, error) {
	g.runtimeMu.Lock()
	defer g.runtimeMu.Unlock()
	if g.runtime == nil {
		rt, err := wasmhost.NewRuntime(ctx, wasmhost.RuntimeConfig{CacheDir: g.set.CacheDir, Builtins: g.set.Builtins, Logger: g.log})
		if err != nil {
			return nil, fmt.Errorf("filters: %w", err)
		}
		g.runtime, g.host = rt, newHostEnv(g)
	}
	return g.runtime, nil
}

func (g *Gateway) closeRuntime() {
	g.runtimeMu.Lock()
	defer g.runtimeMu.Unlock()
	if g.runtime != nil {
		_ = g.runtime.Close(context.Background())
		g.runtime = nil
	}
}

// Start brings the gateway up: admin, exporters, then receivers. If any
// step fails, what was started is stopped again and the error returned.
func (g *Gateway) Start(ctx context.Context) error {
	g.started = time.Now()
	memCtx, cancel := context.WithCancel(context.Background())
	g.stopMem, g.memDone = cancel, make(chan struct{})
	go func() { defer close(g.memDone); g.mem.Run(memCtx, 250*time.Millisecond) }()

	if err := g.admin.Start(); err != nil {
		_ = g.Shutdown(ctx)
		return err
	}
	hard, source, soft := g.mem.Effective()
	g.log.Info("memory limit", "limit_bytes", hard, "source", source, "soft_limit_bytes", soft)
	gen := g.cur.Load()
	for _, e := range gen.exporters {
		e.Start()
	}
	if r := g.grpc.Load(); r != nil {
		if err := r.Start(ctx); err != nil {
			_ = g.Shutdown(ctx)
			return fmt.Errorf("receivers.otlp.grpc: %w", err)
		}
	}
	if r := g.http.Load(); r != nil {
		if err := r.Start(ctx); err != nil {
			_ = g.Shutdown(ctx)
			return fmt.Errorf("receivers.otlp.http: %w", err)
		}
	}
	g.metrics.ConfigLastReloadOK.Set(1)
	g.metrics.ConfigLastReloadSuccessT.SetToCurrentTime()
	g.reload.loaded(gen)
	if err := g.reload.watch(g); err != nil {
		g.log.Warn("watching the config files failed; reload with SIGHUP or POST /-/reload", "err", err)
	}
	g.log.Info("otlpgw started", "grpc", addrString(g.GRPCAddr()), "http", addrString(g.HTTPAddr()), "admin", addrString(g.AdminAddr()), "exporters", len(gen.exporters), "filters", len(gen.filters))
	return nil
}

// Shutdown stops intake, drains queues into the exporters until ctx ends,
// and stops. It returns an error counting items that could not be
// delivered in time.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutOnce.Do(func() { g.shutErr = g.shutdown(ctx) })
	return g.shutErr
}

func (g *Gateway) shutdown(ctx context.Context) error {
	var errs []error
	// 0. No reload may start or finish under us.
	g.reload.stop()
	// 1. Stop intake. Receivers finish the requests they are serving.
	// Readiness turns "draining" first, so no probe sees a gateway that
	// refuses connections as ready.
	g.draining.Store(true)
	g.metrics.Draining.Set(1)
	if r := g.grpc.Load(); r != nil {
		errs = append(errs, r.Shutdown(ctx))
	}
	if r := g.http.Load(); r != nil {
		errs = append(errs, r.Shutdown(ctx))
	}
	gen := g.cur.Load()
	// 2. Anything still inside the pipeline finishes queueing.
	errs = append(errs, gen.pipe.Drain(ctx))
	// 3. Nothing reaches the filters any more.
	closeFilters(gen.filters)
	g.closeRuntime()
	// 4. Exporters drain their queues, bounded by ctx. What each holds in
	// memory now is at risk, and is published before the drain starts:
	// the loss counter is only final in the last milliseconds before
	// exit, which no scrape sees, while a drain that will lose items
	// lasts shutdown_timeout, over a scrape interval.
	for _, e := range gen.exporters {
		if !e.Queue().Persistent() {
			g.metrics.ShutdownAtRisk.WithLabelValues(e.Name()).Set(float64(e.Queue().Items()))
		}
	}
	for _, e := range gen.exporters {
		if err := e.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("exporter[%s]: %w", e.Name(), err))
		}
		g.metrics.ShutdownAtRisk.WithLabelValues(e.Name()).Set(float64(e.Lost()))
	}
	// 5. The admin server goes last so /metrics shows the drain.
	adminCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	errs = append(errs, g.admin.Shutdown(adminCtx))
	if g.stopMem != nil {
		g.stopMem()
		<-g.memDone
	}
	return errors.Join(errs...)
}

// shutdownNow stops exporters that never carried data.
func shutdownNow(es []*exporter.Exporter) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, e := range es {
		_ = e.Shutdown(ctx)
	}
}

// GRPCAddr is the bound OTLP/gRPC address, or nil if disabled or not started.
func (g *Gateway) GRPCAddr() net.Addr {
	if r := g.grpc.Load(); r != nil {
		return r.Addr()
	}
	return nil
}

// HTTPAddr is the bound OTLP/HTTP address, or nil if disabled or not started.
func (g *Gateway) HTTPAddr() net.Addr {
	if r := g.http.Load(); r != nil {
		return r.Addr()
	}
	return nil
}

// AdminAddr is the bound admin address, or nil before Start.
func (g *Gateway) AdminAddr() net.Addr { return g.admin.Addr() }

// Metrics is the gateway's metric set.
func (g *Gateway) Metrics() *telemetry.Metrics { return g.metrics }

// Generation is the number of the running configuration generation (1 at
// start, one more per successful reload or rollback).
func (g *Gateway) Generation() int64 { return g.cur.Load().num }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// warnCleartextTokens logs, once at start, each receiver that checks
// bearer tokens without TLS: anyone on the path can read them.
func warnCleartextTokens(log *slog.Logger, cfg *config.Config) {
	g, h := cfg.Receivers.OTLP.GRPC, cfg.Receivers.OTLP.HTTP
	if g.Endpoint != "" && len(g.Auth.BearerTokens) > 0 && !g.TLS.Enabled() {
		log.Warn("receivers.otlp.grpc checks bearer tokens without TLS: they travel in clear", "endpoint", g.Endpoint)
	}
	if h.Endpoint != "" && len(h.Auth.BearerTokens) > 0 && !h.TLS.Enabled() {
		log.Warn("receivers.otlp.http checks bearer tokens without TLS: they travel in clear", "endpoint", h.Endpoint)
	}
	if a := cfg.Admin; a.Auth.BearerToken != "" && !a.TLS.Enabled() {
		log.Warn("admin checks a bearer token without TLS: it travels in clear", "endpoint", a.Endpoint)
	}
}
