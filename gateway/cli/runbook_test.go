package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/otlpsink"
)

// runbookPath is the troubleshooting runbook whose marked blocks this file
// runs, so that every command it tells an on-call engineer to type works.
const runbookPath = "../../docs/troubleshooting.md"

// runbookBlock is one ```sh block preceded by a marker line
//
//	<!-- runbook -->                  the block must exit 0
//	<!-- runbook exit=1 -->           it must exit 1 (a check that finds the problem)
//	<!-- runbook contains="text" -->  its output must contain text (repeatable)
type runbookBlock struct {
	line     int
	script   string
	exit     int
	contains []string
}

var runbookMarker = regexp.MustCompile(`^<!-- runbook((?:\s+\w+=(?:"[^"]*"|\S+))*)\s*-->$`)
var runbookOption = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

func parseRunbook(t *testing.T, text string) []runbookBlock {
	t.Helper()
	var blocks []runbookBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := runbookMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			if strings.Contains(lines[i], "<!-- runbook") {
				t.Fatalf("%s:%d: malformed runbook marker %q", runbookPath, i+1, lines[i])
			}
			continue
		}
		b := runbookBlock{line: i + 1}
		for _, o := range runbookOption.FindAllStringSubmatch(m[1], -1) {
			v := strings.Trim(o[2], `"`)
			switch o[1] {
			case "exit":
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s:%d: exit=%q is not a number", runbookPath, i+1, v)
				}
				b.exit = n
			case "contains":
				b.contains = append(b.contains, v)
			default:
				t.Fatalf("%s:%d: unknown runbook option %q", runbookPath, i+1, o[1])
			}
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			t.Fatalf("%s:%d: a runbook marker must be followed by a ```sh block", runbookPath, i+1)
		}
		var body []string
		for i += 2; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		b.script = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks
}

// TestTroubleshootingRunbookCommandsRun runs every marked block of
// docs/troubleshooting.md, in order, against a live gateway process that
// forwards to a real OTLP/gRPC upstream: the runbook's localhost:4317,
// :4318 and :8888 are rewritten to the ports this gateway bound, its
// otlpgw.yaml is the running configuration and otlpgw.log its JSON log.
func TestTroubleshootingRunbookCommandsRun(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the runbook needs %s on PATH (.ci/run installs it): %v", tool, err)
		}
	}
	text, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseRunbook(t, string(text))
	if len(blocks) < 10 {
		t.Fatalf("the runbook has %d runnable blocks; every section's commands should be marked", len(blocks))
	}

	bin := buildBinary(t)
	binDir := filepath.Dir(bin)
	work := t.TempDir()
	sink := otlpsink.Start(t)
	grpcAddr, httpAddr, adminAddr := freePort(t), freePort(t), freePort(t)
	// The runbook's paths into the repository (configs/...) resolve from its
	// working directory, as they do from a checkout.
	repoConfigs, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(repoConfigs, filepath.Join(work, "configs")); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(work, "otlpgw.yaml")
	cfg := fmt.Sprintf(`receivers:
  otlp:
    grpc: {endpoint: %s}
    http: {endpoint: %s}
filters:
  - {name: validate, module: builtin:validate}
exporters:
  - name: upstream
    type: otlp
    endpoint: %s
    tls: {insecure: true}
admin: {endpoint: %s}
log: {format: json}
`, grpcAddr, httpAddr, sink.Addr(), adminAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(work, "otlpgw.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	gw := exec.Command(bin, "run", "--config", cfgPath)
	gw.Dir, gw.Stderr, gw.Stdout = work, logFile, logFile
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gw.Process.Signal(syscall.SIGTERM)
		_ = gw.Wait()
	})
	waitReady(t, "http://"+adminAddr+"/readyz", filepath.Join(work, "otlpgw.log"))

	rewrite := strings.NewReplacer(
		"localhost:4317", grpcAddr,
		"localhost:4318", httpAddr,
		"localhost:8888", adminAddr,
	)
	env := append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "OTLPGW_PID="+strconv.Itoa(gw.Process.Pid))
	for _, b := range blocks {
		script := rewrite.Replace(b.script)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s:%d: %v", runbookPath, b.line, err)
		}
		if code != b.exit {
			t.Errorf("%s:%d: exit status %d, want %d\n--- script\n%s--- output\n%s", runbookPath, b.line, code, b.exit, script, out)
			continue
		}
		for _, want := range b.contains {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%s:%d: output lacks %q\n--- script\n%s--- output\n%s", runbookPath, b.line, want, script, out)
			}
		}
	}
	if gw.ProcessState != nil {
		t.Fatalf("the gateway exited during the runbook: %v", gw.ProcessState)
	}
}

// waitReady polls url until it answers 200; on a deadline it shows the log.
func waitReady(t *testing.T, url, logPath string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			f, _ := os.Open(logPath)
			var log strings.Builder
			if f != nil {
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
				}
				f.Close()
			}
			t.Fatalf("gateway never became ready at %s; log:\n%s", url, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
