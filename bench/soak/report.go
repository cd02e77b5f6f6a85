package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"
)

// report is what the soak found; report.json in the work directory holds
// it whole.
type report struct {
	Options map[string]string `json:"options"`
	Dir     string            `json:"work_directory"`
	Started time.Time         `json:"started"`
	Cores   int               `json:"cores"`

	LoadSeconds  float64 `json:"load_s"`
	DrainSeconds float64 `json:"drain_s"`

	// From loadgen: spans answered OK (acknowledged), of which the drop
	// rule keeps Expected; refused (UNAVAILABLE, never acknowledged) and
	// failed requests (no answer: the gateway may or may not have taken
	// them, so each can show up as a duplicate, never as a loss).
	Acknowledged  int64   `json:"acknowledged"`
	Expected      int64   `json:"expected_delivered"`
	Refused       int64   `json:"refused"`
	OfferedPerSec float64 `json:"offered_per_s"` // requests answered in any way, in spans, per second of load
	LoadgenErrors int64   `json:"loadgen_errors"`
	FirstError    string  `json:"loadgen_first_error,omitempty"`

	Delivered  int64 `json:"delivered"` // the sink's count, after the gateway stopped
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`

	// From the gateway's last scrape before it stopped.
	FilterDropped  map[string]float64 `json:"filter_dropped"` // by filter
	FilterFailures float64            `json:"filter_failures"`
	ExporterFailed float64            `json:"exporter_failed_items"`
	ExporterRetry  float64            `json:"exporter_retries"`
	ReloadResults  []string           `json:"reload_results"` // otlpgw_config_reloads_total by result
	ReceiverRefuse float64            `json:"receiver_refused_items"`

	ReloadsOK      int      `json:"reloads_ok"`
	ReloadsFailed  int      `json:"reloads_failed"`
	ReloadFailures []string `json:"reload_failures,omitempty"`
	Outages        int      `json:"outages"`
	// RestoredAt is when each outage ended, in seconds of load; Recovery
	// how long after it the queue was first seen back under 16 MiB (at
	// the sampling interval's resolution; -1: never).
	RestoredAt []float64 `json:"restored_at_s"`
	Recovery   []float64 `json:"recovery_s"`

	GatewayExit       int     `json:"gateway_exit"`
	PeakRSSMiB        float64 `json:"peak_rss_mib"`
	GatewayCPUSeconds float64 `json:"gateway_cpu_s"`

	WarmupSeconds float64 `json:"warmup_s"`
	RSSMiB        trend   `json:"rss_mib"`
	AnonMiB       trend   `json:"rss_anon_mib"`
	HeapMiB       trend   `json:"heap_inuse_mib"`
	Goroutines    trend   `json:"goroutines"`
	OpenFiles     trend   `json:"open_files"`
	SampleErrors  int     `json:"sample_errors"`

	Notes []string `json:"notes,omitempty"`
}

func (r *report) options(o options) {
	r.Dir, r.Cores, r.WarmupSeconds = o.out, runtime.NumCPU(), o.warmup.Seconds()
	r.Options = map[string]string{
		"duration": o.duration.String(), "rate": fmt.Sprint(o.rate), "reload_every": o.reloadEvery.String(),
		"outage_first": o.outageFirst.String(), "outage_every": o.outageEvery.String(), "outage_for": o.outageFor.String(),
		"sample_every": o.sampleEvery.String(), "warmup": o.warmup.String(), "queue": o.queue,
		"workers": fmt.Sprint(o.workers), "conns": fmt.Sprint(o.conns),
	}
}

func (r *report) readLoadgen(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var lg struct {
		SpansOK      int64   `json:"spans_ok"`
		SpansRefused int64   `json:"spans_refused"`
		Elapsed      float64 `json:"elapsed_s"`
		PerRequest   int64   `json:"spans_per_request"`
		Kept         int64   `json:"items_kept_expected"`
		Errors       int64   `json:"errors"`
		FirstError   string  `json:"first_error"`
	}
	if err := json.Unmarshal(b, &lg); err != nil {
		return fmt.Errorf("loadgen's summary %s: %w", path, err)
	}
	r.Acknowledged, r.Refused, r.Expected, r.LoadgenErrors, r.FirstError = lg.SpansOK, lg.SpansRefused, lg.Kept, lg.Errors, lg.FirstError
	if lg.Elapsed > 0 {
		r.OfferedPerSec = float64(lg.SpansOK+lg.SpansRefused+lg.Errors*lg.PerRequest) / lg.Elapsed
	}
	return nil
}

func (r *report) fromMetrics(m metrics) {
	r.FilterDropped = map[string]float64{}
	for _, f := range []string{"validate", "drop", "fix", "limits", "redact"} {
		r.FilterDropped[f] = m.sum("otlpgw_filter_dropped_items_total", `filter="`+f+`"`)
	}
	r.FilterFailures = m.sum("otlpgw_filter_failures_total")
	r.ExporterFailed = m.sum("otlpgw_exporter_failed_items_total")
	r.ExporterRetry = m.sum("otlpgw_exporter_retries_total")
	r.ReceiverRefuse = m.sum("otlpgw_receiver_refused_items_total")
	r.ReloadResults = m.matching("otlpgw_config_reloads_total")
	sort.Strings(r.ReloadResults)
}

// settle computes loss, duplicates and the trends of the samples taken
// under load after warm-up.
func (r *report) settle(rows []sample) {
	if d := r.Expected - r.Delivered; d > 0 {
		r.Lost = d
	} else {
		r.Duplicated = -d
	}
	for _, at := range r.RestoredAt {
		rec := -1.0
		for _, x := range rows {
			if x.elapsed >= at && x.queueBytes < 16<<20 {
				rec = x.elapsed - at
				break
			}
		}
		r.Recovery = append(r.Recovery, rec)
	}
	var t, rss, anon, heap, gr, fds []float64
	for _, x := range rows {
		if x.phase != "load" || x.elapsed < r.WarmupSeconds {
			continue
		}
		t = append(t, x.elapsed/3600)
		rss = append(rss, float64(x.rssKiB)/1024)
		anon = append(anon, float64(x.anonKiB)/1024)
		heap = append(heap, x.heapInuse/(1<<20))
		gr = append(gr, x.goroutines)
		fds = append(fds, float64(x.fds))
	}
	r.RSSMiB, r.AnonMiB, r.HeapMiB, r.Goroutines, r.OpenFiles = fit(t, rss), fit(t, anon), fit(t, heap), fit(t, gr), fit(t, fds)
	if b, err := json.MarshalIndent(r, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(r.Dir, "report.json"), append(b, '\n'), 0o644)
	}
}

// problems are what makes the soak fail. A filter failure is reported,
// not failed on: with on_error: pass its batch goes on unfiltered, and
// redact's on_error: drop counts what it drops, which shows as lost.
func (r *report) problems() []string {
	var p []string
	if r.Lost > 0 {
		p = append(p, fmt.Sprintf("%d acknowledged spans lost", r.Lost))
	}
	if r.Delivered == 0 {
		p = append(p, "nothing delivered")
	}
	if r.ReloadsFailed > 0 || r.ReloadsOK == 0 && r.LoadSeconds > r.WarmupSeconds*3 {
		p = append(p, fmt.Sprintf("%d reloads failed, %d succeeded", r.ReloadsFailed, r.ReloadsOK))
	}
	if r.GatewayExit != 0 {
		p = append(p, fmt.Sprintf("otlpgw exited with status %d", r.GatewayExit))
	}
	if r.ExporterFailed > 0 {
		p = append(p, fmt.Sprintf("the exporter gave up on %.0f items", r.ExporterFailed))
	}
	return p
}

func (r *report) print(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	o := r.Options
	p("soak: %s at %s spans/s offered (otlpgw: OTLP/gRPC -> validate, drop, fix, limits, redact -> otlp exporter, %s queue -> proxy -> sink); %d cores",
		o["duration"], o["rate"], o["queue"], r.Cores)
	p("  reload every %s (alternating POST /-/reload and SIGHUP): %d ok, %d failed; gateway counts: %v", o["reload_every"], r.ReloadsOK, r.ReloadsFailed, r.ReloadResults)
	for _, f := range r.ReloadFailures {
		p("    %s", f)
	}
	p("  upstream outages of %s every %s from %s: %d; queue back under 16 MiB %v s after each", o["outage_for"], o["outage_every"], o["outage_first"], r.Outages, r.Recovery)
	p("  offered %.0f spans/s: acknowledged %d spans (refused %d, failed requests %d%s); the drop rule keeps %d of them", r.OfferedPerSec, r.Acknowledged, r.Refused, r.LoadgenErrors,
		map[bool]string{true: ": " + r.FirstError, false: ""}[r.FirstError != ""], r.Expected)
	p("  delivered %d: lost %d, duplicated %d; drained in %.1f s; otlpgw exit status %d", r.Delivered, r.Lost, r.Duplicated, r.DrainSeconds, r.GatewayExit)
	var dropped float64
	for _, n := range r.FilterDropped {
		dropped += n
	}
	p("  books: acknowledged %d - delivered %d - dropped by filters %.0f = %.0f", r.Acknowledged, r.Delivered, dropped, float64(r.Acknowledged-r.Delivered)-dropped)
	p("  filter drops %v; filter failures %.0f; exporter: %.0f items given up, %.0f retries; receiver refused %.0f items",
		r.FilterDropped, r.FilterFailures, r.ExporterFailed, r.ExporterRetry, r.ReceiverRefuse)
	p("  after %.0f s warm-up (%d samples): slope per hour (min .. max)", r.WarmupSeconds, r.RSSMiB.N)
	p("    RSS        %+9.2f MiB/h  (%.1f .. %.1f MiB; peak VmHWM %.1f MiB)", r.RSSMiB.SlopePerHour, r.RSSMiB.Min, r.RSSMiB.Max, r.PeakRSSMiB)
	p("    RssAnon    %+9.2f MiB/h  (%.1f .. %.1f MiB)", r.AnonMiB.SlopePerHour, r.AnonMiB.Min, r.AnonMiB.Max)
	p("    heap inuse %+9.2f MiB/h  (%.1f .. %.1f MiB)", r.HeapMiB.SlopePerHour, r.HeapMiB.Min, r.HeapMiB.Max)
	p("    goroutines %+9.2f /h     (%.0f .. %.0f)", r.Goroutines.SlopePerHour, r.Goroutines.Min, r.Goroutines.Max)
	p("    open files %+9.2f /h     (%.0f .. %.0f)", r.OpenFiles.SlopePerHour, r.OpenFiles.Min, r.OpenFiles.Max)
	p("  otlpgw CPU %.0f s over %.0f s (%.2f cores)", r.GatewayCPUSeconds, r.LoadSeconds+r.DrainSeconds, r.GatewayCPUSeconds/max(1, r.LoadSeconds+r.DrainSeconds))
	for _, n := range r.Notes {
		p("  note: %s", n)
	}
	p("  samples: %s", filepath.Join(r.Dir, "samples.csv"))
}
