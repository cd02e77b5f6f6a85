package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// drainingGateway starts a gateway whose upstream is stalled, accepts 100
// spans into its queue, and begins Shutdown. It returns once intake is
// closed (a new export is refused), with the drain still running: the
// upstream stays stalled until resume is called, after which the
// returned channel yields Shutdown's error.
func drainingGateway(t *testing.T) (gw *gateway.Gateway, resume func() error) {
	t.Helper()
	sink := otlpsink.Start(t)
	sink.Stall()
	gw = startGateway(t, fmt.Sprintf(`
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}}
`, sink.Addr()))
	client := traceClient(t, gw)
	for i := range 10 {
		if _, err := client.Export(context.Background(), otlptest.Traces(1, 10, 2, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- shutdown(gw, 10*time.Second) }()
	for {
		if _, err := client.Export(context.Background(), otlptest.Traces(1, 1, 0, 100)); err != nil {
			break // intake closed: the drain has begun and cannot end while the upstream stalls
		}
	}
	var resumed bool
	resume = func() error {
		if !resumed {
			resumed = true
			sink.Resume()
		}
		return <-done
	}
	t.Cleanup(func() {
		if !resumed {
			_ = resume()
		}
	})
	return gw, resume
}

// TestReadyzIsDrainingDuringShutdown: once the receivers refuse, /readyz
// answers 503 with status "draining" and no receiver listening, for as
// long as the drain lasts.
func TestReadyzIsDrainingDuringShutdown(t *testing.T) {
	gw, resume := drainingGateway(t)
	res, err := http.Get("http://" + gw.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Detail struct {
			Draining  bool `json:"draining"`
			Receivers map[string]struct {
				Listening bool `json:"listening"`
			} `json:"receivers"`
		} `json:"detail"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || body.Status != "draining" || !body.Detail.Draining {
		t.Errorf("/readyz during the drain: %d status %q draining %v, want 503 \"draining\" true", res.StatusCode, body.Status, body.Detail.Draining)
	}
	for name, r := range body.Detail.Receivers {
		if r.Listening {
			t.Errorf("/readyz during the drain: receiver %s says listening", name)
		}
	}
	if err := resume(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownLossIsScrapableDuringTheDrain: while the drain runs, /metrics
// still answers and shows the gateway draining with every accepted item at
// risk, so the OtlpgwShutdownLoss alert has a sample to fire on before the
// process exits; after a clean drain the gauge is back to 0.
func TestShutdownLossIsScrapableDuringTheDrain(t *testing.T) {
	gw, resume := drainingGateway(t)
	atRisk := label("exporter", "upstream")
	// The gauge is set once the pipeline has queued what it had in flight,
	// just after intake closed.
	var m map[string]float64
	testwait.Until(t, func() string { return "otlpgw_shutdown_items_at_risk during the drain" }, func() bool {
		m = scrape(t, gw)
		return m["otlpgw_shutdown_items_at_risk{"+atRisk+"}"] > 0
	})
	accepted := sum(m, "otlpgw_receiver_accepted_items_total")
	if got := m["otlpgw_shutdown_items_at_risk{"+atRisk+"}"]; got != accepted || accepted < 100 {
		t.Errorf("scraped during the drain: otlpgw_shutdown_items_at_risk = %v, want every accepted item (%v)", got, accepted)
	}
	if m["otlpgw_draining"] != 1 {
		t.Errorf("scraped during the drain: otlpgw_draining = %v, want 1", m["otlpgw_draining"])
	}
	if err := resume(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := gathered(t, gw)["otlpgw_shutdown_items_at_risk{"+atRisk+"}"]; got != 0 {
		t.Errorf("after a clean drain otlpgw_shutdown_items_at_risk = %v, want 0", got)
	}
}
