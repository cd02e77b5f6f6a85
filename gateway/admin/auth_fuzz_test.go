package admin

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// FuzzAdminAuth sends the admin server, with a bearer token set,
// requests with arbitrary methods, paths and Authorization values. A
// handler behind the token (the gateway's /-/ endpoints, pprof) runs only
// for a request that carries the token; /healthz, /readyz and /metrics
// never answer 401; every 401 carries a WWW-Authenticate challenge; and
// the token, sent right, is always let through.
func FuzzAdminAuth(f *testing.F) {
	f.Add("POST", "/-/reload", "Bearer adm1n")
	f.Add("GET", "/-/config", "bearer   adm1n  ")
	f.Add("GET", "/healthz", "")
	f.Add("GET", "/readyz/", "Bearer nope")
	f.Add("GET", "//-/reload", "")
	f.Add("GET", "/healthz/../-/config", "Basic YWRtMW4=")
	f.Add("GET", "/%2D/config", "Bearer")
	f.Add("GET", "/debug/pprof/cmdline", "Bearer adm1n\t")
	f.Add("HEAD", "/metrics", "x")

	const token = "adm1n"
	var reached string
	srv := New(config.Admin{Endpoint: "127.0.0.1:0", Auth: config.AdminAuth{BearerToken: token}}, prometheus.NewRegistry(),
		func() (bool, string, any) { return true, "", nil }, slog.New(slog.DiscardHandler), func(mux *http.ServeMux) {
			for _, p := range []string{"POST /-/reload", "GET /-/reload", "GET /-/config", "/-/"} {
				mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { reached = p })
			}
		})
	h := srv.srv.Handler

	f.Fuzz(func(t *testing.T, method, path, auth string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") || !validMethod(method) {
			return
		}
		auth, ok := headerValue(auth)
		if !ok {
			return
		}
		if strings.ContainsFunc(u.RequestURI(), func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // no request line carries it: the server answers 400 before any handler
		}
		req := httptest.NewRequest(method, "http://admin.local"+u.RequestURI(), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		scheme, tok, _ := strings.Cut(strings.TrimSpace(auth), " ")
		hasToken := strings.EqualFold(scheme, "bearer") && strings.TrimSpace(tok) == token

		reached = ""
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		open := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}[req.URL.Path]
		switch {
		case reached != "" && !hasToken:
			t.Fatalf("%s %q with Authorization %q reached %q without the token (status %d)", method, path, auth, reached, w.Code)
		case w.Code == 401 && (open || hasToken):
			t.Fatalf("%s %q with Authorization %q: 401 (open path %t, token %t)", method, path, auth, open, hasToken)
		case w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer "):
			t.Fatalf("401 without a Bearer challenge: %q", w.Header().Get("WWW-Authenticate"))
		case w.Code != 401 && !open && !hasToken:
			t.Fatalf("%s %q with Authorization %q: status %d, want 401", method, path, auth, w.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// headerValue is what net/http's server hands a handler for a header
// value the client sent: ok false when the server would refuse it.
func headerValue(v string) (string, bool) {
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}
