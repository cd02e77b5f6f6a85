package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"syscall"
	"time"
)

// sample is one row of samples.csv.
type sample struct {
	elapsed    float64 // seconds since the load started
	unix       int64
	phase      string // load, drain
	upstream   string // up, down
	rssKiB     int64
	anonKiB    int64 // RssAnon: the heap, stacks, wasm memories
	fileKiB    int64 // RssFile: mapped files (the binary)
	heapInuse  float64
	goroutines float64
	fds        int
	queueBytes float64
	queueItems float64
	sinkSpans  int64
	cpuSeconds float64
	reloadsOK  int
	reloadsBad int
}

const sampleHeader = "elapsed_s,unix_s,phase,upstream,rss_kib,rss_anon_kib,rss_file_kib,heap_inuse_bytes,goroutines,open_files,queue_bytes,queue_items,sink_spans,gateway_cpu_s,reloads_ok,reloads_failed"

func (x sample) csv() string {
	return fmt.Sprintf("%.1f,%d,%s,%s,%d,%d,%d,%s,%s,%d,%s,%s,%d,%.2f,%d,%d", x.elapsed, x.unix, x.phase, x.upstream, x.rssKiB,
		x.anonKiB, x.fileKiB, num(x.heapInuse), num(x.goroutines), x.fds, num(x.queueBytes), num(x.queueItems), x.sinkSpans, x.cpuSeconds, x.reloadsOK, x.reloadsBad)
}

// num writes a scraped value, or nothing when the scrape failed.
func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return fmt.Sprintf("%.0f", v)
}

// take reads one sample; a field it cannot read stays zero and the
// failure is noted once per kind.
func (s *soak) take(start time.Time, phase string) sample {
	pid := s.gw.Process.Pid
	now := time.Now()
	s.mu.Lock()
	x := sample{elapsed: now.Sub(start).Seconds(), unix: now.Unix(), phase: phase, upstream: "up",
		reloadsOK: s.rep.ReloadsOK, reloadsBad: s.rep.ReloadsFailed}
	if !s.upstream {
		x.upstream = "down"
	}
	s.mu.Unlock()
	var errs []error
	var err error
	x.rssKiB, err = procStatusKiB(pid, "VmRSS")
	errs = append(errs, err)
	x.anonKiB, err = procStatusKiB(pid, "RssAnon")
	errs = append(errs, err)
	x.fileKiB, err = procStatusKiB(pid, "RssFile")
	errs = append(errs, err)
	x.fds, err = openFiles(pid)
	errs = append(errs, err)
	x.cpuSeconds, err = cpuSeconds(pid)
	errs = append(errs, err)
	x.goroutines, x.heapInuse, x.queueBytes, x.queueItems = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	m, _, err := scrape(s.cfg.admin)
	errs = append(errs, err)
	if err == nil {
		x.goroutines = m.sum("go_goroutines")
		x.heapInuse = m.sum("go_memstats_heap_inuse_bytes")
		x.queueBytes = m.sum("otlpgw_queue_size_bytes")
		x.queueItems = m.sum("otlpgw_queue_size_items")
	}
	st, err := sinkStats(s.sinkURL)
	errs = append(errs, err)
	x.sinkSpans = st.Spans
	s.mu.Lock()
	for _, e := range errs {
		if e != nil {
			s.rep.SampleErrors++
			if s.rep.SampleErrors <= 5 {
				s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("sample at %.0fs: %v", x.elapsed, e))
			}
		}
	}
	s.rows = append(s.rows, x)
	s.mu.Unlock()
	return x
}

func (s *soak) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.rows...)
}

func (s *soak) sampleLoop(ctx context.Context, start time.Time, w io.Writer) {
	t := time.NewTicker(s.o.sampleEvery)
	defer t.Stop()
	fmt.Fprintln(w, s.take(start, "load").csv())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			x := s.take(start, "load")
			fmt.Fprintln(w, x.csv())
			if int(x.elapsed)%60 < int(s.o.sampleEvery.Seconds()) {
				logf("t=%4.0fs rss %.0f MiB, goroutines %.0f, fds %d, queue %.1f MiB, sink %d spans, upstream %s, reloads %d ok %d failed",
					x.elapsed, float64(x.rssKiB)/1024, x.goroutines, x.fds, x.queueBytes/(1<<20), x.sinkSpans, x.upstream, x.reloadsOK, x.reloadsBad)
			}
		}
	}
}

