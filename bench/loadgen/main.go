// Command loadgen offers OTLP/gRPC trace or log load for otlpgw's benchmark.
//
// It pre-encodes a pool of distinct ExportTraceServiceRequests (by default
// 100 spans of 10 attributes each, about 550 bytes per span) or, with
// -signal logs, ExportLogsServiceRequests (100 log records of 10 attributes
// and a ~100-byte body each, about 550 bytes per record), and sends them
// with concurrent workers for a fixed duration, flat out or paced to a fixed
// rate in items per second. -mix adds what scenarios S2 and S3 filter (see
// mix.go) and reports how many of the items sent the drop rule keeps. The
// bytes go through a pass-through codec, so the generator spends little CPU
// of the cores it shares with what it measures. It prints one JSON line
// summarising what was sent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/bench/internal/rawcodec"
)

// exportMethods maps -signal to the gRPC method that takes its requests.
var exportMethods = map[string]string{
	"traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	"logs":   "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

// config is what the flags set.
type config struct {
	Endpoint string
	Duration time.Duration
	Workers  int
	Conns    int
	Rate     float64 // items per second; 0 is flat out
	Timeout  time.Duration
	Pool     poolSpec
}

// summary is the one-line JSON report. The spans_* fields count items of
// the signal sent (log records with -signal logs); their names predate logs.
type summary struct {
	Endpoint        string  `json:"endpoint"`
	Signal          string  `json:"signal"`
	Mix             bool    `json:"mix"`
	Mode            string  `json:"mode"`
	RateTarget      float64 `json:"rate_target_spans_per_s"`
	Workers         int     `json:"workers"`
	Conns           int     `json:"conns"`
	ElapsedSeconds  float64 `json:"elapsed_s"`
	RequestsOK      int64   `json:"requests_ok"`
	SpansOK         int64   `json:"spans_ok"`
	RequestsRefused int64   `json:"requests_refused"`
	SpansRefused    int64   `json:"spans_refused"`
	// RefusedNoRetry counts the refusals (UNAVAILABLE) that carried no
	// google.rpc.RetryInfo, which OTLP clients need to know when to retry.
	RefusedNoRetry int64 `json:"requests_refused_without_retry_info"`
	// ItemsKept is how many of the items answered OK the S2/S3 drop rule
	// keeps: what a downstream of a target that filters must receive.
	ItemsKept       int64   `json:"items_kept_expected"`
	Errors          int64   `json:"errors"`
	FirstError      string  `json:"first_error,omitempty"`
	SpansPerSecond  float64 `json:"spans_ok_per_s"`
	CPUSeconds      float64 `json:"loadgen_cpu_s"` // this process's own user+system time, pool building included
	BytesPerSpan    float64 `json:"bytes_per_span"`
	PoolRequests    int     `json:"pool_requests"`
	SpansPerRequest int     `json:"spans_per_request"`
	// Uncertain counts the errors that ended for want of an answer (the
	// request deadline): the target may have accepted them, so a sink may
	// receive up to KeptUncertain items more than ItemsKept (SpansOK in
	// S1) without anything being duplicated. Refusals (UNAVAILABLE) and
	// other answered errors are never accepted.
	RequestsUncertain int64 `json:"requests_uncertain"`
	KeptUncertain     int64 `json:"items_kept_uncertain"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Endpoint, "endpoint", "127.0.0.1:4317", "OTLP/gRPC host:port to send to")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long to send")
	flag.IntVar(&cfg.Workers, "workers", 8, "concurrent senders (requests in flight)")
	flag.IntVar(&cfg.Conns, "conns", 2, "gRPC connections the workers share")
	flag.StringVar(&cfg.Pool.Signal, "signal", "traces", "what to send: traces or logs")
	flag.BoolVar(&cfg.Pool.Mix, "mix", false, "add what scenarios S2/S3 filter: health checks (dropped), near misses, resources without deployment.environment, long values, password attributes")
	flag.Float64Var(&cfg.Rate, "rate", 0, "offered load in items (spans or log records)/s, token-bucket paced; 0 sends flat out")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "deadline of each request")
	flag.IntVar(&cfg.Pool.Requests, "pool", 256, "distinct pre-encoded requests")
	flag.IntVar(&cfg.Pool.SpansPerReq, "spans", 100, "items (spans or log records) per request")
	flag.IntVar(&cfg.Pool.AttrsPerSpan, "attrs", 10, fmt.Sprintf("attributes per item (at most %d)", len(spanAttrs)))
	flag.IntVar(&cfg.Pool.Resources, "resources", 4, "distinct resources the requests rotate through")
	flag.IntVar(&cfg.Pool.SpansPerTrace, "spans-per-trace", 10, "items sharing one trace ID")
	flag.Uint64Var(&cfg.Pool.Seed, "seed", 1, "seed of the generated data")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(s)
	fmt.Println(string(line))
	if s.SpansOK == 0 {
		os.Exit(1)
	}
}

// run sends load as cfg says until cfg.Duration has passed or ctx ends.
func run(ctx context.Context, cfg config) (summary, error) {
	if cfg.Workers < 1 || cfg.Conns < 1 || cfg.Duration <= 0 || cfg.Rate < 0 || cfg.Timeout <= 0 {
		return summary{}, fmt.Errorf("workers, conns, duration and timeout must be > 0 and rate >= 0 (got %+v)", cfg)
	}
	if cfg.Pool.Signal == "" {
		cfg.Pool.Signal = "traces"
	}
	method, ok := exportMethods[cfg.Pool.Signal]
	if !ok {
		return summary{}, fmt.Errorf("signal must be traces or logs (got %q)", cfg.Pool.Signal)
	}
	pool, err := buildPool(cfg.Pool)
	if err != nil {
		return summary{}, err
	}
	poolBytes := 0
	for _, q := range pool {
		poolBytes += len(q.b)
	}

	conns := make([]*grpc.ClientConn, cfg.Conns)
	for i := range conns {
		c, err := grpc.NewClient(cfg.Endpoint,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawcodec.Codec{})))
		if err != nil {
			return summary{}, fmt.Errorf("connect %s: %w", cfg.Endpoint, err)
		}
		defer c.Close()
		if err := waitReady(ctx, c, 10*time.Second); err != nil {
			return summary{}, fmt.Errorf("connect %s: %w", cfg.Endpoint, err)
		}
		conns[i] = c
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var pace *pacer
	if cfg.Rate > 0 {
		pace = newPacer(cfg.Rate, float64(cfg.Pool.SpansPerReq), cfg.Workers)
	}
	results := make([]workerResult, cfg.Workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = work(runCtx, conns[w%len(conns)], method, pool, w, cfg, pace)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	s := summary{
		Endpoint: cfg.Endpoint, Signal: cfg.Pool.Signal, Mix: cfg.Pool.Mix, Mode: "flat_out", RateTarget: cfg.Rate, Workers: cfg.Workers, Conns: cfg.Conns,
		ElapsedSeconds: elapsed.Seconds(), PoolRequests: len(pool), SpansPerRequest: cfg.Pool.SpansPerReq,
		BytesPerSpan: float64(poolBytes) / float64(len(pool)*cfg.Pool.SpansPerReq),
	}
	if cfg.Rate > 0 {
		s.Mode = "fixed_rate"
	}
	for _, r := range results {
		s.RequestsOK += r.ok
		s.RequestsRefused += r.refused
		s.RefusedNoRetry += r.noRetryInfo
		s.Errors += r.errors
		s.ItemsKept += r.kept
		s.RequestsUncertain += r.uncertain
		s.KeptUncertain += r.keptUncertain
		if s.FirstError == "" && r.firstErr != nil {
			s.FirstError = r.firstErr.Error()
		}
	}
	s.SpansOK = s.RequestsOK * int64(cfg.Pool.SpansPerReq)
	s.SpansRefused = s.RequestsRefused * int64(cfg.Pool.SpansPerReq)
	s.SpansPerSecond = float64(s.SpansOK) / elapsed.Seconds()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return s, nil
}

func waitReady(ctx context.Context, c *grpc.ClientConn, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c.Connect()
	for st := c.GetState(); st != connectivity.Ready; st = c.GetState() {
		if !c.WaitForStateChange(ctx, st) {
			return fmt.Errorf("not ready after %s (state %s)", limit, st)
		}
	}
	return nil
}

type workerResult struct {
	ok, refused, errors int64
	noRetryInfo         int64 // refusals without RetryInfo
	kept                int64 // items of the OK requests that the drop rule keeps
	uncertain           int64 // errors without an answer (deadline exceeded)
	keptUncertain       int64 // items of those that the drop rule keeps
	firstErr            error
}

// Back-off after UNAVAILABLE: short, because the point is to keep offering
// load, not to model a well-behaved exporter's retry policy.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = 200 * time.Millisecond
)

// work sends requests from the pool, starting at an offset per worker so
// concurrent requests differ, until ctx ends. In-flight requests get their
// own deadline rather than ctx's, so stopping never counts as an error.
func work(ctx context.Context, conn *grpc.ClientConn, method string, pool []request, w int, cfg config, pace *pacer) workerResult {
	var r workerResult
	i := (w * len(pool)) / cfg.Workers
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if pace != nil && !pace.wait(ctx) {
			break
		}
		callCtx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		q := &pool[i]
		err := conn.Invoke(callCtx, method, &q.b, rawcodec.Discard{})
		cancel()
		if i++; i == len(pool) {
			i = 0
		}
		switch status.Code(err) {
		case codes.OK:
			r.ok++
			r.kept += int64(q.kept)
			backoff = 0
			continue
		case codes.Unavailable:
			r.refused++
			if !hasRetryInfo(err) {
				r.noRetryInfo++
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
		case codes.DeadlineExceeded:
			r.errors++
			r.uncertain++
			r.keptUncertain += int64(q.kept)
			if r.firstErr == nil {
				r.firstErr = err
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
		default:
			r.errors++
			if r.firstErr == nil {
				r.firstErr = err
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
		}
		if !sleep(ctx, backoff) {
			break
		}
	}
	return r
}

func hasRetryInfo(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacer is a token bucket in items: it refills at rate per second, holds at
// most burst tokens, and a request that finds too few reserves the deficit
// and waits for it, so the offered load stays at rate however the workers
// interleave.
type pacer struct {
	mu       sync.Mutex
	rate     float64 // items per second
	perReq   float64 // items taken per request
	burst    float64
	tokens   float64
	lastFill time.Time
}

func newPacer(rate, perReq float64, workers int) *pacer {
	// One request per worker of burst lets every worker start at once
	// without letting an idle stretch bank a flood.
	burst := perReq * float64(workers)
	return &pacer{rate: rate, perReq: perReq, burst: burst, tokens: perReq, lastFill: time.Now()}
}

// reserve takes one request's tokens and says how long to wait for them.
func (p *pacer) reserve(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = min(p.burst, p.tokens+now.Sub(p.lastFill).Seconds()*p.rate)
	p.lastFill = now
	p.tokens -= p.perReq
	if p.tokens >= 0 {
		return 0
	}
	wake := now.Add(time.Duration(-p.tokens / p.rate * float64(time.Second)))
	// Wake-ups on a shared grid let the runtime fire several workers'
	// timers at once: far fewer thread wake-ups per request.
	if r := wake.Sub(wake.Truncate(paceQuantum)); r > 0 {
		wake = wake.Add(paceQuantum - r)
	}
	return wake.Sub(now)
}

// paceQuantum is the grid paced sends are aligned to; the offered rate
// averages out exactly; sends only bunch within one quantum.
const paceQuantum = 5 * time.Millisecond

// wait blocks until the caller may send one request; false if ctx ended.
func (p *pacer) wait(ctx context.Context) bool {
	return sleep(ctx, p.reserve(time.Now()))
}
