// Package pemfile loads the PEM files TLS settings name, for the
// exporters' client TLS and the receivers' server TLS alike.
package pemfile

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool reads the CA certificates in the PEM file at path. A file
// holding none is an error: a pool that trusts nothing fails every
// handshake later, with a message that no longer names the file.
func CertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates found", path)
	}
	return pool, nil
}
