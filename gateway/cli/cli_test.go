package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/freeport"
	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "otlpgw.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateReportsEveryProblemWithItsKeyPath(t *testing.T) {
	p := writeConfig(t, `
receivers:
  otlp:
    grpc: {endpoitn: 0.0.0.0:4317}
exporters:
  - {name: up, type: otlp, endpoint: "collector:4317", timeout: 0s}
  - {name: up, type: carrier-pigeon}
`)
	var stdout, stderr bytes.Buffer
	code := Main([]string{"validate", "--config", p}, &stdout, &stderr)
	if code == 0 {
		t.Fatalf("validate exited 0 on a broken config; stdout %q", stdout.String())
	}
	for _, want := range []string{
		"receivers.otlp.grpc.endpoitn: unknown key",
		"exporters[0].timeout: must be > 0 (got 0s)",
		"exporters[1].name: duplicate name",
		"exporters[1].type:",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.Contains(line, ": ") {
			t.Errorf("problem line without a key path: %q", line)
		}
	}
}

func TestValidateAcceptsTheEmbeddedDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"validate"}, &stdout, &stderr); code != 0 {
		t.Fatalf("validate of the embedded default exited %d: %s", code, stderr.String())
	}
}

func TestVersionNamesGoAndABI(t *testing.T) {
	var stdout bytes.Buffer
	if code := Main([]string{"version"}, &stdout, &stdout); code != 0 {
		t.Fatalf("version exited %d", code)
	}
	for _, want := range []string{"otlpgw ", "go go1.", "wazero", "filter ABI"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("version output lacks %q: %q", want, stdout.String())
		}
	}
}

func TestUnknownCommandFails(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"frobnicate"}, &out, &out); code == 0 {
		t.Fatal("unknown command exited 0")
	}
}

// buildBinary compiles the real otlpgw command for process-level tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "otlpgw")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/otlpgw/otlpgw/cmd/otlpgw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string { return freeport.Addr(t) }

// startRun starts `otlpgw run --config cfg` under ctx and returns once
// /readyz on admin answers 200, polled from outside the process; the
// process's stderr collects in the buffer.
func startRun(t *testing.T, ctx context.Context, bin, cfg, admin string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfg)
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, func() string { return "the gateway to be ready; its log:\n" + logs.String() }, func() bool {
		res, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return cmd, logs
}

// TestRunProcessStopsCleanlyOnSIGTERMAndExitsTwoOnBadConfig runs the real
// binary: exit 2 on a config that does not load; on SIGTERM, a drained
// stop with exit 0; SIGHUP does not kill it.
func TestRunProcessStopsCleanlyOnSIGTERMAndExitsTwoOnBadConfig(t *testing.T) {
	bin := buildBinary(t)

	bad := exec.Command(bin, "run", "--config", writeConfig(t, "exporters: [{name: x, type: nope}]\n"))
	err := bad.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("run on a bad config: %v, want exit status 2", err)
	}

	admin := freePort(t)
	cfg := writeConfig(t, "receivers: {otlp: {grpc: {endpoint: "+freePort(t)+"}, http: {endpoint: "+freePort(t)+"}}}\nadmin: {endpoint: "+admin+"}\nexporters: [{name: d, type: debug}]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, logs := startRun(t, ctx, bin, cfg, admin)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if res, err := http.Get("http://" + admin + "/healthz"); err != nil {
		t.Fatalf("gateway died of SIGHUP: %v", err)
	} else {
		res.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gateway exited with %v after SIGTERM; log:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Errorf("log does not report a clean stop:\n%s", logs.String())
	}
}

