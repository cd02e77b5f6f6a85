package sdk_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/internal/hook"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// Defined at package init, before the host is ready: the SDK defines it
// lazily.
var initCounter = sdk.NewCounter("test_init_counter_total", "A counter defined at package init.")

func oneSpan() (req, idx []byte) {
	return sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}})
}

func TestMetricUpdatesAreBufferedPerCall(t *testing.T) {
	c := sdk.NewCounter("test_items_total", "Items.")
	g := sdk.NewGauge("test_gauge", "Set then added to.")
	ga := sdk.NewGauge("test_gauge_add", "Only added to.")
	h := sdk.NewHistogram("test_hist", "Observed twice.")
	req, idx := oneSpan()
	f := sdk.Filter{Traces: func(*sdk.Traces) {
		for range 3 {
			c.Inc()
			initCounter.Inc()
		}
		c.Add(-5) // counters only go up
		c.Add(0.5)
		g.Add(100) // overridden by the Set
		g.Set(10)
		g.Add(2)
		ga.Add(-1)
		ga.Add(-2)
		h.Observe(1)
		h.Observe(2)
	}}
	_, rec := sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	want := []sdktest.MetricUpdate{
		{Name: "test_items_total", Value: 3.5},
		{Name: "test_init_counter_total", Value: 3},
		{Name: "test_gauge", Record: true, Value: 12},
		{Name: "test_gauge_add", Value: -3},
		{Name: "test_hist", Record: true, Value: 1},
		{Name: "test_hist", Record: true, Value: 2},
	}
	if !reflect.DeepEqual(rec.Metrics, want) {
		t.Errorf("updates %+v\nwant %+v", rec.Metrics, want)
	}
	_, rec = sdktest.RunFilter(sdk.Filter{Traces: func(*sdk.Traces) {}}, sdk.SignalTraces, req, idx)
	if len(rec.Metrics) != 0 {
		t.Errorf("a call with no updates flushed %+v", rec.Metrics)
	}
}

func TestMetricNameValidation(t *testing.T) {
	for _, name := range []string{"", "Upper", "9lives", "has-dash", strings.Repeat("a", 65)} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, "invalid metric name") {
					t.Errorf("NewCounter(%q): panic %q, want an invalid-name panic", name, msg)
				}
			}()
			sdk.NewCounter(name, "")
		}()
	}
	for _, name := range []string{"_x", "a9_b", strings.Repeat("a", 64)} {
		sdk.NewCounter(name, "valid")
	}
}

func TestRefusedMetricIsLoggedAndDropped(t *testing.T) {
	req, idx := oneSpan()
	var g *sdk.Gauge
	_, rec := sdktest.RunFilter(sdk.Filter{Traces: func(*sdk.Traces) {
		sdk.NewCounter("test_kind_clash", "a counter")
		g = sdk.NewGauge("test_kind_clash", "the same name as a gauge")
		g.Set(1)
	}}, sdk.SignalTraces, req, idx)
	if len(rec.Metrics) != 0 {
		t.Errorf("updates of a refused metric reached the host: %+v", rec.Metrics)
	}
	if len(rec.Logs) != 1 || rec.Logs[0].Level != sdk.LevelError || !strings.Contains(rec.Logs[0].Msg, "test_kind_clash refused") {
		t.Errorf("logs %+v, want one error about test_kind_clash", rec.Logs)
	}
}

