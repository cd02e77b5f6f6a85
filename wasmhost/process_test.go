package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// TestGoodFilter runs the well-behaved module on every signal: passwords
// are deleted and nothing else, an untouched batch comes back as nil, and
// the module's log line, metric and health reports reach the gateway.
func TestGoodFilter(t *testing.T) {
	rt, logs := newRuntime(t)
	host := newTestHost()
	f := load(t, rt, "good", LoadConfig{Config: []byte(`{"mode":"strict"}`), Instances: 2}, host)
	waitFree(t, f, 2) // both instances have reported "ready"

	req, ix := batch(t, otlpwire.Traces, traces(true, "a", "b", "c"))
	res, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
	if err != nil {
		t.Fatal(err)
	}
	if res.Req == nil || res.Dropped != 0 || res.Reject != "" {
		t.Fatalf("result %+v, want a new request, nothing dropped", res)
	}
	want := []string{"user", "http.method", "user", "http.method", "user", "http.method"}
	if got := spanAttrKeys(t, res.Req); !slices.Equal(got, want) {
		t.Errorf("span attributes after filter = %v, want %v", got, want)
	}
	if kind, sum, ok := host.metric("good/redacted_total"); !ok || kind != MetricCounter || sum != 3 {
		t.Errorf("module metric redacted_total = %v %v (defined %v), want a counter at 3", kind, sum, ok)
	}

	req, ix = batch(t, otlpwire.Traces, traces(false, "a"))
	if res, err := f.Process(context.Background(), otlpwire.Traces, req, ix); err != nil || res.Req != nil {
		t.Errorf("batch without passwords: %+v, %v; want unchanged (nil Req)", res, err)
	}

	lreq, lix := batch(t, otlpwire.Logs, logsReq(true, 2))
	if res, err := f.Process(context.Background(), otlpwire.Logs, lreq, lix); err != nil || res.Req == nil || len(res.Req) >= len(lreq) {
		t.Errorf("logs: %d bytes in, result %+v, %v; want a shorter request", len(lreq), res, err)
	}
	mreq, mix := batch(t, otlpwire.Metrics, metricsReq(true))
	if res, err := f.Process(context.Background(), otlpwire.Metrics, mreq, mix); err != nil || res.Req == nil || len(res.Req) >= len(mreq) {
		t.Errorf("metrics: %d bytes in, result %+v, %v; want a shorter request", len(mreq), res, err)
	}

	if rec, ok := logs.find(`ready with config {"mode":"strict"}`); !ok || rec.attrs["filter"] != "good" || rec.level.String() != "INFO" {
		t.Errorf("guest log line = %+v, %v; want INFO with filter=good", rec, ok)
	}
	if st, msg := f.Health(); st != StatusHealthy || msg != "ready" {
		t.Errorf("Health() = %d %q, want healthy \"ready\"", st, msg)
	}

	// Under pressure the module says it is shedding.
	host.mu.Lock()
	host.pressure = 0.95
	host.mu.Unlock()
	if _, err := f.Process(context.Background(), otlpwire.Traces, req, ix); err != nil {
		t.Fatal(err)
	}
	if st, msg := f.Health(); st != StatusDegraded || msg != "shedding" {
		t.Errorf("Health() under pressure = %d %q, want degraded \"shedding\"", st, msg)
	}
	// Each instance reported "ready" at init, but the gateway hears only changes.
	if got := host.reported(); !slices.Equal(got, []string{"good 0 ready", "good 1 shedding"}) {
		t.Errorf("reports = %q", got)
	}
}

// TestDropAndReject checks the DROP_ITEM and REJECT verdicts.
func TestDropAndReject(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "good", LoadConfig{Instances: 1}, nil)

	req, ix := batch(t, otlpwire.Traces, traces(false, "drop", "keep"))
	res, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || res.Reason != "dropped by test" || res.Req == nil {
		t.Fatalf("drop: %+v", res)
	}
	var out otlpwire.Index
	if err := out.Parse(otlpwire.Traces, res.Req); err != nil || out.Items != 1 {
		t.Errorf("after drop: %d items, %v; want 1", out.Items, err)
	}

	req, ix = batch(t, otlpwire.Traces, traces(false, "reject"))
	res, err = f.Process(context.Background(), otlpwire.Traces, req, ix)
	if err != nil || res.Reject != "no thanks" || res.Req != nil {
		t.Errorf("reject: %+v, %v", res, err)
	}
}

