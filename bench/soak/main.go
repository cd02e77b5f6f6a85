// Command soak runs the real otlpgw binary for a long time under a steady
// load, with a hot reload every minute and an upstream outage every ten,
// and reports whether anything leaked or went missing (issue 16, item 7):
// the slope of RSS, goroutines and open files after warm-up, and the
// acknowledged spans against those the sink received.
//
// Everything stays on loopback: bench/loadgen offers the load (-mix, so
// the drop filter has health checks to drop and loadgen knows how many
// of the acknowledged spans must arrive), otlpgw runs the five stock
// filters and an otlp exporter with the persistent queue, and bench/sink
// counts what arrives, behind a proxy in this process that an outage
// closes. See bench/README.md ("Soak").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the command's flags. -duration and -rate take their
// defaults from DURATION and RATE, so `DURATION=3m go run ./bench/soak`
// is the smoke test.
type options struct {
	duration    time.Duration // of the load
	rate        int           // spans/s offered
	reloadEvery time.Duration
	outageFirst time.Duration // first outage, from the start of the load
	outageEvery time.Duration
	outageFor   time.Duration
	sampleEvery time.Duration
	warmup      time.Duration // samples before this are left out of the slopes
	drainLimit  time.Duration // how long the queue may take to empty after the load
	queue       string        // persistent or memory
	workers     int
	conns       int
	bin         string // where the binaries are built
	out         string // work directory: config, logs, samples.csv, report.json
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", envDuration("DURATION", time.Hour), "how long to offer load (default from $DURATION, else 1h)")
	flag.IntVar(&o.rate, "rate", envInt("RATE", 20000), "spans/s offered (default from $RATE, else 20000)")
	flag.DurationVar(&o.reloadEvery, "reload-every", time.Minute, "time between reloads")
	flag.DurationVar(&o.outageFirst, "outage-first", 2*time.Minute, "start of the first upstream outage, from the start of the load (inside the warm-up, so the queue's high-water mark is reached before the slopes start)")
	flag.DurationVar(&o.outageEvery, "outage-every", 10*time.Minute, "time between the starts of outages")
	flag.DurationVar(&o.outageFor, "outage-for", 30*time.Second, "length of each outage")
	flag.DurationVar(&o.sampleEvery, "sample-every", 10*time.Second, "time between samples of RSS, goroutines, open files and queue")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Minute, "samples before this are left out of the slopes (at most a third of -duration)")
	flag.DurationVar(&o.drainLimit, "drain-limit", 5*time.Minute, "how long the queue may take to empty once the load stops")
	flag.StringVar(&o.queue, "queue", envString("QUEUE", "persistent"), "the exporter's queue: persistent (queue.persistent.directory in the work directory) or memory")
	flag.IntVar(&o.workers, "workers", 128, "loadgen's requests in flight at most (the rate is paced)")
	flag.IntVar(&o.conns, "conns", 2, "loadgen's gRPC connections")
	flag.StringVar(&o.bin, "bin", "", "build directory (default bench/.bin)")
	flag.StringVar(&o.out, "out", "", "work directory (default bench/out/soak-TIME)")
	flag.Parse()
	if o.duration <= 0 || o.rate <= 0 || o.reloadEvery <= 0 || o.outageEvery <= 0 || o.outageFor <= 0 || o.outageFor >= o.outageEvery ||
		o.sampleEvery <= 0 || o.workers <= 0 || o.conns <= 0 || (o.queue != "persistent" && o.queue != "memory") {
		fmt.Fprintln(os.Stderr, "soak: durations, -rate, -workers and -conns must be > 0, -outage-for shorter than -outage-every, -queue persistent or memory")
		os.Exit(2)
	}
	o.warmup = min(o.warmup, o.duration/3)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if problems := rep.problems(); len(problems) > 0 {
		fmt.Fprintln(os.Stderr, "soak: FAILED:", strings.Join(problems, "; "))
		os.Exit(1)
	}
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "soak: %s=%q is not a duration; using %s\n", name, v, def)
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "soak: %s=%q is not an integer; using %d\n", name, v, def)
	}
	return def
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s soak: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// soak is one run's state.
type soak struct {
	o       options
	dir     string
	cfg     gatewayConfig
	gw      *exec.Cmd
	gwDone  chan struct{}
	gwErr   error
	sinkURL string
	up      *proxy

	mu       sync.Mutex
	rep      report
	rows     []sample
	upstream bool // false during an outage
}

