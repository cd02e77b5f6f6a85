package admin

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// openPaths answer without a token: probes and scrapers carry none.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// RequireBearer wraps next so that every request except those for
// /healthz, /readyz and /metrics must carry "Authorization: Bearer
// token" (compared in constant time); others get 401 with
// WWW-Authenticate. Protection is by default
// rather than by list, so an endpoint added later under /-/ (or anywhere)
// is protected without anyone remembering to. refused, when not nil,
// counts refusals by reason (missing, invalid). An empty token returns
// next unchanged.
func RequireBearer(token string, refused *prometheus.CounterVec, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		switch {
		case !ok || !strings.EqualFold(scheme, "bearer"):
			unauthorized(w, refused, "missing", `Bearer realm="otlpgw admin"`,
				"missing credentials: send Authorization: Bearer <admin.auth.bearer_token>")
		case subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1:
			unauthorized(w, refused, "invalid", `Bearer realm="otlpgw admin", error="invalid_token"`,
				"invalid bearer token")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func unauthorized(w http.ResponseWriter, refused *prometheus.CounterVec, reason, challenge, msg string) {
	if refused != nil {
		refused.WithLabelValues(reason).Inc()
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"` + msg + `"}` + "\n"))
}