// reloadLoop reloads every -reload-every, alternating between the two
// configurations and between the two triggers a user has besides the
// file watcher: POST /-/reload (odd reloads) and SIGHUP (even ones).
func (s *soak) reloadLoop(ctx context.Context) {
	t := time.NewTicker(s.o.reloadEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.reload(ctx, n)
		s.mu.Lock()
		if err == nil {
			s.rep.ReloadsOK++
		} else if ctx.Err() == nil {
			s.rep.ReloadsFailed++
			s.rep.ReloadFailures = append(s.rep.ReloadFailures, fmt.Sprintf("reload %d: %v", n, err))
			logf("reload %d failed: %v", n, err)
		}
		s.mu.Unlock()
	}
}

// reload rewrites the file and triggers a reload, which succeeded when
// otlpgw_config_reloads_total{result="success"} has grown.
func (s *soak) reload(ctx context.Context, n int) error {
	m, _, err := scrape(s.cfg.admin)
	if err != nil {
		return err
	}
	before := m.sum("otlpgw_config_reloads_total", `result="success"`)
	if err := s.cfg.write(n%2 == 1); err != nil {
		return err
	}
	how := "SIGHUP"
	if n%2 == 1 {
		how = "POST /-/reload"
		resp, err := httpClient.Post("http://"+s.cfg.admin+"/-/reload", "", nil)
		if err != nil {
			return fmt.Errorf("%s: %w", how, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", how, resp.Status, body)
		}
	} else if err := s.gw.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("%s: %w", how, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, _, err := scrape(s.cfg.admin); err == nil && m.sum("otlpgw_config_reloads_total", `result="success"`) > before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: reloads_total{result=\"success\"} still %.0f after 30 s", how, before)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// outageLoop takes the upstream away at -outage-first and every
// -outage-every after it, for -outage-for each time, as long as the
// outage ends before the load does.
func (s *soak) outageLoop(ctx context.Context, start time.Time) {
	for at := s.o.outageFirst; at+s.o.outageFor <= s.o.duration; at += s.o.outageEvery {
		if !sleepUntil(ctx, start.Add(at)) {
			return
		}
		s.up.cut()
		s.mu.Lock()
		s.upstream = false
		s.rep.Outages++
		s.mu.Unlock()
		logf("upstream cut at t=%.0fs for %s", time.Since(start).Seconds(), s.o.outageFor)
		sleepUntil(ctx, start.Add(at+s.o.outageFor))
		err := s.up.restore()
		s.mu.Lock()
		s.upstream = err == nil
		s.rep.RestoredAt = append(s.rep.RestoredAt, time.Since(start).Seconds())
		if err != nil {
			s.rep.Notes = append(s.rep.Notes, err.Error())
		}
		s.mu.Unlock()
		if err != nil {
			logf("%v", err)
			return
		}
		logf("upstream restored at t=%.0fs", time.Since(start).Seconds())
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// drain waits until the queue is empty and the sink's count has stopped
// moving for three polls in a row, sampling as it goes.
func (s *soak) drain(ctx context.Context, start time.Time, w io.Writer) error {
	deadline := time.Now().Add(s.o.drainLimit)
	var last int64 = -1
	still := 0
	for time.Now().Before(deadline) {
		x := s.take(start, "drain")
		fmt.Fprintln(w, x.csv())
		if x.queueBytes == 0 && x.sinkSpans == last {
			if still++; still == 3 {
				logf("drained: queue empty, sink at %d spans", x.sinkSpans)
				return nil
			}
		} else {
			still = 0
		}
		last = x.sinkSpans
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.gwDone:
			return fmt.Errorf("otlpgw exited while draining: %v", s.gwErr)
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the queue did not drain within %s", s.o.drainLimit)
}
