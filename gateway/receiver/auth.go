package receiver

import (
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/internal/pemfile"
)

// CheckTLS loads what a receiver's TLS settings name (certificate, key,
// client CAs) and reports the first problem, for validate and start-up:
// a receiver whose files do not load refuses to start.
func CheckTLS(c config.ServerTLS) error {
	_, err := loadTLS(c, slog.New(slog.DiscardHandler))
	return err
}

// certCheckInterval is how often, at most, a handshake looks at whether
// the certificate files changed on disk.
const certCheckInterval = 10 * time.Second

// loadTLS builds a receiver's server TLS configuration; nil when TLS is
// off.
func loadTLS(c config.ServerTLS, log *slog.Logger) (*tls.Config, error) {
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
					r.log.Warn("receiver TLS: the changed certificate does not load; still serving the previous one", "error", err)
				}
			} else {
				r.log.Info("receiver TLS: certificate reloaded", "cert_file", r.certFile)
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

// authenticator checks a request's bearer token against the configured
// ones, in constant time per token.
type authenticator struct {
	tokens [][]byte
}

// newAuthenticator returns nil when a is empty: no authentication.
func newAuthenticator(a config.ReceiverAuth) *authenticator {
	if len(a.BearerTokens) == 0 {
		return nil
	}
	au := &authenticator{}
	for _, t := range a.BearerTokens {
		au.tokens = append(au.tokens, []byte(t))
	}
	return au
}

var (
	errNoCredentials  = gwerr.New(gwerr.Unauthenticated, "missing credentials: send Authorization: Bearer <token>")
	errBadCredentials = gwerr.New(gwerr.Unauthenticated, "invalid bearer token")
)

// check verifies an Authorization value ("Bearer TOKEN", the scheme in
// any case, RFC 6750).
func (a *authenticator) check(authorization string) error {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return errNoCredentials
	}
	token = strings.TrimSpace(token)
	match := 0
	for _, t := range a.tokens {
		match |= subtle.ConstantTimeCompare(t, []byte(token))
	}
	if match == 0 {
		return errBadCredentials
	}
	return nil
}
