// Package memlimit turns memory_limit.{soft,hard} into a Go runtime memory
// limit (hard) and a cheap "over the soft limit" flag that receivers use to
// refuse new data with backpressure before the process gets into trouble.
package memlimit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, fmt.Errorf("invalid percentage %q", v)
		}
		if total <= 0 {
			return 0, nil
		}
		return int64(float64(total) * f / 100), nil
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

// Watcher samples the Go heap and keeps an over-soft-limit flag.
type Watcher struct {
	limits Limits
	over   atomic.Bool
	sample []metrics.Sample
}

// NewWatcher applies the hard limit to the Go runtime (so the collector
// works harder before the process is killed) and returns a watcher for the
// soft limit.
func NewWatcher(l Limits) *Watcher {
	if l.Hard > 0 {
		debug.SetMemoryLimit(l.Hard)
	}
	return &Watcher{limits: l, sample: []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}}
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
		metrics.Read(w.sample)
		inUse := int64(w.sample[0].Value.Uint64() - w.sample[1].Value.Uint64())
		w.over.Store(inUse > w.limits.Soft)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
