package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// filterTestCmd runs one filter offline over one request, the filter
// author's inner loop: otlpgw filter test --module M --signal S [--filter-config JSON] IN
func filterTestCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("filter test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	module, signal, filterConfig := filterTestFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, "filter test")
	}
	if *module == "" || *signal == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: otlpgw filter test --module M --signal traces|metrics|logs [--filter-config JSON] FILE")
		return exitUndelivered
	}
	sig, err := otlpwire.ParseSignal(*signal)
	if err != nil {
		fmt.Fprintln(stderr, "--signal:", err)
		return exitUndelivered
	}
	in, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUndelivered
	}
	if err := runFilterTest(*module, sig, []byte(*filterConfig), in, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "otlpgw filter test:", err)
		return exitUndelivered
	}
	return exitOK
}

func filterTestFlags(fs *flag.FlagSet) (module, signal, filterConfig *string) {
	module = fs.String("module", "", "the filter: builtin:NAME or the path of a .wasm file (required)")
	signal = fs.String("signal", "", "traces, metrics or logs (required)")
	filterConfig = fs.String("filter-config", "{}", "the filter's config, as JSON")
	return module, signal, filterConfig
}

// runFilterTest prints the report on w and warnings, for a run that
// proves nothing, on warn.
func runFilterTest(module string, sig otlpwire.Signal, filterConfig, in []byte, w, warn io.Writer) error {
	req := in
	if trimmed := bytes.TrimSpace(in); len(trimmed) > 0 && trimmed[0] == '{' {
		var err error
		if req, err = otlpwire.JSONToProto(sig, in); err != nil {
			return fmt.Errorf("reading the input as OTLP/JSON: %w", err)
		}
	}
	var ix otlpwire.Index
	if err := ix.Parse(sig, req); err != nil {
		return fmt.Errorf("the input is not a valid OTLP %s request: %w", sig, err)
	}
	if ix.Items == 0 {
		fmt.Fprintf(warn, "otlpgw filter test: warning: the input has no %s, so the filter sees none%s\n", sig.ItemNoun(), otherSignalHint(sig, in))
	}

	logs := &logCollector{}
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.RuntimeConfig{Builtins: builtins, Logger: slog.New(logs)})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	host := &recordingHost{}
	// No Signals: the module's own exports decide, as for a gateway
	// filter without signals:, so a module without this signal is a
	// warning about the run, not a load error.
	f, err := rt.Load(ctx, wasmhost.LoadConfig{Name: "test", Module: module, Config: filterConfig, Instances: 1}, host)
	if err != nil {
		return err
	}
	defer f.Close(ctx)
	if !f.Handles(sig) {
		var has []string
		for _, s := range f.Signals() {
			has = append(has, s.String())
		}
		fmt.Fprintf(warn, "otlpgw filter test: warning: the module does not handle %s (it handles: %s); the gateway passes %s through it unchanged, and fails to load it with signals: [%s]\n", sig, strings.Join(has, ", "), sig, sig)
	}
	res, procErr := f.Process(ctx, sig, req, &ix)

	fmt.Fprintf(w, "== verdict\n")
	out := req
	switch {
	case procErr != nil:
		fmt.Fprintf(w, "FAILED: %v\n", procErr)
	case res.Reject != "":
		fmt.Fprintf(w, "REJECT the whole batch: %s\n", res.Reject)
	case res.Req == nil:
		fmt.Fprintf(w, "unchanged: all %d %s kept\n", ix.Items, sig.ItemNoun())
	default:
		out = res.Req
		fmt.Fprintf(w, "modified: %d of %d %s kept, %d dropped", ix.Items-res.Dropped, ix.Items, sig.ItemNoun(), res.Dropped)
		if res.Reason != "" {
			fmt.Fprintf(w, " (first reason: %q)", res.Reason)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "== logs\n%s", logs.String())
	fmt.Fprintf(w, "== metrics\n%s", host.String())
	fmt.Fprintf(w, "== result (OTLP/JSON)\n")
	js, err := otlpwire.ProtoToJSON(sig, out)
	if err != nil {
		return fmt.Errorf("the filter's output does not convert to JSON: %w", err)
	}
	fmt.Fprintf(w, "%s\n", js)
	if procErr != nil {
		return errors.New("the filter failed")
	}
	return nil
}

// otherSignalHint names the signal an input with no items of sig holds
// items of, the usual mistake being --signal.
func otherSignalHint(sig otlpwire.Signal, in []byte) string {
	for s := otlpwire.Signal(0); s < otlpwire.NumSignals; s++ {
		if s == sig {
			continue
		}
		req := in
		if trimmed := bytes.TrimSpace(in); len(trimmed) > 0 && trimmed[0] == '{' {
			var err error
			if req, err = otlpwire.JSONToProto(s, in); err != nil {
				continue
			}
		}
		if n, err := otlpwire.CountItems(s, req); err == nil && n > 0 {
			return fmt.Sprintf(": it holds %d %s (use --signal %s)", n, s.ItemNoun(), s)
		}
	}
	return fmt.Sprintf(" (is the file a %s request? check --signal)", sig)
}

// logCollector keeps the filter's log lines for printing.
type logCollector struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCollector) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCollector) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCollector) WithGroup(string) slog.Handler            { return l }
func (l *logCollector) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "filter" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logCollector) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(none)\n"
	}
	return strings.Join(l.lines, "\n") + "\n"
}

// recordingHost is the host API for an offline run: no pressure, healthy,
// and metric updates and health reports written down.
type recordingHost struct {
	mu      sync.Mutex
	values  map[string]float64
	kinds   map[string]wasmhost.MetricKind
	reports []string
}

func (h *recordingHost) Pressure() float64 { return 0 }
func (h *recordingHost) Health() int       { return wasmhost.GatewayHealthy }
func (h *recordingHost) Report(_ string, status int, msg string) {
	h.mu.Lock()
	h.reports = append(h.reports, fmt.Sprintf("health_report status=%d %q", status, msg))
	h.mu.Unlock()
}

func (h *recordingHost) DefineMetric(_ string, kind wasmhost.MetricKind, name, _ string) (wasmhost.MetricHandle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.values == nil {
		h.values, h.kinds = map[string]float64{}, map[string]wasmhost.MetricKind{}
	}
	h.kinds[name] = kind
	if _, ok := h.values[name]; !ok {
		h.values[name] = 0
	}
	return recordedMetric{h: h, name: name}, nil
}

type recordedMetric struct {
	h    *recordingHost
	name string
}

func (m recordedMetric) Add(v float64) {
	m.h.mu.Lock()
	m.h.values[m.name] += v
	m.h.mu.Unlock()
}

func (m recordedMetric) Record(v float64) {
	m.h.mu.Lock()
	m.h.values[m.name] = v
	m.h.mu.Unlock()
}

func (h *recordingHost) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lines []string
	for name, v := range h.values {
		lines = append(lines, fmt.Sprintf("otlpgw_module_%s (%s) %g", name, h.kinds[name], v))
	}
	sort.Strings(lines)
	lines = append(lines, h.reports...)
	if len(lines) == 0 {
		return "(none)\n"
	}
	return strings.Join(lines, "\n") + "\n"
}