// TestSignalNotHandled checks that a batch of a signal the filter does not
// run on comes back unchanged without reaching the guest.
func TestSignalNotHandled(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "good", LoadConfig{Signals: []otlpwire.Signal{otlpwire.Logs}, Instances: 1}, nil)
	req, ix := batch(t, otlpwire.Traces, traces(false, "panic"))
	if res, err := f.Process(context.Background(), otlpwire.Traces, req, ix); err != nil || res.Req != nil {
		t.Errorf("traces through a logs-only filter: %+v, %v; want unchanged", res, err)
	}
}

// TestFailures makes each hostile module fail and checks the failure's
// kind, that the instance is replaced (the pool has one instance, so the
// next call needs the replacement), and, for modules that can also
// behave, that the next good batch goes through.
func TestFailures(t *testing.T) {
	rt, logs := newRuntime(t)
	good, _ := batch(t, otlpwire.Traces, traces(true, "fine"))
	tests := []struct {
		name    string
		module  string
		span    string // the first span's name: the good module's trigger
		timeout time.Duration
		memory  int64
		config  string
		kind    string
		msg     string // in FailureError.Msg
		recover bool   // the same filter then handles a good batch
	}{
		{"infinite loop", "loop", "x", 100 * time.Millisecond, 0, "", KindTimeout, "otlpgw_process_traces did not return within 100ms", false},
		{"allocate until the limit", "oom", "x", 30 * time.Second, 16 << 20, "", KindOOM, "otlpgw_process_traces: memory limit of 16 MiB reached: runtime: out of memory", false},
		{"panic", "panic", "x", 0, 0, "", KindTrap, "otlpgw_process_traces: wasm error: unreachable: panic: filter bug", false},
		{"edit list outside memory", "badptr", "x", 0, 0, "", KindBadOutput, "edit list [0xfffffff0, +64) is outside the guest's", false},
		{"garbage edit list", "garbage", "x", 0, 0, "", KindBadOutput, "edit list: record 0 (op(99), byte 0)", false},
		{"oversized edit length", "oversize", "x", 0, 0, "", KindBadOutput, "edit list: record 0 (DROP_ITEM, byte 0): len_a 2147483632 + len_b 0", false},
		{"good module panics", "good", "panic", 0, 0, "", KindTrap, "unreachable: panic: boom", true},
		{"good module sleeps", "good", "sleep", 100 * time.Millisecond, 0, "", KindTimeout, "did not return within 100ms", true},
		{"alloc returns 0", "good", "x", 0, 0, `{"alloc0":true}`, KindOOM, "otlpgw_alloc(", false},
		{"host call with a bad pointer", "good", "log-oob", 0, 0, "", KindBadOutput, "otlpgw_process_traces: otlpgw.log: guest range [0xffffff00, +1000) is outside its memory", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.timeout == 0 {
				// Long enough for the replacement instance to be made,
				// even under the race detector.
				tt.timeout = 10 * time.Second
			}
			f := load(t, rt, tt.module, LoadConfig{Name: tt.name, Timeout: tt.timeout, MemoryLimit: tt.memory, Config: []byte(tt.config), Instances: 1, OnError: OnErrorDrop}, nil)
			req, ix := batch(t, otlpwire.Traces, traces(true, tt.span))
			for call := range 2 {
				// One instance: after the first failure, the second call
				// needs the replacement.
				waitFree(t, f, 1)
				start := time.Now()
				_, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
				took := time.Since(start)
				var fe *FailureError
				if !errors.As(err, &fe) {
					t.Fatalf("call %d: error %v, want a *FailureError", call, err)
				}
				if fe.Kind != tt.kind || !strings.Contains(fe.Msg, tt.msg) || fe.OnError != OnErrorDrop || fe.Filter != tt.name || fe.Signal != otlpwire.Traces {
					t.Fatalf("call %d: %#v\nwant kind %s, msg containing %q", call, fe, tt.kind, tt.msg)
				}
				// A hang net, not a speed claim: a guest that is not
				// stopped never returns, and the kind and message above
				// show the deadline stopped it; how soon after it depends
				// on the machine's load.
				if tt.kind == KindTimeout && took > tt.timeout+hangBound {
					t.Errorf("call %d: stopped after %v, want within %v + %v", call, took, tt.timeout, hangBound)
				}
				t.Logf("call %d (%v): %v", call, took.Round(time.Millisecond), err)
			}
			if st, msg := f.Health(); st != StatusDegraded || !strings.Contains(msg, "2 consecutive failures") {
				t.Errorf("Health() = %d %q, want degraded after 2 failures", st, msg)
			}
			if !tt.recover {
				return
			}
			waitFree(t, f, 1)
			gix := &otlpwire.Index{}
			if err := gix.Parse(otlpwire.Traces, good); err != nil {
				t.Fatal(err)
			}
			res, err := f.Process(context.Background(), otlpwire.Traces, good, gix)
			if err != nil || res.Req == nil {
				t.Fatalf("good batch after failures: %+v, %v", res, err)
			}
			if st, _ := f.Health(); st != StatusHealthy {
				t.Errorf("Health() after a success = %d, want healthy", st)
			}
		})
	}
	// What a panicking Go guest writes to stderr reaches the log.
	if rec, ok := logs.find("panic: filter bug"); !ok || rec.attrs["stream"] != "stderr" || rec.attrs["filter"] != "panic" || rec.level.String() != "WARN" {
		t.Errorf("panic message in the log = %+v, %v; want WARN stream=stderr filter=panic", rec, ok)
	}
}

