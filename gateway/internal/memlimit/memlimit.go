// Package memlimit turns memory_limit.{soft,hard} into a Go runtime memory
// limit (hard) and a cheap "over the soft limit" flag that receivers use to
// refuse new data with backpressure before the process gets into trouble.
package memlimit

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// Limits are resolved byte limits; zero means unlimited.
type Limits struct {
	Soft, Hard int64
}

// Resolve turns the configured values into bytes. Percentages are of the
// cgroup memory limit, or of the machine's memory when no cgroup limit is set.
func Resolve(cfg config.MemoryLimit) (Limits, error) {
	total := available()
	soft, err := resolveOne(cfg.Soft, total)
	if err != nil {
		return Limits{}, fmt.Errorf("memory_limit.soft: %w", err)
	}
	hard, err := resolveOne(cfg.Hard, total)
	if err != nil {
		return Limits{}, fmt.Errorf("memory_limit.hard: %w", err)
	}
	return Limits{Soft: soft, Hard: hard}, nil
}

func resolveOne(v string, total int64) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64) // "80 %" passes validate too
		if err != nil || f <= 0 || f > 100 {
			return 0, fmt.Errorf("invalid percentage %q", v)
		}
		if total <= 0 {
			return 0, nil
		}
		// At least a byte: 0 would mean no limit at all.
		return max(int64(float64(total)*f/100), 1), nil
	}
	s, err := config.ParseSize(v)
	return int64(s), err
}

// available is the cgroup v2 (or v1) memory limit, else MemTotal.
func available() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<60 {
			return n
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// Source says where the Go runtime's memory limit came from.
const (
	SourceEnv    = "GOMEMLIMIT"        // the user's environment: it wins over memory_limit.hard
	SourceConfig = "memory_limit.hard" // applied from the configuration
	SourceNone   = "none"              // neither: the runtime has no limit
)

// Options are what the gateway injects into a Watcher. Every field is
// optional.
type Options struct {
	Logger *slog.Logger
	// Getenv looks up GOMEMLIMIT; nil is os.LookupEnv.
	Getenv func(string) (string, bool)
	// Pressure is set to 1 while memory is over the soft limit, else 0;
	// InUse to the memory sampled; Limit to the effective limits.
	Pressure, InUse prometheus.Gauge
	Limit           *prometheus.GaugeVec // limit: soft, hard
}

// Watcher samples the Go heap and keeps an over-soft-limit flag.
type Watcher struct {
	limits Limits
	// hard is the runtime's effective limit (0: none), source where it
	// came from.
	hard   int64
	source string
	opt    Options
	over   atomic.Bool
	sample []metrics.Sample
	read   func() int64 // the memory in use; tests replace it
}

// NewWatcher applies the hard limit to the Go runtime (so the collector
// works harder before the process is killed), unless the user set
// GOMEMLIMIT: the runtime read that at start and it wins, as an explicit
// GOMAXPROCS does. It returns a watcher for the soft limit.
func NewWatcher(l Limits, opt Options) *Watcher {
	if opt.Getenv == nil {
		opt.Getenv = os.LookupEnv
	}
	w := &Watcher{limits: l, opt: opt, sample: []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}}
	w.read = w.readRuntime
	_, userSet := opt.Getenv("GOMEMLIMIT")
	switch {
	case userSet:
		w.source = SourceEnv
	case l.Hard > 0:
		debug.SetMemoryLimit(l.Hard)
		w.source = SourceConfig
	default:
		w.source = SourceNone
	}
	// With GOMEMLIMIT=off the runtime has no limit and the source is
	// still the user's choice: limit 0, source GOMEMLIMIT.
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
		w.hard = cur
	}
	if opt.Limit != nil {
		opt.Limit.WithLabelValues("soft").Set(float64(max(l.Soft, 0)))
		opt.Limit.WithLabelValues("hard").Set(float64(w.hard))
	}
	if opt.Pressure != nil {
		opt.Pressure.Set(0)
	}
	return w
}

// Effective is the Go runtime's memory limit in bytes (0: none), where it
// came from (SourceEnv, SourceConfig or SourceNone), and the soft limit
// (0: none).
func (w *Watcher) Effective() (hard int64, source string, soft int64) {
	return w.hard, w.source, w.limits.Soft
}

// Over reports whether the heap was over the soft limit at the last sample.
func (w *Watcher) Over() bool { return w.over.Load() }

// Run samples every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	if w.limits.Soft <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.check()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check takes one sample, updates the flag and gauges, and logs when the
// soft limit trips or clears (once per change, not per sample).
func (w *Watcher) check() {
	inUse := w.read()
	over := inUse > w.limits.Soft
	if w.opt.InUse != nil {
		w.opt.InUse.Set(float64(inUse))
	}
	if w.over.Swap(over) == over {
		return
	}
	if w.opt.Pressure != nil {
		w.opt.Pressure.Set(b2f(over))
	}
	if w.opt.Logger == nil {
		return
	}
	if over {
		w.opt.Logger.Warn("memory over the soft limit: refusing new data", "in_use_bytes", inUse, "soft_limit_bytes", w.limits.Soft)
	} else {
		w.opt.Logger.Info("memory back under the soft limit: accepting data", "in_use_bytes", inUse, "soft_limit_bytes", w.limits.Soft)
	}
}

func (w *Watcher) readRuntime() int64 {
	metrics.Read(w.sample)
	return int64(w.sample[0].Value.Uint64() - w.sample[1].Value.Uint64())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