// Pressure and gateway health are host calls; the SDK makes each at most
// once per call.
func TestPressureAndHealthAreReadOncePerCall(t *testing.T) {
	defer sdktest.SetPressure(0)
	defer sdktest.SetGatewayHealth(sdk.GatewayHealthy)
	sdktest.SetPressure(0.25)
	sdktest.SetGatewayHealth(sdk.GatewayDegraded)
	req, idx := oneSpan()
	var got []any
	f := sdk.Filter{Traces: func(*sdk.Traces) {
		got = append(got, sdk.Pressure(), sdk.GatewayHealth())
		sdktest.SetPressure(0.75)
		sdktest.SetGatewayHealth(sdk.GatewayDraining)
		got = append(got, sdk.Pressure(), sdk.GatewayHealth())
	}}
	sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	want := []any{0.25, sdk.GatewayDegraded, 0.25, sdk.GatewayDegraded, 0.75, sdk.GatewayDraining, 0.75, sdk.GatewayDraining}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

func TestLogHealthAndClock(t *testing.T) {
	defer sdktest.SetNow(0)
	sdktest.SetNow(42)
	req, idx := oneSpan()
	var now int64
	_, rec := sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		now = sdk.Now()
		sdk.Log(sdk.LevelWarn, "plain")
		sdk.Log(sdk.LevelInfo, strconv.Itoa(tr.Len())+" spans")
		sdk.ReportHealth(sdk.Degraded, "slow upstream")
	}}, sdk.SignalTraces, req, idx)
	if now != 42 {
		t.Errorf("Now = %d, want the fixed 42", now)
	}
	wantLogs := []sdktest.LogLine{{Level: sdk.LevelWarn, Msg: "plain"}, {Level: sdk.LevelInfo, Msg: "1 spans"}}
	if !reflect.DeepEqual(rec.Logs, wantLogs) {
		t.Errorf("logs %+v, want %+v", rec.Logs, wantLogs)
	}
	if want := []sdktest.HealthReport{{Status: sdk.Degraded, Msg: "slow upstream"}}; !reflect.DeepEqual(rec.Health, want) {
		t.Errorf("health %+v, want %+v", rec.Health, want)
	}
	sdktest.SetNow(0)
	if sdk.Now() < 1e18 {
		t.Errorf("Now = %d after SetNow(0), want the real clock", sdk.Now())
	}
}

func TestInit(t *testing.T) {
	c := sdk.NewCounter("test_init_calls_total", "Init calls.")
	var got []string
	f := sdk.Filter{Init: func(cfg []byte) error {
		got = append(got, string(cfg))
		c.Inc()
		if string(cfg) == `{"bad":true}` {
			return errors.New("bad is not allowed")
		}
		return nil
	}}
	rec, err := sdktest.InitFilter(f, nil)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if want := []sdktest.MetricUpdate{{Name: "test_init_calls_total", Value: 1}}; !reflect.DeepEqual(rec.Metrics, want) {
		t.Errorf("Init flushed %+v, want %+v", rec.Metrics, want)
	}
	rec, err = sdktest.InitFilter(f, []byte(`{"bad":true}`))
	if err == nil || err.Error() != "bad is not allowed" {
		t.Errorf("Init error %v, want the filter's", err)
	}
	if len(rec.Logs) != 1 || rec.Logs[0].Level != sdk.LevelError {
		t.Errorf("a refused config logged %+v, want one error", rec.Logs)
	}
	if want := []string{"{}", `{"bad":true}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("Init saw configs %q, want %q", got, want)
	}
	if _, err := sdktest.InitFilter(sdk.Filter{}, nil); err != nil {
		t.Errorf("a filter without Init: %v", err)
	}
}

// The only test that registers: Register is once per process, as in a
// module, so the test starts from and restores an unregistered state.
func TestRegister(t *testing.T) {
	defer hook.Swap(hook.Swap(nil))
	if _, err := sdktest.Init(nil); err == nil || !strings.Contains(err.Error(), "registered no filter") {
		t.Fatalf("Init before Register: %v, want a no-filter error", err)
	}
	sdk.Register(sdk.Filter{Traces: func(tr *sdk.Traces) { tr.Span(0).Drop("registered") }})
	if _, err := sdktest.Init(nil); err != nil {
		t.Fatalf("Init after Register: %v", err)
	}
	req, idx := oneSpan()
	edits, _ := sdktest.Run(sdk.SignalTraces, req, idx)
	diffLines(t, sdktest.Describe(edits), []string{`DROP_ITEM item 0 "registered"`})
	// RunFilter restores the registered filter afterwards.
	sdktest.RunFilter(sdk.Filter{}, sdk.SignalTraces, req, idx)
	edits, _ = sdktest.Run(sdk.SignalTraces, req, idx)
	diffLines(t, sdktest.Describe(edits), []string{`DROP_ITEM item 0 "registered"`})
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "Register called twice") {
			t.Errorf("second Register: panic %q", msg)
		}
	}()
	sdk.Register(sdk.Filter{})
}
