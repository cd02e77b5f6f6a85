// Package cli implements otlpgw's command line. cmd/otlpgw only calls Main;
// nothing here exits the process.
package cli

import (
	"context"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/otlpgw/otlpgw/filters"
	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/exporter"
	"github.com/otlpgw/otlpgw/gateway/internal/procs"
	"github.com/otlpgw/otlpgw/gateway/receiver"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// builtins are the stock filters embedded in the binary ("builtin:NAME").
var builtins = filters.Builtin

// version is set at build time with -ldflags "-X github.com/otlpgw/otlpgw/gateway/cli.version=v1.2.3".
var version = ""

// Exit statuses, as the contract fixes them.
const (
	exitOK          = 0
	exitUndelivered = 1 // shutdown_timeout expired with items undelivered, or a command failed
	exitBadConfig   = 2 // the configuration failed to load at start-up
)

const usage = `otlpgw: an OTLP gateway with WASM filters

Usage:
  otlpgw run      [--config FILE]...   run the gateway (no --config: embedded default)
  otlpgw validate [--config FILE]...   load, merge and validate the configuration
  otlpgw filter test --module M --signal traces|metrics|logs [--filter-config JSON] FILE
                                       run one filter offline over an OTLP JSON or protobuf file
  otlpgw diagnose [--config FILE]...   check that every exporter can deliver: DNS, TCP, TLS,
                                       gRPC health or HTTP reachability, one test span
  otlpgw version                       print version information

Several --config files merge in order; later files win.
`

// Main runs one command and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUndelivered
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "diagnose":
		return diagnoseCmd(args[1:], stdout, stderr)
	case "filter":
		if len(args) > 1 && args[1] == "test" {
			return filterTestCmd(args[2:], stdout, stderr)
		}
		fmt.Fprintf(stderr, "otlpgw filter: want the subcommand test\n\n%s", usage)
		return exitUndelivered
	case "version", "--version", "-v":
		printVersion(stdout)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "otlpgw: unknown command %q\n\n%s", args[0], usage)
	return exitUndelivered
}

type configFiles []string

func (c *configFiles) String() string     { return strings.Join(*c, ",") }
func (c *configFiles) Set(v string) error { *c = append(*c, v); return nil }

func parseConfigFlags(name string, args []string, stderr io.Writer) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files configFiles
	fs.Var(&files, "config", "configuration file (repeatable; later files win)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return files, nil
}

func printProblems(w io.Writer, err error) {
	for _, line := range config.Problems(err) {
		fmt.Fprintln(w, line)
	}
}

// loadConfig parses a command's --config flags and loads the files; on a
// problem it prints it to stderr and reports false.
func loadConfig(name string, args []string, stderr io.Writer) (*config.Config, []string, bool) {
	files, err := parseConfigFlags(name, args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	cfg, err := config.Load(files, os.LookupEnv)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, false
	}
	return cfg, files, true
}

func validateCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, ok := loadConfig("validate", args, stderr)
	if !ok {
		return exitUndelivered
	}
	bad := false
	for _, r := range []struct {
		path     string
		endpoint string
		tls      config.ServerTLS
	}{
		{"receivers.otlp.grpc.tls", cfg.Receivers.OTLP.GRPC.Endpoint, cfg.Receivers.OTLP.GRPC.TLS},
		{"receivers.otlp.http.tls", cfg.Receivers.OTLP.HTTP.Endpoint, cfg.Receivers.OTLP.HTTP.TLS},
		{"admin.tls", cfg.Admin.Endpoint, cfg.Admin.TLS},
	} {
		if r.endpoint == "" {
			continue
		}
		if err := receiver.CheckTLS(r.tls); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", r.path, err)
			bad = true
		}
	}
	if err := gateway.CheckFilters(context.Background(), cfg, builtins, ""); err != nil {
		printProblems(stderr, err)
		bad = true
	}
	if bad {
		return exitUndelivered
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return exitOK
}

// diagnoseCmd checks every configured exporter (exporter.Diagnose) and
// prints a report; it fails when any exporter cannot deliver.
func diagnoseCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, loaded := loadConfig("diagnose", args, stderr)
	if !loaded {
		return exitUndelivered
	}
	ok := 0
	for _, ec := range cfg.Exporters {
		d := exporter.Diagnose(context.Background(), ec)
		target := d.Target
		if target != "" {
			target = " → " + target
		}
		fmt.Fprintf(stdout, "exporter %s (%s%s)\n", d.Exporter, d.Type, target)
		for _, c := range d.Checks {
			took := ""
			if c.Result != exporter.CheckSkip {
				took = fmt.Sprintf(" (%s)", c.Took.Round(10*time.Microsecond))
			}
			fmt.Fprintf(stdout, "  %-4s  %-6s  %s%s\n", c.Result, c.Step, c.Detail, took)
		}
		if d.OK() {
			ok++
		}
	}
	fmt.Fprintf(stdout, "%d of %d exporters can deliver\n", ok, len(cfg.Exporters))
	if ok < len(cfg.Exporters) {
		return exitUndelivered
	}
	return exitOK
}

func runCmd(args []string, stderr io.Writer) int {
	cfg, files, ok := loadConfig("run", args, stderr)
	if !ok {
		return exitBadConfig
	}
	log := newLogger(cfg.Log, stderr)

	gw, err := gateway.New(cfg, gateway.Settings{Logger: log, Builtins: builtins, ConfigFiles: files, Env: os.LookupEnv})
	if err != nil {
		log.Error("building the gateway failed", "err", err)
		return exitBadConfig
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	if err := gw.Start(context.Background()); err != nil {
		log.Error("starting the gateway failed", "err", err)
		return exitBadConfig
	}
	// GOMAXPROCS is process-wide, so the command, not the Gateway (tests
	// run many in one process), adapts it. An explicit GOMAXPROCS wins.
	if _, set := os.LookupEnv("GOMAXPROCS"); cfg.Runtime.Procs == "adaptive" && !set {
		procsCtx, stopProcs := context.WithCancel(context.Background())
		procsDone := make(chan struct{})
		go func() { defer close(procsDone); procs.Run(procsCtx, procs.Default, log) }()
		defer func() { stopProcs(); <-procsDone }()
	}
	for s := range sigs {
		if s == syscall.SIGHUP {
			// Failures are logged and counted by Reload; the old
			// configuration keeps running.
			if sum, err := gw.Reload(context.Background()); err == nil {
				log.Info("SIGHUP: configuration reloaded", "generation", sum.Generation)
			}
			continue
		}
		log.Info("stopping: draining queues into the exporters", "signal", s.String(), "shutdown_timeout", cfg.ShutdownTimeout)
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		log.Error("stopped with undelivered data", "err", err)
		return exitUndelivered
	}
	log.Info("stopped cleanly")
	return exitOK
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func printVersion(w io.Writer) {
	v := version
	wazero := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				wazero = d.Version
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "otlpgw %s\ngo %s %s/%s\nwazero %s\nfilter ABI %d\nstock filters: %s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, wazero, wasmhost.ABIVersion, strings.Join(names, ", "))
}
