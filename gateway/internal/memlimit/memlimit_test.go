package memlimit

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// keepRuntimeLimit restores the process's Go memory limit after the test.
func keepRuntimeLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
}

func env(set bool) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if set && k == "GOMEMLIMIT" {
			return "3GiB", true
		}
		return "", false
	}
}

// TestUserGOMEMLIMITWins: with GOMEMLIMIT in the environment (which the Go
// runtime applied at start; here set by hand) memory_limit.hard leaves
// the runtime's limit alone, and Effective says where the limit came from.
func TestUserGOMEMLIMITWins(t *testing.T) {
	keepRuntimeLimit(t)
	const user, hard = 3 << 30, 1 << 30
	debug.SetMemoryLimit(user) // what the runtime read from GOMEMLIMIT=3GiB

	limit := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "l"}, []string{"limit"})
	w := NewWatcher(Limits{Soft: 512 << 20, Hard: hard}, Options{Getenv: env(true), Limit: limit})
	if got := debug.SetMemoryLimit(-1); got != user {
		t.Fatalf("runtime memory limit = %d, want the user's GOMEMLIMIT %d kept", got, user)
	}
	if h, src, soft := w.Effective(); h != user || src != SourceEnv || soft != 512<<20 {
		t.Fatalf("Effective() = %d %q %d, want %d %q %d", h, src, soft, user, SourceEnv, 512<<20)
	}
	if got := testutil.ToFloat64(limit.WithLabelValues("hard")); got != user {
		t.Errorf("memory_limit_bytes{limit=hard} = %v, want %d", got, user)
	}

	// Without GOMEMLIMIT the configured hard limit applies.
	w = NewWatcher(Limits{Soft: 512 << 20, Hard: hard}, Options{Getenv: env(false)})
	if got := debug.SetMemoryLimit(-1); got != hard {
		t.Fatalf("runtime memory limit = %d, want memory_limit.hard %d", got, hard)
	}
	if h, src, _ := w.Effective(); h != hard || src != SourceConfig {
		t.Fatalf("Effective() = %d %q, want %d %q", h, src, hard, SourceConfig)
	}
}

// TestSoftLimitTripsAndClears: the pressure gauge follows the soft limit,
// and the log says once when it trips and once when it clears.
func TestSoftLimitTripsAndClears(t *testing.T) {
	keepRuntimeLimit(t)
	var logs bytes.Buffer
	pressure := prometheus.NewGauge(prometheus.GaugeOpts{Name: "p"})
	inUse := prometheus.NewGauge(prometheus.GaugeOpts{Name: "u"})
	w := NewWatcher(Limits{Soft: 100}, Options{Getenv: env(false), Logger: slog.New(slog.NewTextHandler(&logs, nil)), Pressure: pressure, InUse: inUse})
	var mem int64
	w.read = func() int64 { return mem }

	steps := []struct {
		mem      int64
		over     bool
		newLines string
	}{
		{50, false, ""},
		{150, true, `level=WARN msg="memory over the soft limit: refusing new data" in_use_bytes=150 soft_limit_bytes=100`},
		{200, true, ""},
		{80, false, `level=INFO msg="memory back under the soft limit: accepting data" in_use_bytes=80 soft_limit_bytes=100`},
		{90, false, ""},
	}
	for _, s := range steps {
		mark := logs.Len()
		mem = s.mem
		w.check()
		if w.Over() != s.over || testutil.ToFloat64(pressure) != b2f(s.over) || testutil.ToFloat64(inUse) != float64(s.mem) {
			t.Errorf("at %d bytes: Over %v, pressure %v, in use %v; want %v, %v, %d", s.mem, w.Over(), testutil.ToFloat64(pressure), testutil.ToFloat64(inUse), s.over, b2f(s.over), s.mem)
		}
		got := strings.TrimSpace(logs.String()[mark:])
		if s.newLines == "" && got != "" || s.newLines != "" && !strings.Contains(got, s.newLines) || strings.Count(got, "\n") > 0 {
			t.Errorf("at %d bytes the log got %q, want %q", s.mem, got, s.newLines)
		}
	}
}
