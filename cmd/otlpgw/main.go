// Command otlpgw is the OTLP gateway. See README.md.
package main

import (
	"os"

	"github.com/otlpgw/otlpgw/gateway/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
