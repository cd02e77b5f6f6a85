package receiver

import (
	"crypto/subtle"
	"crypto/tls"
	"log/slog"
	"strings"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/internal/servertls"
)

// CheckTLS loads what a receiver's TLS settings name (certificate, key,
// client CAs) and reports the first problem, for validate and start-up:
// a receiver whose files do not load refuses to start.
func CheckTLS(c config.ServerTLS) error {
	_, err := loadTLS(c, slog.New(slog.DiscardHandler))
	return err
}

// loadTLS builds a receiver's server TLS configuration; nil when TLS is
// off.
func loadTLS(c config.ServerTLS, log *slog.Logger) (*tls.Config, error) {
	return servertls.Load(c, log)
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
