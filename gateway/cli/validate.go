package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otlpgw/otlpgw/gateway"
	"github.com/otlpgw/otlpgw/gateway/config"
)

// loaded is a command's configuration with what loading it noticed.
type loaded struct {
	cfg      *config.Config
	files    []string
	warnings []string // each "FILE: what"
}

// printWarnings writes one "warning: ..." line per warning.
func (l loaded) printWarnings(w io.Writer) {
	for _, line := range l.warnings {
		fmt.Fprintln(w, "warning: "+line)
	}
}

// loadConfig parses a command's --config flags and loads the files; on a
// problem it prints it (and any warning) to stderr and reports false.
func loadConfig(name string, args []string, stderr io.Writer) (loaded, bool) {
	files, err := parseConfigFlags(name, args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return loaded{}, false
	}
	cfg, warnings, err := config.LoadWithWarnings(files, os.LookupEnv)
	l := loaded{cfg: cfg, files: files, warnings: warnings}
	if err != nil {
		l.printWarnings(stderr)
		printProblems(stderr, err)
		return loaded{}, false
	}
	return l, true
}

// validateFlags registers validate's flags; help and completion use it too.
func validateFlags(fs *flag.FlagSet) (files *configFiles, fix *bool, out *string) {
	files = new(configFiles)
	fs.Var(files, "config", "configuration file (repeatable; later files win)")
	fix = fs.Bool("fix", false, "apply the safe fixes, each printed with its key path, and write the fixed file (one --config only)")
	out = fs.String("out", "", "with --fix: write the fixed file here instead of to stdout")
	return files, fix, out
}

// validateCmd loads the configuration and runs every check run makes
// before it binds anything (gateway.Check), so a configuration validate
// accepts is one run starts with. With --fix it first applies the safe
// fixes (config.Fix) to the one --config file.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	files, fix, out := validateFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUndelivered
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUndelivered
	case *out != "" && !*fix:
		fmt.Fprintln(stderr, "--out needs --fix")
		return exitUndelivered
	case *fix:
		return validateFix(*files, *out, stdout, stderr)
	}
	cfg, warnings, err := config.LoadWithWarnings(*files, os.LookupEnv)
	lc := loaded{cfg: cfg, files: *files, warnings: warnings}
	lc.printWarnings(stderr)
	if err != nil {
		printProblems(stderr, err)
		return exitUndelivered
	}
	if err := gateway.Check(context.Background(), lc.cfg, gateway.Settings{Builtins: builtins}); err != nil {
		printProblems(stderr, err)
		return exitUndelivered
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return exitOK
}

// validateFix is validate --fix: the fixed file goes to out (or stdout),
// one "fixed: ..." line per fix and every problem that remains to stderr.
// The file is written even when problems remain: every fix is safe on
// its own.
func validateFix(files []string, out string, stdout, stderr io.Writer) int {
	if len(files) != 1 {
		fmt.Fprintf(stderr, "--fix works on exactly one --config file (got %d)\n", len(files))
		return exitUndelivered
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot read: %v\n", files[0], err)
		return exitUndelivered
	}
	res, ferr := config.Fix(files[0], data, os.LookupEnv)
	for _, f := range res.Fixes {
		fmt.Fprintln(stderr, "fixed: "+f)
	}
	if out == "" {
		_, _ = stdout.Write(res.Out)
	} else {
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(files[0]); err == nil {
			mode = fi.Mode().Perm() // the fixed file may hold what the original protected
		}
		if err := os.WriteFile(out, res.Out, mode); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUndelivered
		}
		plural := "es"
		if len(res.Fixes) == 1 {
			plural = ""
		}
		fmt.Fprintf(stderr, "wrote %s (%d fix%s)\n", out, len(res.Fixes), plural)
	}
	if ferr != nil {
		printProblems(stderr, ferr)
		return exitUndelivered
	}
	if err := gateway.Check(context.Background(), res.Config, gateway.Settings{Builtins: builtins}); err != nil {
		printProblems(stderr, err)
		return exitUndelivered
	}
	fmt.Fprintln(stderr, "configuration is valid")
	return exitOK
}