func run(ctx context.Context, o options) (*report, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if o.bin == "" {
		o.bin = filepath.Join(root, "bench", ".bin")
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "out", "soak-"+time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	for _, b := range []struct{ name, pkg string }{{"otlpgw", "./cmd/otlpgw"}, {"loadgen", "./bench/loadgen"}, {"sink", "./bench/sink"}} {
		logf("building %s", b.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(o.bin, b.name), b.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}
	s := &soak{o: o, dir: o.out, upstream: true}
	s.rep.options(o)
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()

	// The sink lives for the whole run, so its count is every span the
	// gateway ever delivered.
	sink, sinkAddrs, err := startSink(o)
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { stopProcess(sink, nil, 10*time.Second) })
	s.sinkURL = "http://" + sinkAddrs.Stats + "/stats"
	if s.up, err = newProxy(sinkAddrs.GRPC); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, s.up.close)

	grpcAddr, err1 := freeAddr()
	adminAddr, err2 := freeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	s.cfg = gatewayConfig{path: filepath.Join(o.out, "otlpgw.yaml"), grpc: grpcAddr, admin: adminAddr, upstream: s.up.addr}
	if o.queue == "persistent" {
		s.cfg.queueDir = filepath.Join(o.out, "queue")
	}
	if err := s.cfg.write(false); err != nil {
		return nil, err
	}
	if err := s.startGateway(ctx); err != nil {
		return &s.rep, err
	}
	cleanup = append(cleanup, func() { stopProcess(s.gw, s.gwDone, 60*time.Second) })
	logf("otlpgw pid %d: grpc %s, admin %s, upstream proxy %s -> sink %s; work directory %s", s.gw.Process.Pid, grpcAddr, adminAddr, s.up.addr, sinkAddrs.GRPC, o.out)

	lgOut, err := os.Create(filepath.Join(o.out, "loadgen.json"))
	if err != nil {
		return nil, err
	}
	defer lgOut.Close()
	lg := exec.Command(filepath.Join(o.bin, "loadgen"), "-endpoint", grpcAddr, "-duration", o.duration.String(),
		"-rate", fmt.Sprint(o.rate), "-workers", fmt.Sprint(o.workers), "-conns", fmt.Sprint(o.conns), "-mix",
		// A request that times out is neither acknowledged nor refused: the
		// gateway may have queued it, so it can only show up as a
		// duplicate. A generous deadline keeps that rare on busy cores.
		"-timeout", "30s")
	lg.Stdout = lgOut
	if lg.Stderr, err = os.Create(filepath.Join(o.out, "loadgen.log")); err != nil {
		return nil, err
	}
	if err := lg.Start(); err != nil {
		return nil, fmt.Errorf("start loadgen: %w", err)
	}
	lgDone := make(chan error, 1)
	go func() { lgDone <- lg.Wait() }()
	start := time.Now()
	s.rep.Started = start.UTC()
	logf("offering %d spans/s for %s; reload every %s; outages of %s every %s from %s", o.rate, o.duration, o.reloadEvery, o.outageFor, o.outageEvery, o.outageFirst)

	csv, err := os.Create(filepath.Join(o.out, "samples.csv"))
	if err != nil {
		return nil, err
	}
	defer csv.Close()
	fmt.Fprintln(csv, sampleHeader)

	loadCtx, endLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.sampleLoop(loadCtx, start, csv) })
	wg.Go(func() { s.reloadLoop(loadCtx) })
	wg.Go(func() { s.outageLoop(loadCtx, start) })
	var lgErr error
	select {
	case lgErr = <-lgDone:
	case <-s.gwDone:
		lgErr = fmt.Errorf("otlpgw exited during the load: %v", s.gwErr)
		_ = lg.Process.Signal(syscall.SIGTERM)
		<-lgDone
	case <-ctx.Done():
		_ = lg.Process.Signal(syscall.SIGTERM)
		lgErr = errors.Join(ctx.Err(), <-lgDone)
	}
	endLoad()
	wg.Wait()
	s.rep.LoadSeconds = time.Since(start).Seconds()
	if lgErr != nil {
		return &s.rep, fmt.Errorf("loadgen: %w (see %s)", lgErr, filepath.Join(o.out, "loadgen.log"))
	}
	if err := s.rep.readLoadgen(filepath.Join(o.out, "loadgen.json")); err != nil {
		return &s.rep, err
	}
	logf("load done: %d spans acknowledged, %d refused, %d errors", s.rep.Acknowledged, s.rep.Refused, s.rep.LoadgenErrors)

	// Drain: the queue empties into the sink, then the gateway stops
	// cleanly (a clean stop flushes whatever is still batched).
	drainStart := time.Now()
	if err := s.drain(ctx, start, csv); err != nil {
		s.rep.Notes = append(s.rep.Notes, err.Error())
	}
	s.rep.DrainSeconds = time.Since(drainStart).Seconds()
	if m, body, err := scrape(s.cfg.admin); err == nil {
		_ = os.WriteFile(filepath.Join(o.out, "metrics-final.txt"), body, 0o644)
		s.rep.fromMetrics(m)
	} else {
		s.rep.Notes = append(s.rep.Notes, "final scrape: "+err.Error())
	}
	if hwm, err := procStatusKiB(s.gw.Process.Pid, "VmHWM"); err == nil {
		s.rep.PeakRSSMiB = float64(hwm) / 1024
	}
	if cpu, err := cpuSeconds(s.gw.Process.Pid); err == nil {
		s.rep.GatewayCPUSeconds = cpu
	}
	s.rep.GatewayExit = stopProcess(s.gw, s.gwDone, 60*time.Second)
	st, err := sinkStats(s.sinkURL)
	if err != nil {
		return &s.rep, err
	}
	s.rep.Delivered = st.Spans
	s.rep.settle(s.samples())
	return &s.rep, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the otlpgw module (go run ./bench/soak)")
	}
	return filepath.Dir(mod), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type sinkAddrs struct {
	GRPC  string `json:"grpc"`
	Stats string `json:"stats"`
}