func TestFilterTestRunsAStockFilterOverJSON(t *testing.T) {
	in := writeConfig(t, `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"},
{"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b175","name":"zero-trace","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"}]}]}]}`)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"filter", "test", "--module", "builtin:validate", "--signal", "traces", in}, &stdout, &stderr); code != 0 {
		t.Fatalf("filter test exited %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"1 of 2 spans kept, 1 dropped", "trace_id", "== metrics", `"name":"ok"`} {
		if !strings.Contains(out, want) {
			t.Errorf("filter test output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "zero-trace\"") && strings.Contains(out[strings.Index(out, "== result"):], "zero-trace") {
		t.Errorf("the invalid span is still in the result:\n%s", out)
	}
}

func TestValidateReportsABrokenModule(t *testing.T) {
	notWasm := filepath.Join(t.TempDir(), "broken.wasm")
	if err := os.WriteFile(notWasm, []byte("not a wasm module"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, "filters:\n  - {name: broken, module: "+notWasm+"}\n  - {name: missing, module: builtin:nope}\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"validate", "--config", p}, &stdout, &stderr); code == 0 {
		t.Fatal("validate accepted a config whose module is not WebAssembly")
	}
	for _, want := range []string{"filters[0]: filter[broken]", "filters[1]: filter[missing]"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestDiagnose checks each exporter of the configuration against a real
// upstream (and one nobody listens on), prints a report and fails when one
// cannot deliver.
func TestDiagnose(t *testing.T) {
	sink := otlpsink.Start(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	good := fmt.Sprintf("  - {name: live, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 10s}\n", sink.Addr())
	var stdout, stderr bytes.Buffer
	p := writeConfig(t, "exporters:\n"+good+fmt.Sprintf("  - {name: gone, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 2s}\n", dead))
	if code := Main([]string{"diagnose", "--config", p}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("diagnose exited %d with an unreachable exporter, want %d; stderr %q", code, exitUndelivered, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"exporter live (otlp → " + sink.Addr() + ")",
		"  ok    export  1 test span accepted",
		"exporter gone (otlp → " + dead + ")",
		"  fail  tcp     dial tcp " + dead,
		"1 of 2 exporters can deliver",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if s, _, _ := sink.Items(); s != 1 {
		t.Errorf("the upstream got %d spans, want the one test span", s)
	}
	stdout.Reset()
	if code := Main([]string{"diagnose", "--config", writeConfig(t, "exporters:\n"+good)}, &stdout, &stderr); code != exitOK {
		t.Fatalf("diagnose exited %d with every exporter reachable:\n%s", code, stdout.String())
	}
}

// validate loads the receivers' TLS files and names the one that fails.
func TestValidateLoadsReceiverTLSFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	p := writeConfig(t, fmt.Sprintf("receivers: {otlp: {grpc: {tls: {cert_file: %q, key_file: %q}}}}\n", missing, missing))
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"validate", "--config", p}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("validate exited %d with missing certificate files; stdout %q", code, stdout.String())
	}
	if want := "receivers.otlp.grpc.tls: tls: cert_file " + missing; !strings.Contains(stderr.String(), want) {
		t.Errorf("validate output lacks %q:\n%s", want, stderr.String())
	}
}

// validate loads admin.tls files as run does (run refuses to start on them).
func TestValidateLoadsAdminTLSFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	p := writeConfig(t, fmt.Sprintf("admin: {tls: {cert_file: %q, key_file: %q}}\n", missing, missing))
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"validate", "--config", p}, &stdout, &stderr); code != exitUndelivered {
		t.Fatalf("validate exited %d with missing admin certificate files; stdout %q", code, stdout.String())
	}
	if want := "admin.tls: tls: cert_file " + missing; !strings.Contains(stderr.String(), want) {
		t.Errorf("validate output lacks %q:\n%s", want, stderr.String())
	}
}

// TestPersistentQueueSurvivesKill9 acknowledges spans while the upstream
// is down, kills the gateway with SIGKILL, and starts it again beside a
// live upstream: every acknowledged span arrives, once.
func TestPersistentQueueSurvivesKill9(t *testing.T) {
	bin := buildBinary(t)
	queueDir := t.TempDir()
	admin, httpAddr := freePort(t), freePort(t)
	config := func(upstream string) string {
		return writeConfig(t, fmt.Sprintf(`receivers: {otlp: {grpc: {endpoint: %q}, http: {endpoint: %q}}}
admin: {endpoint: %q}
queue: {persistent: {directory: %q}}
exporters:
  - {name: up, type: otlp, endpoint: %q, tls: {insecure: true}, timeout: 2s,
     retry: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0s}}
`, freePort(t), httpAddr, admin, queueDir, upstream))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := func(cfg string) (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		return startRun(t, ctx, bin, cfg, admin)
	}

	// 1. The upstream is down: the gateway acknowledges and keeps retrying.
	cmd, firstLogs := start(config(freePort(t)))
	const requests, perRequest = 20, 10
	for i := range requests {
		body := otlptest.Marshal(otlptest.Traces(1, perRequest, 2, uint64(i)))
		res, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d answered %d; log:\n%s", i, res.StatusCode, firstLogs.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// 2. Back, with a live upstream: what was acknowledged arrives.
	sink := otlpsink.Start(t)
	cmd, logs := start(config(sink.Addr()))
	if !sink.WaitItems(ctx, requests*perRequest, 0, 0) {
		s, _, _ := sink.Items()
		t.Fatalf("the upstream got %d of %d acknowledged spans after the restart; log:\n%s", s, requests*perRequest, logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second run exited with %v; log:\n%s", err, logs.String())
	}
	if s, _, _ := sink.Items(); s != requests*perRequest {
		t.Errorf("the upstream got %d spans, want exactly %d", s, requests*perRequest)
	}
	if !strings.Contains(logs.String(), "taking back what an earlier run left undelivered") {
		t.Errorf("the second run did not log the recovery:\n%s", logs.String())
	}
	if left, _ := filepath.Glob(filepath.Join(queueDir, "up", "*", "*.wal")); len(left) != 0 {
		t.Errorf("segments left after delivering everything and a clean stop: %v", left)
	}
}
