package exporter

import (
	"crypto/tls"
	"fmt"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/pemfile"
)

// clientTLS builds the client TLS configuration, or nil for plaintext
// (Insecure). Without CAFile the system roots verify the server.
func clientTLS(c config.TLS) (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // an operator's explicit choice
	}
	if c.CAFile != "" {
		pool, err := pemfile.CertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("tls: cert_file and key_file must be set together (got cert_file=%q, key_file=%q)", c.CertFile, c.KeyFile)
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file, tls.key_file: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
