// Command backlog measures the persistent queue's replay of a large
// backlog (issue 16 item 4): it fills SIZE bytes into the queue of a real
// otlpgw with the upstream down, SIGKILLs it, restarts it under a 512 MiB
// memory limit with the sink up while new load keeps coming, and reports
// replay time, peak RSS and the books (acknowledged, delivered, lost,
// duplicated by totals: loadgen's pool repeats span IDs, so duplicates
// are counted as delivered minus acknowledged).
//
//	go run ./bench/backlog            # SIZE=5GiB
//	SIZE=1GiB RATE=20000 go run ./bench/backlog
//
// Run from the repository root; it builds ./cmd/otlpgw, bench/sink and
// bench/loadgen into a temporary directory, which it removes at the end.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backlog:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", a...)
}

func run() error {
	size, err := parseSize(env("SIZE", "5GiB"))
	if err != nil {
		return err
	}
	rate := env("RATE", "20000") // spans/s offered during the replay
	work, err := os.MkdirTemp(os.Getenv("TMPDIR"), "otlpgw-backlog.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, b := range [][2]string{{"otlpgw", "./cmd/otlpgw"}, {"sink", "./bench/sink"}, {"loadgen", "./bench/loadgen"}} {
		logf("building %s", b[1])
		c := exec.Command("go", "build", "-o", filepath.Join(work, b[0]), b[1])
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b[1], err)
		}
	}
	grpc, admin, sinkPort := freePort(), freePort(), freePort()
	qdir := filepath.Join(work, "queue")
	conf := func(mem string) string {
		return fmt.Sprintf(`receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:%d}
exporters:
  - name: sink
    type: otlp
    endpoint: 127.0.0.1:%d
    compression: none
    tls: {insecure: true}
    retry: {max_elapsed_time: 0, max_interval: 1s}
queue:
  max_bytes: %d
  persistent: {directory: %s}
memory_limit: %s
admin: {endpoint: 127.0.0.1:%d}
`, grpc, sinkPort, size+size/4+(1<<30), qdir, mem, admin)
	}
	// Phase 1: the upstream is down; fill the queue.
	gw1, err := startGateway(work, "fill", conf(`{soft: "", hard: ""}`), admin)
	if err != nil {
		return err
	}
	logf("filling %d bytes into the queue (upstream down)", size)
	fillStart := time.Now()
	lg1, out1 := startLoadgen(work, grpc, "0")
	for dirSize(qdir) < size {
		if lg1.ProcessState != nil {
			break
		}
		time.Sleep(time.Second)
	}
	lg1.Process.Signal(os.Interrupt)
	lg1.Wait()
	fill := time.Since(fillStart)
	r1, err := loadgenResult(out1)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // acknowledged means synced: nothing is pending, this is only for the logs to settle
	gw1.Process.Signal(syscall.SIGKILL)
	gw1.Wait()
	disk := dirSize(qdir)
	logf("filled in %s: %d spans acknowledged, %d bytes on disk; SIGKILLed", fill.Round(time.Second), r1.SpansOK, disk)

	// Phase 2: the sink is up; restart under a memory limit, with new load.
	statsPort := freePort()
	sink := exec.Command(filepath.Join(work, "sink"), "-listen", fmt.Sprintf("127.0.0.1:%d", sinkPort), "-stats", fmt.Sprintf("127.0.0.1:%d", statsPort), "-duration", "3h")
	sinkOut, _ := sink.StdoutPipe()
	sink.Stderr = os.Stderr
	if err := sink.Start(); err != nil {
		return err
	}
	sr := bufio.NewReader(sinkOut)
	if _, err := sr.ReadString('\n'); err != nil { // its ready line
		return fmt.Errorf("sink: %w", err)
	}
	statsURL := fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort)
	go io.Copy(io.Discard, sr)
	replayStart := time.Now()
	gw2, err := startGateway(work, "replay", conf(`{soft: 400MiB, hard: 512MiB}`), admin)
	if err != nil {
		return err
	}
	lg2, out2 := startLoadgen(work, grpc, rate)
	var replay time.Duration
	for {
		b, ok := metric(admin, "otlpgw_queue_journal_backlog_bytes")
		if ok && b == 0 {
			replay = time.Since(replayStart)
			break
		}
		if time.Since(replayStart) > 2*time.Hour {
			return fmt.Errorf("replay not done after 2h")
		}
		time.Sleep(500 * time.Millisecond)
	}
	logf("backlog read in %s; draining", replay.Round(time.Second))
	lg2.Process.Signal(os.Interrupt)
	lg2.Wait()
	r2, err := loadgenResult(out2)
	if err != nil {
		return err
	}
	acked := r1.SpansOK + r2.SpansOK
	var delivered int64
	drainStart := time.Now()
	for time.Since(drainStart) < 10*time.Minute {
		delivered = sinkSpans(statsURL)
		if delivered >= acked {
			if q, ok := metric(admin, "otlpgw_queue_size_items"); ok && q == 0 {
				break
			}
		}
		time.Sleep(time.Second)
	}
	drained := time.Since(replayStart)
	hwm := vmHWM(gw2.Process.Pid)
	gw2.Process.Signal(syscall.SIGTERM)
	gw2.Wait()
	sink.Process.Signal(os.Interrupt)
	sink.Wait()
	lost, dup := max(acked-delivered, 0), max(delivered-acked, 0)
	res := map[string]any{
		"size_target_bytes": size, "disk_bytes": disk, "fill_s": fill.Seconds(),
		"backlog_spans": r1.SpansOK, "replay_s": replay.Seconds(), "drained_s": drained.Seconds(),
		"peak_rss_bytes": hwm, "peak_rss_mib": float64(hwm) / (1 << 20),
		"new_spans_acknowledged": r2.SpansOK, "new_spans_refused": r2.SpansRefused, "new_requests_refused": r2.RequestsRefused, "new_errors": r2.Errors,
		"acknowledged": acked, "delivered": delivered, "lost": lost, "duplicated_by_totals": dup,
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if lost > 0 {
		return fmt.Errorf("%d spans lost", lost)
	}
	return nil
}

