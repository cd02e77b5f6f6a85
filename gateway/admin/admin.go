// Package admin serves the gateway's operator endpoints: Prometheus
// metrics, liveness, readiness with per-component detail, and pprof,
// optionally over TLS and with a bearer token on everything but the
// probes and the scrape (admin.auth, admin.tls).
//
// Metrics: admin_unauthorized_requests_total{reason} counts requests
// refused 401, reason missing (no bearer token) or invalid (another one).
package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/servertls"
)

// Readiness reports whether the gateway can take traffic, with a JSON-able
// detail of every component. It is called on each GET /readyz. status is
// the body's "status" when not empty (for example "draining", so a probe
// log says why); otherwise it is "ready" or "not_ready". Only ready
// answers 200.
type Readiness func() (ready bool, status string, detail any)

// Server is the admin HTTP server. Start binds; Shutdown is safe twice and
// without Start.
type Server struct {
	endpoint string
	srv      *http.Server
	log      *slog.Logger
	tls      *tls.Config // nil: plaintext
	// initErr is why the server cannot start (its TLS files did not
	// load); Start returns it.
	initErr error

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{}
}

// New builds the admin server for cfg. extra registers more handlers
// (such as /-/reload) on the same mux; with cfg.Auth set they need the
// token like every path but /healthz, /readyz and /metrics. A TLS
// certificate that does not load makes Start fail.
func New(cfg config.Admin, reg *prometheus.Registry, ready Readiness, log *slog.Logger, extra func(*http.ServeMux)) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, st, detail := ready()
		body := struct {
			Status string `json:"status"`
			Detail any    `json:"detail"`
		}{Status: "ready", Detail: detail}
		code := http.StatusOK
		if !ok {
			body.Status, code = "not_ready", http.StatusServiceUnavailable
		}
		if st != "" {
			body.Status = st
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if extra != nil {
		extra(mux)
	}
	var refused *prometheus.CounterVec
	if cfg.Auth.BearerToken != "" {
		refused = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otlpgw", Name: "admin_unauthorized_requests_total",
			Help: "Admin requests refused 401 for a missing (reason=missing) or wrong (reason=invalid) bearer token.",
		}, []string{"reason"})
		for _, r := range []string{"missing", "invalid"} {
			refused.WithLabelValues(r) // born at 0, so increase() sees the first
		}
		if err := reg.Register(refused); err != nil {
			log.Warn("admin: unauthorized-requests counter not registered", "err", err)
		}
	}
	s := &Server{
		endpoint: cfg.Endpoint,
		log:      log,
		srv:      &http.Server{Handler: RequireBearer(cfg.Auth.BearerToken, refused, mux), ReadHeaderTimeout: 10 * time.Second},
	}
	if tc, err := servertls.Load(cfg.TLS, log); err != nil {
		s.initErr = fmt.Errorf("admin: %w", err)
	} else {
		s.tls = tc
	}
	return s
}

// Start binds the endpoint and serves in the background.
func (s *Server) Start() error {
	if s.initErr != nil {
		return s.initErr
	}
	ln, err := net.Listen("tcp", s.endpoint)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.endpoint, err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln, s.done = ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, waiting for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if done != nil {
		<-done
	}
	return err
}
