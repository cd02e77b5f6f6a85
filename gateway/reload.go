package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/exporter"
	"github.com/otlpgw/otlpgw/gateway/internal/procs"
	"github.com/otlpgw/otlpgw/gateway/receiver"
)

// Reload outcomes, the result label of otlpgw_config_reloads_total.
const (
	reloadSuccess     = "success"
	reloadInvalid     = "invalid"      // the new config does not load or validate
	reloadFailedStart = "failed_start" // it validated but could not be built or started
	reloadRolledBack  = "rolled_back"  // it ran, failed on probation and was replaced by the last good one
)

// reloadResults lists every result. New creates each series at 0, so the
// first reload of a kind is an increase an alert can see: a series born at
// 1 has no increase, and OtlpgwConfigRolledBack would miss the first
// rollback.
var reloadResults = [...]string{reloadSuccess, reloadInvalid, reloadFailedStart, reloadRolledBack}

// ErrReloadInProgress is returned by Reload while another reload runs.
var ErrReloadInProgress = errors.New("a reload is already in progress")

// ReloadError is a failed reload: the running configuration is unchanged.
type ReloadError struct {
	Result string // reloadInvalid or reloadFailedStart
	Err    error
}

func (e *ReloadError) Error() string { return e.Err.Error() }
func (e *ReloadError) Unwrap() error { return e.Err }

// ReloadSummary says what a successful reload changed.
type ReloadSummary struct {
	Generation       int64    `json:"generation"`
	ConfigHash       string   `json:"config_hash"`
	ExportersAdded   []string `json:"exporters_added"`
	ExportersRemoved []string `json:"exporters_removed"`
	ExportersKept    []string `json:"exporters_kept"`
	Filters          []string `json:"filters"`
	FiltersKept      []string `json:"filters_kept"` // unchanged, carried over without reloading
	FiltersLoaded    []string `json:"filters_loaded"`
	SwapMillis       float64  `json:"swap_ms"`
}

// reloader serialises reloads and keeps what /-/reload and /readyz report.
type reloader struct {
	mu      sync.Mutex // held for a whole reload; TryLock answers 409
	stopped bool       // set by Shutdown, under mu

	stateMu  sync.Mutex
	state    reloadState
	probe    context.CancelFunc // ends the running probation
	watcher  *fsnotify.Watcher
	bg       sync.WaitGroup // retirements, probation, the watcher
	fileHash [sha256.Size]byte
}

