package cli

import (
	"context"
	"fmt"
	"io"
	"os"

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

// validateCmd loads the configuration and runs every check run makes
// before it binds anything (gateway.Check), so a configuration validate
// accepts is one run starts with.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	lc, ok := loadConfig("validate", args, stderr)
	if !ok {
		return exitUndelivered
	}
	lc.printWarnings(stderr)
	if err := gateway.Check(context.Background(), lc.cfg, gateway.Settings{Builtins: builtins}); err != nil {
		printProblems(stderr, err)
		return exitUndelivered
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return exitOK
}
