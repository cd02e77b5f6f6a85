// Command reload measures otlpgw's hot reload under load, in one process:
// the real gateway (package gateway) with the five stock filters and an
// OTLP/gRPC exporter to an in-process sink, offered a fixed rate of spans
// by in-process OTLP/gRPC clients.
//
// After one reload to warm the compilation cache it runs a steady phase
// (no reloads) and then a storm phase (a reload every -interval, between
// two configurations that differ in one filter's config), under the same
// load, and reports how long each reload took from the Reload call to the
// swap and the clients' latency percentiles in both phases. See
// bench/README.md ("Reload under load").
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
	"github.com/otlpgw/otlpgw/filters"
	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
)

// options are the command's flags.
type options struct {
	phase    time.Duration // length of the steady and of the storm phase
	warmup   time.Duration // load before the steady phase, not measured
	interval time.Duration // between reload triggers in the storm
	rate     int           // spans/s offered
	spans    int           // spans per request
	workers  int           // requests in flight at most
	conns    int
	cacheDir string // compilation cache; empty: the gateway's default
	cpuProf  string // file for a CPU profile of the storm phase; empty: none
}

// Targets from the issue.
const (
	targetSwap  = 500 * time.Millisecond // every reload, trigger to swap
	targetRatio = 2.0                    // client p99, storm over steady
)

func main() {
	var o options
	flag.DurationVar(&o.phase, "duration", 10*time.Second, "length of each phase (steady, then storm)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "load before the steady phase, not measured")
	flag.DurationVar(&o.interval, "interval", 500*time.Millisecond, "time between reload triggers in the storm phase")
	flag.IntVar(&o.rate, "rate", 20000, "spans/s offered in both phases")
	flag.IntVar(&o.spans, "spans", 100, "spans per request")
	flag.IntVar(&o.workers, "workers", 32, "concurrent client requests at most (they only bound what is in flight; the rate is fixed)")
	flag.IntVar(&o.conns, "conns", 2, "gRPC connections the workers share")
	flag.StringVar(&o.cacheDir, "cache-dir", "", "compilation cache directory; empty is the gateway's default (otlpgw/wazero under the user cache directory)")
	flag.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the storm phase (the whole process) to this file")
	flag.Parse()
	if o.phase <= 0 || o.interval <= 0 || o.rate <= 0 || o.spans <= 0 || o.workers <= 0 || o.conns <= 0 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "reload: -duration, -interval, -rate, -spans, -workers and -conns must be > 0")
		os.Exit(2)
	}
	rep, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reload:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout, o)
	if !rep.ok() {
		os.Exit(1)
	}
}

// report is what one run measured.
type report struct {
	startMillis, warmReloadMillis float64

	reloads, reloadErrors int
	firstReloadErr        error
	trigger               []float64      // ms from the Reload call to its return (the swap is done)
	windows               [][2]time.Time // each reload's call and return
	swap                  []float64      // ms, ReloadSummary.SwapMillis

	steady, storm       phaseStats
	cpuSteady, cpuStorm float64 // the whole process's CPU (gateway, clients, sink) over each phase, in cores
	// The storm's requests by when they were due: while a reload ran,
	// within afterSwap of a swap, or otherwise.
	during, after, between []float64 // ms, sorted
	failed                 int64     // all requests, warm-up included
	firstErr               error
	keptAcked              int64 // spans answered OK that the drop rule keeps
	sinkSpans, sinkBad     int64
	generation             int64
}

// phaseStats are one phase's client latencies.
type phaseStats struct {
	requests, failed int64
	lat, svc         []float64 // ms, sorted
}