type reloadState struct {
	Generation   int64     `json:"generation"`
	ConfigHash   string    `json:"config_hash"`
	LoadedAt     time.Time `json:"loaded_at"`
	LastResult   string    `json:"last_result,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	FailedConfig string    `json:"failed_config_hash,omitempty"`
	OnProbation  bool      `json:"on_probation"`
}

func (r *reloader) loaded(gen *generation) {
	r.stateMu.Lock()
	r.state.Generation, r.state.ConfigHash, r.state.LoadedAt = gen.num, gen.hash, gen.loadedAt
	r.stateMu.Unlock()
}

func (r *reloader) snapshot() reloadState {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.state
}

// stop waits for any reload, prevents new ones and stops background work.
func (r *reloader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.stateMu.Lock()
	if r.probe != nil {
		r.probe()
	}
	w := r.watcher
	r.stateMu.Unlock()
	if w != nil {
		_ = w.Close()
	}
	r.bg.Wait()
}

// Reload loads the configuration files again and, if the result loads,
// validates, builds and starts, swaps it in and retires the running one.
// On any failure before the swap the running configuration is untouched.
func (g *Gateway) Reload(ctx context.Context) (ReloadSummary, error) {
	if !g.reload.mu.TryLock() {
		return ReloadSummary{}, ErrReloadInProgress
	}
	defer g.reload.mu.Unlock()
	if g.reload.stopped {
		return ReloadSummary{}, errors.New("the gateway is shutting down")
	}
	// Filters are checked by building them (see build), so a module that
	// would not load fails the reload as invalid, with the same messages
	// otlpgw validate prints, and is loaded only once.
	cfg, warnings, err := config.LoadWithWarnings(g.set.ConfigFiles, g.set.Env)
	for _, w := range warnings {
		// A ConfigMap emptied by mistake reloads as every default.
		g.log.Warn(w)
	}
	if err != nil {
		return ReloadSummary{}, g.reloadFailed(&ReloadError{Result: reloadInvalid, Err: err})
	}
	sum, err := g.swapTo(ctx, cfg, nil)
	if err != nil {
		return ReloadSummary{}, g.reloadFailed(err)
	}
	g.metrics.ConfigReloads.WithLabelValues(reloadSuccess).Inc()
	return sum, nil
}

func (g *Gateway) reloadFailed(err error) error {
	var re *ReloadError
	if !errors.As(err, &re) {
		re = &ReloadError{Result: reloadFailedStart, Err: err}
	}
	g.metrics.ConfigReloads.WithLabelValues(re.Result).Inc()
	g.metrics.ConfigLastReloadOK.Set(0)
	g.reload.stateMu.Lock()
	g.reload.state.LastResult, g.reload.state.LastError, g.reload.state.LastAttempt = re.Result, re.Error(), time.Now()
	g.reload.stateMu.Unlock()
	g.log.Error("configuration reload failed; the running configuration is unchanged", "result", re.Result, "err", re.Err)
	return re
}

// rollbackOf describes the failing generation a swap replaces, when the
// swap is a rollback.
type rollbackOf struct {
	bad    *generation
	reason string
}

// swapTo builds cfg beside the running generation and swaps it in. The
// caller holds reload.mu. rb is set when this swap rolls a failing
// generation back: its outcome is then recorded as rolled_back, and the
// restored configuration is not put on probation again.
func (g *Gateway) swapTo(ctx context.Context, cfg *config.Config, rb *rollbackOf) (ReloadSummary, error) {
	// Building a generation is a burst of work (modules instantiated,
	// listeners bound): with GOMAXPROCS adapted down to one P it would
	// compete with traffic, so every core is used until it is done.
	defer procs.Busy()()
	start := time.Now()
	old := g.cur.Load()
	if err := restartOnly(old.cfg, cfg, g.set.LogLevel != nil); err != nil {
		return ReloadSummary{}, &ReloadError{Result: reloadInvalid, Err: err}
	}
	gen, created, err := g.build(ctx, cfg, old)
	if err != nil {
		result := reloadFailedStart
		if fe := (*filterError)(nil); errors.As(err, &fe) {
			result = reloadInvalid
		}
		return ReloadSummary{}, &ReloadError{Result: result, Err: err}
	}
	discard := func() {
		closeFilters(notIn(gen.filters, old.filters))
		shutdownNow(created)
	}

	// Bind changed listeners before anything is swapped: a port that is
	// taken fails the reload, not the gateway.
	rset := receiver.Settings{Logger: g.log, Metrics: g.metrics}
	var newGRPC *receiver.GRPC
	var newHTTP *receiver.HTTP
	if ep := cfg.Receivers.OTLP.GRPC.Endpoint; ep != old.cfg.Receivers.OTLP.GRPC.Endpoint && ep != "" {
		newGRPC = receiver.NewGRPC(cfg.Receivers.OTLP.GRPC, gen.pipe, rset)
		if err := newGRPC.Start(ctx); err != nil {
			_ = newGRPC.Shutdown(ctx) // its server already runs worker goroutines
			discard()
			return ReloadSummary{}, &ReloadError{Result: reloadFailedStart, Err: fmt.Errorf("receivers.otlp.grpc.endpoint: %w", err)}
		}
	}
	if ep := cfg.Receivers.OTLP.HTTP.Endpoint; ep != old.cfg.Receivers.OTLP.HTTP.Endpoint && ep != "" {
		newHTTP = receiver.NewHTTP(cfg.Receivers.OTLP.HTTP, gen.pipe, rset)
		if err := newHTTP.Start(ctx); err != nil {
			_ = newHTTP.Shutdown(ctx)
			if newGRPC != nil {
				_ = newGRPC.Shutdown(ctx)
			}
			discard()
			return ReloadSummary{}, &ReloadError{Result: reloadFailedStart, Err: fmt.Errorf("receivers.otlp.http.endpoint: %w", err)}
		}
	}

	// Swap: new exporters run first, then every receiver feeds the new
	// pipeline. From here on the reload cannot fail.
	for _, e := range created {
		e.Start()
	}
	gen.num = old.num + 1
	var retiredGRPC, retiredHTTP interface{ Shutdown(context.Context) error }
	if cfg.Receivers.OTLP.GRPC.Endpoint == old.cfg.Receivers.OTLP.GRPC.Endpoint {
		if r := g.grpc.Load(); r != nil {
			r.SetConsumer(gen.pipe)
		}
	} else {
		if r := g.grpc.Swap(newGRPC); r != nil {
			retiredGRPC = r
		}
	}
	if cfg.Receivers.OTLP.HTTP.Endpoint == old.cfg.Receivers.OTLP.HTTP.Endpoint {
		if r := g.http.Load(); r != nil {
			r.SetConsumer(gen.pipe)
		}
	} else {
		if r := g.http.Swap(newHTTP); r != nil {
			retiredHTTP = r
		}
	}
	swapped := time.Since(start)

	sum := ReloadSummary{Generation: gen.num, ConfigHash: gen.hash, SwapMillis: float64(swapped.Microseconds()) / 1000}
	for _, e := range gen.exporters {
		if slices.Contains(created, e) {
			sum.ExportersAdded = append(sum.ExportersAdded, e.Name())
		} else {
			sum.ExportersKept = append(sum.ExportersKept, e.Name())
		}
	}
	var retiredExporters []*exporter.Exporter
	for _, e := range old.exporters {
		if !slices.Contains(gen.exporters, e) {
			retiredExporters = append(retiredExporters, e)
			sum.ExportersRemoved = append(sum.ExportersRemoved, e.Name())
		}
	}
	for _, f := range gen.filters {
		sum.Filters = append(sum.Filters, f.name)
		if slices.Contains(old.filters, f) {
			sum.FiltersKept = append(sum.FiltersKept, f.name)
		} else {
			sum.FiltersLoaded = append(sum.FiltersLoaded, f.name)
		}
	}

	g.metrics.ConfigGeneration.Set(float64(gen.num))
	if cfg.Log.Level != old.cfg.Log.Level {
		g.setLogLevel(cfg.Log.Level)
	}
	st := reloadState{Generation: gen.num, ConfigHash: gen.hash, LoadedAt: gen.loadedAt, LastResult: reloadSuccess, LastAttempt: time.Now()}
	if rb != nil {
		g.metrics.ConfigReloads.WithLabelValues(reloadRolledBack).Inc()
		g.metrics.ConfigLastReloadOK.Set(0)
		st.LastResult = reloadRolledBack
		st.LastError = "configuration " + rb.bad.hash[:12] + " rolled back: " + rb.reason
		st.FailedConfig = rb.bad.hash
	} else {
		g.metrics.ConfigLastReloadOK.Set(1)
		g.metrics.ConfigLastReloadSuccessT.SetToCurrentTime()
	}
	g.reload.stateMu.Lock()
	if rb == nil {
		st.FailedConfig = g.reload.state.FailedConfig
	}
	g.reload.state = st
	g.reload.stateMu.Unlock()
	// The generation number moves last, so whoever sees it sees the
	// state and metrics of this swap too. (Receivers already feed gen.)
	g.cur.Store(gen)
	g.log.Info("configuration reloaded", "generation", gen.num, "config_hash", gen.hash[:12], "swap", swapped,
		"exporters_added", sum.ExportersAdded, "exporters_removed", sum.ExportersRemoved, "filters", sum.Filters)

	// Stop old: finish what the old pipeline holds, then release it.
	timeout := cfg.ShutdownTimeout
	g.reload.bg.Add(1)
	go func() {
		defer g.reload.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if retiredGRPC != nil {
			_ = retiredGRPC.Shutdown(ctx)
		}
		if retiredHTTP != nil {
			_ = retiredHTTP.Shutdown(ctx)
		}
		if err := old.pipe.Drain(ctx); err != nil {
			g.log.Warn("retiring the previous configuration", "err", err)
		}
		closeFilters(notIn(old.filters, gen.filters))
		for _, e := range retiredExporters {
			if err := e.Shutdown(ctx); err != nil {
				g.log.Error("retired exporter stopped with undelivered data", "exporter", e.Name(), "err", err)
			}
		}
	}()
	if rb == nil {
		g.startProbation(old, gen)
	} else {
		g.stopProbation()
	}
	return sum, nil
}

// restartOnly reports settings a reload cannot change in place. levelHot
// says the logger's level can change (Settings.LogLevel is set).
func restartOnly(old, cfg *config.Config, levelHot bool) error {
	var errs []error
	if old.Admin != cfg.Admin {
		errs = append(errs, errors.New("admin: changing it needs a restart"))
	}
	if old.MemoryLimit != cfg.MemoryLimit {
		errs = append(errs, errors.New("memory_limit: changing it needs a restart"))
	}
	if old.Log.Format != cfg.Log.Format {
		errs = append(errs, errors.New("log.format: changing it needs a restart"))
	}
	if old.Log.Level != cfg.Log.Level && !levelHot {
		errs = append(errs, errors.New("log.level: changing it needs a restart (the logger has no level variable)"))
	}
	if old.Runtime != cfg.Runtime {
		errs = append(errs, errors.New("runtime: changing it needs a restart"))
	}
	if old.Queue.Persistent != cfg.Queue.Persistent {
		errs = append(errs, errors.New("queue.persistent.directory: changing it needs a restart"))
	}
	og, ng := old.Receivers.OTLP.GRPC, cfg.Receivers.OTLP.GRPC
	if og.Endpoint == ng.Endpoint && !reflect.DeepEqual(og, ng) {
		errs = append(errs, errors.New("receivers.otlp.grpc: changing its settings on an unchanged endpoint needs a restart"))
	}
	oh, nh := old.Receivers.OTLP.HTTP, cfg.Receivers.OTLP.HTTP
	if oh.Endpoint == nh.Endpoint && !reflect.DeepEqual(oh, nh) {
		errs = append(errs, errors.New("receivers.otlp.http: changing its settings on an unchanged endpoint needs a restart"))
	}
	return errors.Join(errs...)
}

func sameExporter(a, b config.Exporter) bool { return reflect.DeepEqual(a, b) }

// startProbation watches gen's filters for the probation window and rolls
// back to prev's configuration if they fail far more often than prev's did.
// stopProbation ends the running probation, if any.
func (g *Gateway) stopProbation() {
	g.reload.stateMu.Lock()
	if g.reload.probe != nil {
		g.reload.probe()
	}
	g.reload.probe = nil
	g.reload.stateMu.Unlock()
}

func (g *Gateway) startProbation(prev, gen *generation) {
	rc := gen.cfg.Reload
	g.stopProbation() // a newer configuration ends the previous probation
	if rc.Probation <= 0 || len(gen.filters) == 0 {
		return
	}
	// What each filter of the previous configuration failed at, by name:
	// a filter that failed as often before is not the new config's fault.
	prevRatio := map[string]float64{}
	for _, f := range prev.filters {
		prevRatio[f.name] = failureRatio(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rc.Probation)
	g.reload.stateMu.Lock()
	g.reload.probe = cancel
	g.reload.state.OnProbation = true
	g.reload.stateMu.Unlock()
	base := snapshotCalls(gen.filters)
	g.reload.bg.Add(1)
	go func() {
		defer g.reload.bg.Done()
		defer cancel()
		defer func() {
			g.reload.stateMu.Lock()
			if g.reload.state.Generation == gen.num {
				g.reload.state.OnProbation = false
			}
			g.reload.stateMu.Unlock()
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var reason string
			for i, f := range gen.filters {
				calls := f.calls.Load() - base.calls[i]
				failures := f.failuresN.Load() - base.failures[i]
				if calls < int64(rc.MinCalls) {
					continue
				}
				ratio := float64(failures) / float64(calls)
				if before, ok := prevRatio[f.name]; ratio > rc.FailureRatio && (!ok || before <= rc.FailureRatio) {
					reason = fmt.Sprintf("filter[%s]: %d of %d calls failed (%.0f%%, threshold %.0f%%) within the probation window", f.name, failures, calls, 100*ratio, 100*rc.FailureRatio)
					break
				}
			}
			if reason == "" {
				continue
			}
			if !rc.Rollback {
				g.log.Error("the new configuration is failing; rollback is off", "generation", gen.num, "reason", reason)
				return
			}
			g.reload.bg.Add(1)
			go func() { defer g.reload.bg.Done(); g.rollback(prev.cfg, gen, reason) }()
			return
		}
	}()
}

// rollback swaps prevCfg back in for the failing generation bad.
func (g *Gateway) rollback(prevCfg *config.Config, bad *generation, reason string) {
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	if g.reload.stopped || g.cur.Load() != bad {
		return // superseded meanwhile
	}
	ctx, cancel := context.WithTimeout(context.Background(), prevCfg.ShutdownTimeout)
	defer cancel()
	if _, err := g.swapTo(ctx, prevCfg, &rollbackOf{bad: bad, reason: reason}); err != nil {
		g.log.Error("rolling back to the last good configuration failed; the failing one keeps running", "err", err, "reason", reason)
		return
	}
	g.log.Error("the new configuration failed on probation and was rolled back to the last good one", "failed_generation", bad.num, "failed_config_hash", bad.hash[:12], "reason", reason)
}

// failureRatio is the share of f's calls that failed, over its lifetime.
func failureRatio(f *chainFilter) float64 {
	calls := f.calls.Load()
	if calls == 0 {
		return 0
	}
	return float64(f.failuresN.Load()) / float64(calls)
}

type callSnapshot struct{ calls, failures []int64 }

func snapshotCalls(fs []*chainFilter) callSnapshot {
	s := callSnapshot{calls: make([]int64, len(fs)), failures: make([]int64, len(fs))}
	for i, f := range fs {
		s.calls[i], s.failures[i] = f.calls.Load(), f.failuresN.Load()
	}
	return s
}

// watch reloads when a config file's content changes. It watches the
// files' directories, not the files: editors replace files by rename and
// Kubernetes swaps a ConfigMap's ..data symlink, and both would orphan a
// watch on the file itself.
func (r *reloader) watch(g *Gateway) error {
	files := g.set.ConfigFiles
	if len(files) == 0 || !g.cur.Load().cfg.Reload.Watch {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, f := range files {
		d := filepath.Dir(f)
		if !dirs[d] {
			if err := w.Add(d); err != nil {
				_ = w.Close()
				return err
			}
			dirs[d] = true
		}
	}
	r.fileHash = hashFiles(files)
	r.stateMu.Lock()
	r.watcher = w
	r.stateMu.Unlock()
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		var debounce <-chan time.Time
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				// Bursts (write, chmod, rename) settle before we look.
				debounce = time.After(250 * time.Millisecond)
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			case <-debounce:
				h := hashFiles(files)
				if h == r.fileHash {
					continue // an unrelated file in the same directory
				}
				r.fileHash = h
				if _, err := g.Reload(context.Background()); errors.Is(err, ErrReloadInProgress) {
					debounce = time.After(time.Second)
					r.fileHash = [sha256.Size]byte{}
				}
			}
		}
	}()
	return nil
}

func hashFiles(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			b = []byte("\x00unreadable:" + err.Error())
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

// reloadHandlers adds POST and GET /-/reload to the admin server.
func (g *Gateway) reloadHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		sum, err := g.Reload(r.Context())
		switch {
		case errors.Is(err, ErrReloadInProgress):
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "reload failed; the running configuration is unchanged", "problems": config.Problems(err)})
		default:
			writeJSON(w, http.StatusOK, sum)
		}
	})
	mux.HandleFunc("GET /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, g.reload.snapshot())
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// notIn returns the filters of a that b does not share.
func notIn(a, b []*chainFilter) []*chainFilter {
	var out []*chainFilter
	for _, f := range a {
		if !slices.Contains(b, f) {
			out = append(out, f)
		}
	}
	return out
}

// setLogLevel applies a reloaded log.level (validated already) to the
// logger's level variable, and says so at info: before the change when it
// raises the level above info, after it otherwise, so the line shows
// whenever either level lets info through.
func (g *Gateway) setLogLevel(level string) {
	var l slog.Level
	if g.set.LogLevel == nil || l.UnmarshalText([]byte(level)) != nil {
		return
	}
	from := g.set.LogLevel.Level()
	say := func() { g.log.Info("log level changed", "from", from.String(), "to", l.String()) }
	if l > slog.LevelInfo {
		say()
		g.set.LogLevel.Set(l)
		return
	}
	g.set.LogLevel.Set(l)
	say()
}