// startSink starts bench/sink on free ports and reads them from the first
// line it prints (the summary it prints when stopped follows in the same
// file).
func startSink(o options) (*exec.Cmd, sinkAddrs, error) {
	var a sinkAddrs
	outPath := filepath.Join(o.out, "sink.json")
	out, err := os.Create(outPath)
	if err != nil {
		return nil, a, err
	}
	defer out.Close()
	cmd := exec.Command(filepath.Join(o.bin, "sink"), "-listen", "127.0.0.1:0", "-stats", "127.0.0.1:0",
		"-duration", (o.duration + o.drainLimit + time.Hour).String())
	cmd.Stdout = out
	if cmd.Stderr, err = os.Create(filepath.Join(o.out, "sink.log")); err != nil {
		return nil, a, err
	}
	if err := cmd.Start(); err != nil {
		return nil, a, fmt.Errorf("start sink: %w", err)
	}
	var line string
	for range 300 {
		b, _ := os.ReadFile(outPath)
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			line = string(b[:i])
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := json.Unmarshal([]byte(line), &a); err != nil || a.GRPC == "" || a.Stats == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, a, fmt.Errorf("sink did not report its addresses within 30 s (%q)", line)
	}
	return cmd, a, nil
}

type sinkCounts struct {
	Spans int64 `json:"spans"`
}

func sinkStats(url string) (sinkCounts, error) {
	var c sinkCounts
	resp, err := httpClient.Get(url)
	if err != nil {
		return c, fmt.Errorf("sink stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("sink stats: %w", err)
	}
	return c, nil
}

func (s *soak) startGateway(ctx context.Context) error {
	logFile, err := os.Create(filepath.Join(s.dir, "otlpgw.log"))
	if err != nil {
		return err
	}
	s.gw = exec.Command(filepath.Join(s.o.bin, "otlpgw"), "run", "--config", s.cfg.path)
	s.gw.Stdout, s.gw.Stderr = logFile, logFile
	if err := s.gw.Start(); err != nil {
		return fmt.Errorf("start otlpgw: %w", err)
	}
	s.gwDone = make(chan struct{})
	go func() { s.gwErr = s.gw.Wait(); logFile.Close(); close(s.gwDone) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.gwDone:
			return fmt.Errorf("otlpgw exited during start-up (%v); see %s", s.gwErr, logFile.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := httpClient.Get("http://" + s.cfg.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("otlpgw not ready within 60 s")
}

// stopProcess sends SIGTERM, waits up to limit, then kills. It returns the
// exit status (-1 if killed or never started). done, when non-nil, is
// closed by whoever waits for the process.
func stopProcess(cmd *exec.Cmd, done chan struct{}, limit time.Duration) int {
	if cmd == nil || cmd.Process == nil {
		return -1
	}
	if done == nil {
		done = make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
	}
	select {
	case <-done: // already gone
		return cmd.ProcessState.ExitCode()
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return -1
	}
}