// run starts the sink and the gateway, warms up, offers the load through
// both phases while reloading in the second, and stops everything.
func run(ctx context.Context, o options) (rep report, err error) {
	sk, err := startSink()
	if err != nil {
		return rep, err
	}
	defer sk.stop()

	dir, err := os.MkdirTemp("", "otlpgw-bench-reload-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	grpcAddr, err := freeAddr()
	if err != nil {
		return rep, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return rep, err
	}
	cf := configFile{path: filepath.Join(dir, "otlpgw.yaml"), grpc: grpcAddr, admin: adminAddr, sink: sk.addr()}
	if err := cf.write(false); err != nil {
		return rep, err
	}

	t0 := time.Now()
	cfg, err := config.Load([]string{cf.path}, nil)
	if err != nil {
		return rep, fmt.Errorf("load config: %w", err)
	}
	gw, err := gateway.New(cfg, gateway.Settings{
		Logger:      slog.New(slog.DiscardHandler),
		Builtins:    filters.Builtin,
		CacheDir:    o.cacheDir,
		ConfigFiles: []string{cf.path},
	})
	if err != nil {
		return rep, fmt.Errorf("gateway: %w", err)
	}
	if err := gw.Start(ctx); err != nil {
		return rep, fmt.Errorf("gateway: start: %w", err)
	}
	stopped := false
	stopGateway := func() error {
		stopped = true
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return gw.Shutdown(sctx)
	}
	defer func() {
		if !stopped {
			_ = stopGateway()
		}
	}()
	rep.startMillis = millis(time.Since(t0))

	// Warm the compilation cache: the first reload finds every module
	// compiled, whatever state the cache directory was in.
	t0 = time.Now()
	if _, err := gw.Reload(ctx); err != nil {
		return rep, fmt.Errorf("warm-up reload: %w", err)
	}
	rep.warmReloadMillis = millis(time.Since(t0))

	pool, err := buildPool(o.spans, time.Now())
	if err != nil {
		return rep, err
	}
	conns, err := dialConns(grpcAddr, o.conns)
	if err != nil {
		return rep, err
	}
	defer closeConns(conns)
	// One request per connection before the clock starts, so connection
	// set-up is not counted as latency.
	for _, c := range conns {
		if err := c.Invoke(ctx, exportMethod, &pool[0].b, rawcodec.Discard{}, grpc.WaitForReady(true)); err != nil {
			return rep, fmt.Errorf("first request: %w", err)
		}
		rep.keptAcked += int64(pool[0].kept)
	}

	var prof *os.File
	if o.cpuProf != "" {
		if prof, err = os.Create(o.cpuProf); err != nil {
			return rep, fmt.Errorf("cpu profile: %w", err)
		}
		defer prof.Close()
	}

	start := time.Now().Add(10 * time.Millisecond)
	steadyAt := start.Add(o.warmup)
	stormAt := steadyAt.Add(o.phase)
	end := stormAt.Add(o.phase)
	l := newLoad(conns, pool, start, end, o.rate, o.spans)

	var wg sync.WaitGroup
	wg.Go(func() { l.run(o.workers) })
	wg.Go(func() { rep.reloadStorm(ctx, gw, cf, stormAt, end, o.interval) })
	wg.Go(func() {
		c := cpuAt([]time.Time{steadyAt, stormAt, end})
		rep.cpuSteady = (c[1] - c[0]).Seconds() / o.phase.Seconds()
		rep.cpuStorm = (c[2] - c[1]).Seconds() / o.phase.Seconds()
	})
	if prof != nil {
		wg.Go(func() {
			time.Sleep(time.Until(stormAt))
			if pprof.StartCPUProfile(prof) == nil {
				time.Sleep(time.Until(end))
				pprof.StopCPUProfile()
			}
		})
	}
	wg.Wait()

	rep.generation = gw.Generation()
	if err := stopGateway(); err != nil {
		return rep, fmt.Errorf("gateway: shutdown: %w", err)
	}
	rep.sinkSpans, rep.sinkBad = sk.spans.Load(), sk.bad.Load()
	rep.failed, rep.firstErr = l.failed.Load(), l.firstErr
	rep.keptAcked += l.keptAcked.Load()
	for seq := range l.lat {
		due := l.due(int64(seq))
		var ps *phaseStats
		switch {
		case !due.Before(end):
			continue
		case !due.Before(stormAt):
			ps = &rep.storm
		case !due.Before(steadyAt):
			ps = &rep.steady
		default:
			continue
		}
		ps.requests++
		if l.lat[seq] < 0 {
			ps.failed++
			continue
		}
		lat := millis(time.Duration(l.lat[seq]))
		ps.lat = append(ps.lat, lat)
		if ps == &rep.storm {
			switch rep.whenDue(due) {
			case 0:
				rep.during = append(rep.during, lat)
			case 1:
				rep.after = append(rep.after, lat)
			default:
				rep.between = append(rep.between, lat)
			}
		}
		ps.svc = append(ps.svc, millis(time.Duration(l.svc[seq])))
	}
	for _, xs := range [][]float64{rep.steady.lat, rep.steady.svc, rep.storm.lat, rep.storm.svc, rep.during, rep.after, rep.between} {
		slices.Sort(xs)
	}
	slices.Sort(rep.trigger)
	slices.Sort(rep.swap)
	return rep, nil
}

// reloadStorm triggers a reload every interval from at until end, alternating
// between the two configurations. A reload that outlasts the interval
// delays the next one: reloads never overlap, as with one operator or one
// file watcher.
func (rep *report) reloadStorm(ctx context.Context, gw *gateway.Gateway, cf configFile, at, end time.Time, interval time.Duration) {
	for k := 0; ; k++ {
		next := at.Add(time.Duration(k) * interval)
		if !next.Before(end) {
			return
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if err := cf.write(k%2 == 0); err != nil {
			rep.reloadErrors++
			rep.firstReloadErr = cmpOr(rep.firstReloadErr, err)
			continue
		}
		t0 := time.Now()
		sum, err := gw.Reload(ctx)
		d := time.Since(t0)
		rep.reloads++
		if err != nil {
			rep.reloadErrors++
			rep.firstReloadErr = cmpOr(rep.firstReloadErr, err)
			continue
		}
		rep.trigger = append(rep.trigger, millis(d))
		rep.windows = append(rep.windows, [2]time.Time{t0, t0.Add(d)})
		rep.swap = append(rep.swap, sum.SwapMillis)
	}
}

// cpuAt reads the process's CPU time (user and system) at each instant.
func cpuAt(ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		time.Sleep(time.Until(t))
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			out[i] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return out
}

// afterSwap is how long after a swap a request counts as meeting the new
// generation fresh (its filter instances not yet warm).
const afterSwap = 100 * time.Millisecond

// whenDue says whether a request due at t met a reload in progress (0),
// a swap less than afterSwap before (1), or neither (2).
func (rep *report) whenDue(t time.Time) int {
	for _, w := range rep.windows {
		switch {
		case !t.Before(w[0]) && t.Before(w[1]):
			return 0
		case !t.Before(w[1]) && t.Before(w[1].Add(afterSwap)):
			return 1
		}
	}
	return 2
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// configFile is the gateway's one config file. The two configurations the
// storm alternates between differ only in the limits filter's
// max_value_length (256 or 512 bytes).
type configFile struct {
	path, grpc, admin, sink string
}

// write replaces the file as editors do (write aside, rename over), so a
// reload never reads half a file.
func (cf configFile) write(alt bool) error {
	maxLen := 256
	if alt {
		maxLen = 512
	}
	body := fmt.Sprintf(configTemplate, cf.grpc, cf.admin, maxLen, cf.sink)
	tmp := cf.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, cf.path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// configTemplate chains the five stock filters, each configured as its
// filters/NAME/example.yaml says: validate first (so later filters see
// only well-formed items), then drop, fix, limits and redact, the order of
// the load benchmark's S2. Batching and the queue keep their defaults.
const configTemplate = `receivers:
  otlp:
    grpc: {endpoint: %q}
    http: {endpoint: ""}
admin: {endpoint: %q}
shutdown_timeout: 10s
reload: {watch: false}
filters:
  - name: validate
    module: builtin:validate
    on_error: pass
    config:
      max_future: 24h
      checks: {ids: true, timestamps: true, names: true, histograms: true, severity: true}
  - name: drop
    module: builtin:drop
    config:
      rules:
        - name_regex: '^(GET|HEAD) /(healthz|readyz|livez)$'
        - attribute: {key: url.path, equals: /metrics}
        - body_regex: '^GET /healthz '
      sample_percent: 100
      shed: {above_pressure: 0.8, max_severity: 8, sample_percent: 25}
  - name: fix
    module: builtin:fix
    config:
      resource_defaults: {service.name: unknown_service, deployment.environment: unknown}
      max_future: 24h
      lowercase_keys: []
  - name: limits
    module: builtin:limits
    config:
      max_value_length: %d
      max_attributes: 128
  - name: redact
    module: builtin:redact
    on_error: drop
    config:
      delete_keys: [password, http.request.header.cookie, db.connection_string]
      hash_keys: [user.email, enduser.id]
      hash_salt: ${env:REDACT_SALT:-change-me}
      mask:
        - builtin: credit_card
        - builtin: bearer_token
        - builtin: jwt
        - pattern: 'sk_(live|test)_[0-9A-Za-z]{8,}'
          replacement: 'sk_***'
          keys: [url.full, url.query, http.url]
exporters:
  - {name: sink, type: otlp, endpoint: %q, tls: {insecure: true}, compression: none}
`

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile p (0-100) of sorted xs.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(float64(len(xs))*p/100+0.9999999) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// ratio is storm p99 over steady p99.
func (rep *report) ratio() float64 {
	s := pct(rep.steady.lat, 99)
	if s == 0 {
		return 0
	}
	return pct(rep.storm.lat, 99) / s
}

// ok is false when the run itself went wrong: a failed request or reload,
// or spans lost between the clients and the sink. Missing a target is
// reported, not failed.
func (rep *report) ok() bool {
	return rep.failed == 0 && rep.reloadErrors == 0 && rep.reloads > 0 && rep.sinkBad == 0 && rep.sinkSpans == rep.keptAcked
}

func (rep *report) print(w io.Writer, o options) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("pipeline: otlp/grpc receiver -> validate, drop, fix, limits, redact (stock, example configs) -> otlp exporter -> in-process sink")
	p("load: %d spans/s in %d-span requests (open loop), up to %d in flight over %d connections; %s warm-up, %s steady, %s storm (reload every %s)",
		o.rate, o.spans, o.workers, o.conns, o.warmup, o.phase, o.phase, o.interval)
	p("gateway start (New+Start): %.0f ms; warm-up reload: %.0f ms", rep.startMillis, rep.warmReloadMillis)
	p("reloads: %d (%d failed)", rep.reloads, rep.reloadErrors)
	if rep.firstReloadErr != nil {
		p("  first reload error: %v", rep.firstReloadErr)
	}
	p("trigger->swap (Reload call to return), ms:  p50 %7.1f  p99 %7.1f  max %7.1f", pct(rep.trigger, 50), pct(rep.trigger, 99), last(rep.trigger))
	p("build+swap (ReloadSummary.SwapMillis), ms:  p50 %7.1f  p99 %7.1f  max %7.1f", pct(rep.swap, 50), pct(rep.swap, 99), last(rep.swap))
	p("client latency, ms (from due time; service time in brackets):")
	for _, ph := range []struct {
		name string
		s    *phaseStats
	}{{"steady", &rep.steady}, {"storm", &rep.storm}} {
		s := ph.s
		p("  %-6s %6d requests  p50 %6.2f [%6.2f]  p99 %7.2f [%7.2f]  max %7.2f [%7.2f]  failed %d",
			ph.name, s.requests, pct(s.lat, 50), pct(s.svc, 50), pct(s.lat, 99), pct(s.svc, 99), last(s.lat), last(s.svc), s.failed)
	}
	p("  storm requests by when they were due, p99 ms: during a reload %.2f (%d), <%s after a swap %.2f (%d), otherwise %.2f (%d)",
		pct(rep.during, 99), len(rep.during), afterSwap, pct(rep.after, 99), len(rep.after), pct(rep.between, 99), len(rep.between))
	p("client p99 storm/steady: %.2fx", rep.ratio())
	p("process CPU (gateway, clients and sink), cores: steady %.2f, storm %.2f", rep.cpuSteady, rep.cpuStorm)
	p("requests failed: %d", rep.failed)
	if rep.firstErr != nil {
		p("  first error: %v", rep.firstErr)
	}
	p("delivered: sink got %d spans, clients had %d acknowledged that the drop rule keeps (sink rejected %d requests)", rep.sinkSpans, rep.keptAcked, rep.sinkBad)
	p("generation at the end: %d (1 at start + 1 warm-up + %d storm reloads)", rep.generation, rep.reloads-rep.reloadErrors)
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	p("target: every reload swapped within %s of its trigger: %s (max %.1f ms)", targetSwap, verdict(len(rep.trigger) > 0 && last(rep.trigger) <= millis(targetSwap)), last(rep.trigger))
	p("target: client p99 in the storm at most %.0fx steady: %s (%.2fx)", targetRatio, verdict(rep.ratio() > 0 && rep.ratio() <= targetRatio), rep.ratio())
	if !rep.ok() {
		p("RUN FAILED: requests or reloads failed, or the sink's count differs")
	}
}
