// Package procs adapts GOMAXPROCS to the gateway's load.
//
// Measured on the bench machine (bench/RESULTS.md), a gateway that needs
// less than one core spends 14-16 % less CPU per span with GOMAXPROCS=1
// than with one P per core: grpc-go hands every request from its reader
// goroutine to a handler and to its writer, and with two Ps those
// hand-offs wake idle Ps and cross cores. Under heavy load the second core
// is worth far more than that. So the controller runs on one P while the
// process uses little CPU and on all of them as soon as it does not.
//
// Rules: it starts on one P (a gateway starts idle) and samples the
// process's CPU time (getrusage) every Interval. On one P, a sample above
// Up cores (close to saturating it) switches to Max at once: a burst must
// not wait more than one Interval. On Max, Down consecutive samples under
// Low cores switch back to one: only a load that stays low does. The two
// thresholds leave a gap, so a load near one of them does not flap.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// busy counts Busy holds; running is the controller's top, 0 when no
// controller runs. mu orders GOMAXPROCS changes between Busy and Run.
var (
	mu      sync.Mutex
	busy    int
	running int
)

// Busy raises GOMAXPROCS to every core, if a controller is adapting it,
// until release is called: for bursts of work that must not compete with
// traffic on one P, such as building a new generation on reload. Without a
// running controller it does nothing. Holds nest.
func Busy() (release func()) {
	mu.Lock()
	defer mu.Unlock()
	busy++
	if running > 1 && runtime.GOMAXPROCS(0) != running {
		runtime.GOMAXPROCS(running)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			busy--
			mu.Unlock()
		})
	}
}

// Policy is when to switch; Default is what the gateway uses.
type Policy struct {
	Interval time.Duration // between samples
	Up       float64       // cores: at or above it on one P, use Max
	Low      float64       // cores: under it for Down samples on Max, use one
	Down     int
}

// Default switches up at 0.6 cores and down after 10 s under 0.35 cores.
var Default = Policy{Interval: time.Second, Up: 0.6, Low: 0.35, Down: 10}

// state is the controller's memory between samples.
type state struct {
	procs int // current GOMAXPROCS
	low   int // consecutive samples under Low while on Max
}

// next is the policy: the GOMAXPROCS to use after a sample of cores used.
func (p Policy) next(s state, max int, cores float64) state {
	switch {
	case s.procs < max && cores >= p.Up:
		return state{procs: max}
	case s.procs > 1 && cores < p.Low:
		if s.low+1 >= p.Down {
			return state{procs: 1}
		}
		return state{procs: s.procs, low: s.low + 1}
	}
	return state{procs: s.procs}
}

// Run adapts GOMAXPROCS between 1 and the value the runtime chose at
// start (which follows the CPU quota of the process's cgroup), starting at
// 1, until ctx ends, then restores that value. It returns at once when that
// value is 1.
func Run(ctx context.Context, p Policy, log *slog.Logger) {
	max := runtime.GOMAXPROCS(0)
	if max <= 1 {
		return
	}
	mu.Lock()
	running = max
	if busy == 0 {
		runtime.GOMAXPROCS(1)
	}
	s := state{procs: runtime.GOMAXPROCS(0)}
	mu.Unlock()
	defer func() {
		mu.Lock()
		running = 0
		runtime.GOMAXPROCS(max)
		mu.Unlock()
	}()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	lastCPU, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu := cpuTime()
			cores := (cpu - lastCPU).Seconds() / now.Sub(lastAt).Seconds()
			lastCPU, lastAt = cpu, now
			mu.Lock()
			s.procs = runtime.GOMAXPROCS(0) // Busy may have raised it
			n := p.next(s, max, cores)
			if busy > 0 {
				n = state{procs: max}
			}
			if n.procs != s.procs {
				runtime.GOMAXPROCS(n.procs)
				log.Debug("GOMAXPROCS adapted to load", "gomaxprocs", n.procs, "cores_used", cores)
			}
			mu.Unlock()
			s = n
		}
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