// TestLoopDoesNotBlockGC checks the reason for the deadline tick: a guest
// spinning in compiled code has no preemption points, so without it the
// next garbage collection would wait for the guest forever. With it, the
// guest calls the host every 2^14 loop iterations, so a collection
// completes while the guest is still looping, long before its deadline.
func TestLoopDoesNotBlockGC(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "loop", LoadConfig{Timeout: 20 * time.Second, Instances: 1}, nil)
	req, ix := batch(t, otlpwire.Traces, traces(false, "x"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	called := make(chan error, 1)
	go func() {
		_, err := f.Process(ctx, otlpwire.Traces, req, ix)
		called <- err
	}()
	// Wait until the guest is running: its instance has left the pool.
	for f.pool.Free() > 0 {
		runtime.Gosched()
	}
	// What shows the collection did not wait for the guest is that the
	// guest is still looping afterwards (below); the bound only catches a
	// collection that waited for most of the 20s deadline, and leaves a
	// loaded machine room.
	start := time.Now()
	runtime.GC()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("runtime.GC took %v while a guest looped", took)
	}
	select {
	case err := <-called:
		t.Fatalf("the looping call ended during the collection: %v", err)
	default:
	}
	cancel()
	if err := <-called; !errors.Is(err, context.Canceled) {
		t.Errorf("looping call: %v, want context.Canceled", err)
	}
}

// TestCallerGivesUp checks that a caller's cancelled context stops the
// guest, is reported as the caller's error, and does not count against
// the filter.
func TestCallerGivesUp(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "loop", LoadConfig{Timeout: 10 * time.Second, Instances: 1}, nil)
	req, ix := batch(t, otlpwire.Traces, traces(false, "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Process(ctx, otlpwire.Traces, req, ix)
	var fe *FailureError
	if errors.As(err, &fe) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the caller's context.DeadlineExceeded, not a FailureError", err)
	}
	// The error above shows the caller's context stopped the guest; the
	// bound (half the filter's own 10s timeout) only catches a hang.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopped after %v, want about 50ms", took)
	}
	if st, msg := f.Health(); st != StatusHealthy {
		t.Errorf("Health() = %d %q, want healthy: the caller gave up", st, msg)
	}
}

