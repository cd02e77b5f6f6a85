package cli

import (
	"fmt"
	"io"
)

// configCmd runs "otlpgw config SUBCOMMAND".
func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "print" {
		fmt.Fprintf(stderr, "otlpgw config: want the subcommand print\n\n%s", overview())
		return exitUndelivered
	}
	return configPrintCmd(args[1:], stdout, stderr)
}

// configPrintCmd prints the effective configuration: the files merged,
// ${env:...} expanded, defaults and presets filled in, secrets redacted.
// It prints what loads; checks that need the files a config names are
// validate's job.
func configPrintCmd(args []string, stdout, stderr io.Writer) int {
	lc, ok := loadConfig("config print", args, stderr)
	if !ok {
		return exitUndelivered
	}
	lc.printWarnings(stderr)
	out, err := lc.cfg.PrintRedacted()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUndelivered
	}
	_, _ = stdout.Write(out)
	return exitOK
}
