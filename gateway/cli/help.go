package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand as help and completion describe it. flags
// registers the command's flags on a FlagSet; the command itself uses the
// same function where it can, so help cannot drift from what it accepts.
type command struct {
	name    string // as typed: "filter test"
	summary string // one line
	usage   string // after "otlpgw "
	example string // one or more lines, each a command a user can paste
	args    []string
	flags   func(fs *flag.FlagSet)
}

func configFlag(fs *flag.FlagSet) {
	var files configFiles
	fs.Var(&files, "config", "configuration file (repeatable; later files win; none: the embedded default)")
}

// commands lists every subcommand, in the order the overview shows them.
var commands = []command{
	{
		name:    "run",
		summary: "run the gateway until SIGINT or SIGTERM; SIGHUP reloads the configuration",
		usage:   "run [--config FILE]...",
		example: "otlpgw run --config otlpgw.yaml\notlpgw run    # the embedded default: OTLP on 4317/4318, a debug exporter",
		flags:   configFlag,
	},
	{
		name:    "validate",
		summary: "load, merge and validate the configuration, modules included, without starting anything",
		usage:   "validate [--config FILE]... | validate --fix --config FILE [--out FILE]",
		example: "otlpgw validate --config base.yaml --config prod.yaml\notlpgw validate --fix --config otlpgw.yaml --out fixed.yaml",
		flags:   func(fs *flag.FlagSet) { validateFlags(fs) },
	},
	{
		name:    "config print",
		summary: "print the effective configuration (merged, env expanded, defaults filled, secrets redacted) as YAML",
		usage:   "config print [--config FILE]...",
		example: "otlpgw config print --config otlpgw.yaml",
		flags:   configFlag,
	},
	{
		name:    "diagnose",
		summary: "check that every exporter can deliver: DNS, TCP, TLS, gRPC health or HTTP reachability, one test span",
		usage:   "diagnose [--config FILE]...",
		example: "otlpgw diagnose --config otlpgw.yaml",
		flags:   configFlag,
	},
	{
		name:    "filter test",
		summary: "run one filter offline over an OTLP JSON or protobuf file and print its verdict, logs, metrics and output",
		usage:   "filter test --module M --signal traces|metrics|logs [--filter-config JSON] FILE",
		example: "otlpgw filter test --module builtin:redact --signal traces --filter-config '{\"delete_keys\":[\"password\"]}' spans.json",
		args:    []string{"FILE"},
		flags:   func(fs *flag.FlagSet) { filterTestFlags(fs) },
	},
	{
		name:    "healthcheck",
		summary: "exit 0 when the admin server's /readyz (or /healthz with --live) answers 200; for container health checks",
		usage:   "healthcheck [--url URL] [--live] [--timeout DURATION]",
		example: "otlpgw healthcheck\notlpgw healthcheck --live --url http://10.0.0.7:8888",
		flags:   func(fs *flag.FlagSet) { healthcheckFlags(fs) },
	},
	{
		name:    "version",
		summary: "print the version, Go, wazero, the filter ABI and the stock filters",
		usage:   "version",
		example: "otlpgw version",
	},
	{
		name:    "completion",
		summary: "print a shell completion script for bash, zsh or fish",
		usage:   "completion bash|zsh|fish",
		example: "source <(otlpgw completion bash)\notlpgw completion zsh > \"${fpath[1]}/_otlpgw\"\notlpgw completion fish > ~/.config/fish/completions/otlpgw.fish",
		args:    []string{"bash", "zsh", "fish"},
	},
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// overview is what `otlpgw`, `otlpgw help` and `otlpgw --help` print.
func overview() string {
	var b strings.Builder
	b.WriteString("otlpgw: an OTLP gateway with WASM filters\n\nUsage:\n  otlpgw COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-13s %s\n", c.name, c.summary)
	}
	b.WriteString("\nSeveral --config files merge in order: later files win, and a list (exporters, filters) replaces the earlier list whole.\n")
	b.WriteString("Run 'otlpgw COMMAND --help' for a command's flags and an example.\n")
	return b.String()
}

// printHelp writes one command's help: summary, usage, flags, example.
func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "otlpgw %s: %s\n\nUsage:\n  otlpgw %s\n", c.name, c.summary, c.usage)
	if c.flags != nil {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nExample:\n")
	for _, line := range strings.Split(c.example, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// wantsHelp reports whether args ask for help: -h, -help or --help before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "-h=true", "--help=true":
			return true
		}
	}
	return false
}

// usageError follows a flag error (already printed by the flag package)
// with where to find the right usage.
func usageError(stderr io.Writer, name string) int {
	fmt.Fprintf(stderr, "run 'otlpgw %s --help' for usage\n", name)
	return exitUndelivered
}