// TestCrashLoop checks the crash-loop policy: five consecutive failures
// make the filter unhealthy and back re-instantiation off; a success
// afterwards makes it healthy again.
func TestCrashLoop(t *testing.T) {
	rt, logs := newRuntime(t)
	// The timeout also bounds the wait for an instance: generous, so the
	// good call below outlasts the back-off and a slow instantiation.
	f := load(t, rt, "good", LoadConfig{Timeout: 10 * time.Second, Instances: 1}, nil)
	bad, badIx := batch(t, otlpwire.Traces, traces(false, "panic"))
	var start time.Time
	for i := range crashLoop.Threshold {
		// The back-off starts when the last failure discards its
		// instance, so it is measured from before that call: a lower
		// bound no delay on a loaded machine can break.
		start = time.Now()
		if _, err := f.Process(context.Background(), otlpwire.Traces, bad, badIx); err == nil {
			t.Fatalf("call %d succeeded, want a trap", i)
		}
	}
	st, msg := f.Health()
	if st != StatusUnhealthy || !strings.HasPrefix(msg, "crash loop: 5 consecutive failures, last: filter[good] signal[traces]: trap:") {
		t.Errorf("Health() = %d %q, want unhealthy crash loop", st, msg)
	}
	if _, ok := logs.find("crash-looping"); !ok {
		t.Error("no log line about the crash loop")
	}
	// The replacement comes after the back-off, within the wait.
	okReq, okIx := batch(t, otlpwire.Traces, traces(true, "fine"))
	if _, err := f.Process(context.Background(), otlpwire.Traces, okReq, okIx); err != nil {
		t.Fatal(err)
	}
	if took, backoff := time.Since(start), crashLoop.Delay(crashLoop.Threshold); took < backoff {
		t.Errorf("good call came %v after the last failure, want it to wait for the %v back-off", took, backoff)
	}
	if st, msg := f.Health(); st != StatusHealthy {
		t.Errorf("Health() after a success = %d %q, want healthy", st, msg)
	}
	if _, ok := logs.find("filter recovered"); !ok {
		t.Error("no log line about the recovery")
	}
}

// TestHammer runs many concurrent calls, some of them failing, through a
// two-instance pool: every answer must be the right one for its batch, and
// the pool must never hold more than its two instances.
func TestHammer(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "good", LoadConfig{Timeout: 5 * time.Second, Instances: 2}, newTestHost())
	const goroutines, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	maxInsts := 0
	var mu sync.Mutex
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				name := fmt.Sprintf("span-%d-%d", g, i)
				fail := (g+i)%10 == 0
				if fail {
					name = "panic"
				}
				req, ix := batch(t, otlpwire.Traces, traces(true, name, "second"))
				res, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
				f.instMu.RLock()
				n := len(f.insts)
				f.instMu.RUnlock()
				mu.Lock()
				maxInsts = max(maxInsts, n)
				mu.Unlock()
				var fe *FailureError
				switch {
				case fail && (!errors.As(err, &fe) || fe.Kind != KindTrap):
					errs <- fmt.Errorf("%s: %v, want a trap", name, err)
				case !fail && err != nil:
					errs <- fmt.Errorf("%s: %v", name, err)
				case !fail && len(spanAttrKeys(t, res.Req)) != 4:
					errs <- fmt.Errorf("%s: attributes %v, want 4 left", name, spanAttrKeys(t, res.Req))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxInsts > 2 {
		t.Errorf("up to %d instances alive, want at most 2", maxInsts)
	}
}

// TestClose checks Close: it waits for a call in flight, later calls get
// ErrClosed, a second Close is harmless, and a Close whose context ends
// stops a stuck guest.
func TestClose(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "good", LoadConfig{Instances: 1}, nil)
	req, ix := batch(t, otlpwire.Traces, traces(true, "a"))
	if _, err := f.Process(context.Background(), otlpwire.Traces, req, ix); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.Process(context.Background(), otlpwire.Traces, req, ix); !errors.Is(err, ErrClosed) {
		t.Errorf("Process after Close: %v, want ErrClosed", err)
	}

	stuck := load(t, rt, "loop", LoadConfig{Timeout: time.Hour, Instances: 1}, nil)
	called := make(chan error, 1)
	go func() {
		_, err := stuck.Process(context.Background(), otlpwire.Traces, req, ix)
		called <- err
	}()
	for stuck.pool.Free() > 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := stuck.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck call: %v, want context.DeadlineExceeded", err)
	}
	// Close returns DeadlineExceeded only when its context ended; the
	// bound only catches a hang (the stuck call's timeout is an hour).
	if took := time.Since(start); took > hangBound {
		t.Errorf("Close took %v, want about 50ms", took)
	}
	if err := <-called; err == nil {
		t.Error("the stuck call succeeded")
	}
}

// TestRuntimeClose checks that closing the runtime closes its filters.
func TestRuntimeClose(t *testing.T) {
	rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := rt.Load(context.Background(), LoadConfig{Name: "n", Module: modules["noop"], Instances: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, ix := batch(t, otlpwire.Traces, traces(false, "a"))
	if _, err := f.Process(context.Background(), otlpwire.Traces, req, ix); !errors.Is(err, ErrClosed) {
		t.Errorf("Process after Runtime.Close: %v, want ErrClosed", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := rt.Load(context.Background(), LoadConfig{Name: "late", Module: modules["noop"]}, nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Load after Close: %v, want an error", err)
	}
}
