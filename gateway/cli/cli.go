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

// Main runs one command and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, overview())
		return exitUndelivered
	}
	// Help is answered here, for every command alike, before the command
	// parses anything: --help must exit 0 even where flags are required.
	name, rest := args[0], args[1:]
	if (name == "filter" || name == "config") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = name+" "+rest[0], rest[1:]
	}
	if c := findCommand(name); c != nil && wantsHelp(rest) {
		printHelp(stdout, c)
		return exitOK
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "diagnose":
		return diagnoseCmd(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "filter":
		if len(args) > 1 && args[1] == "test" {
			return filterTestCmd(args[2:], stdout, stderr)
		}
		if wantsHelp(args[1:]) {
			printHelp(stdout, findCommand("filter test"))
			return exitOK
		}
		fmt.Fprintf(stderr, "otlpgw filter: want the subcommand test\n\n%s", overview())
		return exitUndelivered
	case "healthcheck":
		return healthcheckCmd(args[1:], stdout, stderr)
	case "completion":
		return completionCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		printVersion(stdout)
		return exitOK
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c := findCommand(strings.Join(args[1:], " ")); c != nil {
				printHelp(stdout, c)
				return exitOK
			}
			fmt.Fprintf(stderr, "otlpgw help: unknown command %q\n\n%s", strings.Join(args[1:], " "), overview())
			return exitUndelivered
		}
		fmt.Fprint(stdout, overview())
		return exitOK
	}
	fmt.Fprintf(stderr, "otlpgw: unknown command %q\n\n%s", args[0], overview())
	return exitUndelivered
}

type configFiles []string

func (c *configFiles) String() string     { return strings.Join(*c, ",") }
func (c *configFiles) Set(v string) error { *c = append(*c, v); return nil }

func parseConfigFlags(name string, args []string, stderr io.Writer) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "run 'otlpgw %s --help' for usage\n", name) }
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

// diagnoseCmd checks every configured exporter (exporter.Diagnose) and
// prints a report; it fails when any exporter cannot deliver.
func diagnoseCmd(args []string, stdout, stderr io.Writer) int {
	lc, loaded := loadConfig("diagnose", args, stderr)
	if !loaded {
		return exitUndelivered
	}
	lc.printWarnings(stderr)
	cfg := lc.cfg
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
			if c.Hint != "" {
				fmt.Fprintf(stdout, "hint: %s\n", c.Hint)
			}
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
	lc, ok := loadConfig("run", args, stderr)
	if !ok {
		return exitBadConfig
	}
	cfg, files := lc.cfg, lc.files
	log, level := newLogger(cfg.Log, stderr)
	for _, w := range lc.warnings {
		log.Warn(w)
	}
	// The same checks as validate, with the same messages, before
	// anything is built.
	if err := gateway.Check(context.Background(), cfg, gateway.Settings{Builtins: builtins}); err != nil {
		printProblems(stderr, err)
		return exitBadConfig
	}

	gw, err := gateway.New(cfg, gateway.Settings{Logger: log, Builtins: builtins, ConfigFiles: files, Env: os.LookupEnv, Version: version, LogLevel: level})
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

// newLogger builds the gateway's logger; its level is the returned
// variable, which a reload of log.level sets.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
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
