// Package gateway assembles otlpgw's running service from one Config:
// exporters with their queues, the pipeline generation, the OTLP receivers
// and the admin server, with the lifecycle rules below.
//
// Lifecycle: New builds everything and binds nothing. Start starts the
// admin server, then exporters, then receivers (so each stage has a live
// consumer before anything can reach it). Shutdown runs in the reverse
// order: receivers stop taking requests, the pipeline finishes what is in
// flight, exporters drain their queues until the deadline, then the admin
// server stops. Shutdown is safe twice and without Start.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/otlpgw/otlpgw/gateway/admin"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/exporter"
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
}

// Gateway is the running service.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *telemetry.Metrics

	exporters []*exporter.Exporter
	runtime   *wasmhost.Runtime
	host      *hostEnv
	filters   []*chainFilter
	gen       *pipeline.Generation
	grpc      *receiver.GRPC
	http      *receiver.HTTP
	admin     *admin.Server
	mem       *memlimit.Watcher

	stopMem  context.CancelFunc
	memDone  chan struct{}
	started  time.Time
	shutOnce sync.Once
	shutErr  error
}

// New builds a gateway from cfg, which must have passed Validate.
func New(cfg *config.Config, set Settings) (*Gateway, error) {
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Metrics == nil {
		set.Metrics = telemetry.NewMetrics()
	}
	g := &Gateway{cfg: cfg, log: set.Logger, metrics: set.Metrics}

	limits, err := memlimit.Resolve(cfg.MemoryLimit)
	if err != nil {
		return nil, err
	}
	g.mem = memlimit.NewWatcher(limits)

	dests := make([]pipeline.Destination, 0, len(cfg.Exporters))
	for i, ec := range cfg.Exporters {
		e, err := exporter.New(ec, cfg.Batch, int64(cfg.Queue.MaxBytes), exporter.Settings{Logger: g.log, Metrics: g.metrics})
		if err != nil {
			g.closeExporters()
			return nil, fmt.Errorf("exporters[%d] (%s): %w", i, ec.Name, err)
		}
		g.exporters = append(g.exporters, e)
		dests = append(dests, e)
	}

	if len(cfg.Filters) > 0 {
		rt, err := wasmhost.NewRuntime(context.Background(), wasmhost.RuntimeConfig{CacheDir: set.CacheDir, Builtins: set.Builtins, Logger: g.log})
		if err != nil {
			g.closeExporters()
			return nil, fmt.Errorf("filters: %w", err)
		}
		g.runtime, g.host = rt, newHostEnv(g)
		g.filters, err = loadFilters(context.Background(), rt, cfg.Filters, g.host, g.metrics)
		if err != nil {
			_ = rt.Close(context.Background())
			g.closeExporters()
			return nil, err
		}
	}
	chain := make([]pipeline.Filter, len(g.filters))
	for i, f := range g.filters {
		chain[i] = f
	}

	g.gen = pipeline.NewGeneration(chain, dests, pipeline.Options{
		MaxItems:     cfg.Batch.MaxItems,
		MaxBytes:     int(cfg.Batch.MaxBytes),
		BlockTimeout: cfg.Queue.BlockTimeout,
		OverMemory:   g.mem.Over,
	}, pipeline.Settings{Logger: g.log})

	rset := receiver.Settings{Logger: g.log, Metrics: g.metrics}
	if cfg.Receivers.OTLP.GRPC.Endpoint != "" {
		g.grpc = receiver.NewGRPC(cfg.Receivers.OTLP.GRPC, g.gen, rset)
	}
	if cfg.Receivers.OTLP.HTTP.Endpoint != "" {
		g.http = receiver.NewHTTP(cfg.Receivers.OTLP.HTTP, g.gen, rset)
	}
	g.admin = admin.New(cfg.Admin.Endpoint, g.metrics.Registry, g.readiness, g.log, nil)
	g.metrics.ConfigGeneration.Set(1)
	return g, nil
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
	for _, e := range g.exporters {
		e.Start()
	}
	if g.grpc != nil {
		if err := g.grpc.Start(ctx); err != nil {
			_ = g.Shutdown(ctx)
			return fmt.Errorf("receivers.otlp.grpc: %w", err)
		}
	}
	if g.http != nil {
		if err := g.http.Start(ctx); err != nil {
			_ = g.Shutdown(ctx)
			return fmt.Errorf("receivers.otlp.http: %w", err)
		}
	}
	g.metrics.ConfigLastReloadOK.Set(1)
	g.metrics.ConfigLastReloadSuccessT.SetToCurrentTime()
	g.metrics.ConfigReloads.WithLabelValues("success")
	g.log.Info("otlpgw started", "grpc", addrString(g.GRPCAddr()), "http", addrString(g.HTTPAddr()), "admin", addrString(g.AdminAddr()), "exporters", len(g.exporters))
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
	// 1. Stop intake. Receivers finish the requests they are serving.
	if g.grpc != nil {
		errs = append(errs, g.grpc.Shutdown(ctx))
	}
	if g.http != nil {
		errs = append(errs, g.http.Shutdown(ctx))
	}
	// 2. Anything still inside the pipeline finishes queueing.
	errs = append(errs, g.gen.Drain(ctx))
	// 3. Nothing reaches the filters any more.
	if g.runtime != nil {
		closeFilters(g.filters)
		errs = append(errs, g.runtime.Close(ctx))
	}
	// 4. Exporters drain their queues, bounded by ctx.
	var exportErrs []error
	for _, e := range g.exporters {
		if err := e.Shutdown(ctx); err != nil {
			exportErrs = append(exportErrs, fmt.Errorf("exporter[%s]: %w", e.Name(), err))
		}
	}
	errs = append(errs, exportErrs...)
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

func (g *Gateway) closeExporters() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, e := range g.exporters {
		_ = e.Shutdown(ctx)
	}
}

// GRPCAddr is the bound OTLP/gRPC address, or nil if disabled or not started.
func (g *Gateway) GRPCAddr() net.Addr {
	if g.grpc == nil {
		return nil
	}
	return g.grpc.Addr()
}

// HTTPAddr is the bound OTLP/HTTP address, or nil if disabled or not started.
func (g *Gateway) HTTPAddr() net.Addr {
	if g.http == nil {
		return nil
	}
	return g.http.Addr()
}

// AdminAddr is the bound admin address, or nil before Start.
func (g *Gateway) AdminAddr() net.Addr { return g.admin.Addr() }

// Metrics is the gateway's metric set.
func (g *Gateway) Metrics() *telemetry.Metrics { return g.metrics }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
