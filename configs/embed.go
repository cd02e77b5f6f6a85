// Package configs holds the configuration files shipped inside the otlpgw
// binary.
package configs

import _ "embed"

// Default is default.yaml, the configuration `otlpgw run` uses when it is
// given no --config.
//
//go:embed default.yaml
var Default []byte
