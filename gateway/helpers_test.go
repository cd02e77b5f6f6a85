package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if wasmDir != "" {
		os.RemoveAll(wasmDir)
	}
	if code == 0 {
		if err := goleak.Find(
			// The OTel SDK's HTTP clients keep idle keep-alive connections
			// until their transport is garbage; they are the client's, not ours.
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startGateway loads a base config (loopback ports chosen by the kernel)
// merged with yaml, and starts a gateway on it.
func startGateway(t *testing.T, yaml string) *gateway.Gateway {
	t.Helper()
	gw := newGateway(t, yaml)
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return gw
}

// startGatewayErr returns Start's error for a gateway built from yaml.
func startGatewayErr(t *testing.T, yaml string) error {
	t.Helper()
	return newGateway(t, yaml).Start(context.Background())
}

// newGateway builds (but does not start) a gateway; it is shut down when
// the test ends.
func newGateway(t *testing.T, yaml string) *gateway.Gateway {
	t.Helper()
	return newGatewayWith(t, yaml, gateway.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// newGatewayWith is newGateway with the caller's Settings (a logger to
// read, a file system that fails); CacheDir is the tests' shared one.
func newGatewayWith(t *testing.T, yaml string, set gateway.Settings) *gateway.Gateway {
	t.Helper()
	base := `
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:0}
    http: {endpoint: 127.0.0.1:0}
admin: {endpoint: 127.0.0.1:0}
shutdown_timeout: 5s
`
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "base.yaml"), filepath.Join(dir, "test.yaml")}
	if err := os.WriteFile(files[0], []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[1], []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(files, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	set.CacheDir = wasmCache
	gw, err := gateway.New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw
}

// scrape reads the gateway's /metrics and returns every otlpgw sample by
// its full series name (name{labels} as Prometheus prints it).
func scrape(t *testing.T, gw *gateway.Gateway) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + gw.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "otlpgw_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds every sample of metric whose labels contain all of want (k="v").
func sum(m map[string]float64, metric string, want ...string) float64 {
	total := 0.0
	for series, v := range m {
		if !strings.HasPrefix(series, metric+"{") && series != metric {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(series, w) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// gathered returns every otlpgw sample from the gateway's registry,
// keyed like scrape. Read after Shutdown, the counters are final.
func gathered(t *testing.T, gw *gateway.Gateway) map[string]float64 {
	t.Helper()
	mfs, err := gw.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "otlpgw_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, label(l.GetName(), l.GetValue()))
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// shutdown stops gw within timeout and returns Shutdown's error.
func shutdown(gw *gateway.Gateway, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return gw.Shutdown(ctx)
}

func label(k, v string) string { return fmt.Sprintf("%s=%q", k, v) }
