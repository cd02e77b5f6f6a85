// Package admin serves the gateway's operator endpoints: Prometheus
// metrics, liveness, readiness with per-component detail, and pprof.
package admin

import (
	"context"
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

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{}
}

// New builds the admin server. extra registers more handlers (such as
// /-/reload) on the same mux.
func New(endpoint string, reg *prometheus.Registry, ready Readiness, log *slog.Logger, extra func(*http.ServeMux)) *Server {
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
	return &Server{
		endpoint: endpoint,
		log:      log,
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
}

// Start binds the endpoint and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.endpoint)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.endpoint, err)
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