type lgResult struct {
	SpansOK         int64 `json:"spans_ok"`
	SpansRefused    int64 `json:"spans_refused"`
	RequestsRefused int64 `json:"requests_refused"`
	Errors          int64 `json:"errors"`
}

func startLoadgen(work string, port int, rate string) (*exec.Cmd, *strings.Builder) {
	out := &strings.Builder{}
	c := exec.Command(filepath.Join(work, "loadgen"), "-endpoint", fmt.Sprintf("127.0.0.1:%d", port), "-duration", "3h", "-rate", rate)
	c.Stdout, c.Stderr = out, os.Stderr
	if err := c.Start(); err != nil {
		panic(err)
	}
	return c, out
}

func loadgenResult(out *strings.Builder) (lgResult, error) {
	var r lgResult
	s := strings.TrimSpace(out.String())
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("loadgen output %q: %w", s, err)
	}
	return r, nil
}

func startGateway(work, name, conf string, admin int) (*exec.Cmd, error) {
	cfg := filepath.Join(work, name+".yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	lf, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, err
	}
	c := exec.Command(filepath.Join(work, "otlpgw"), "run", "--config", cfg)
	c.Stdout, c.Stderr = lf, lf
	if err := c.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(lf.Name())
	return nil, fmt.Errorf("gateway %s not ready:\n%s", name, b)
}

// metric sums a metric's samples on the admin /metrics page.
func metric(admin int, name string) (float64, bool) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", admin))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	sum, found := 0.0, false
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func sinkSpans(url string) int64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct {
		Spans int64 `json:"spans"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Spans
}

func vmHWM(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func parseSize(s string) (int64, error) {
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}} {
		if strings.HasSuffix(s, u.suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
			if err != nil {
				return 0, fmt.Errorf("SIZE %q: %w", s, err)
			}
			return int64(v * float64(u.m)), nil
		}
	}
	return 0, fmt.Errorf("SIZE %q", s)
}
