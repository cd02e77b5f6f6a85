// Package servertls loads the server side of TLS for every listener that
// serves it (the OTLP receivers, the admin server) from a config.ServerTLS:
// one loader, so each listener gets the same versions, mutual TLS and
// certificate renewal without a restart.
package servertls

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/pemfile"
)

// certCheckInterval is how often, at most, a handshake looks at whether
// the certificate files changed on disk.
const certCheckInterval = 10 * time.Second

// Load builds the server TLS configuration c describes; nil when TLS is
// off. The certificate is reread when its files change (see certReloader).
func Load(c config.ServerTLS, log *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r := &certReloader{certFile: c.CertFile, keyFile: c.KeyFile, log: log, every: certCheckInterval}
	if err := r.load(); err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if c.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	if c.ClientCAFile != "" {
		pool, err := pemfile.CertPool(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// certReloader serves the certificate in its files, reloading it when
// they change (a renewal by cert-manager or certbot needs no restart). A
// pair that fails to load leaves the previous one in service.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration

	mu               sync.Mutex
	cert             *tls.Certificate
	certMod, keyMod  time.Time // of the files r.cert was loaded from
	checked          time.Time
	lastFailedReload time.Time // the cert file's time when a reload last failed
}

func (r *certReloader) load() error {
	// Times first: a change racing the read is then seen at the next check.
	cm, km := modTime(r.certFile), modTime(r.keyFile)
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: cert_file %s / key_file %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certMod, r.keyMod = &cert, cm, km
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= r.every {
		r.checked = now
		if cm, km := modTime(r.certFile), modTime(r.keyFile); !cm.Equal(r.certMod) || !km.Equal(r.keyMod) {
			if err := r.load(); err != nil { // r.cert stays as it was
				// Said once per change of the files, not per handshake.
				if !cm.Equal(r.lastFailedReload) {
					r.lastFailedReload = cm
					r.log.Warn("TLS: the changed certificate does not load; still serving the previous one", "error", err)
				}
			} else {
				r.log.Info("TLS: certificate reloaded", "cert_file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}
