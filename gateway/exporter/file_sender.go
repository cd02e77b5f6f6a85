package exporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// fileSender is the `file` exporter: it appends one OTLP JSON line per
// batch to cfg.Path (created with mode 0640 if missing). Lines are written
// whole under a mutex, so concurrent workers never interleave them; the
// file is synced on Close. Write errors are permanent: a full disk does not
// get better by resending.
type fileSender struct {
	path   string
	mu     sync.Mutex
	f      *os.File // nil once closed
	closed error
}

var errFileClosed = errors.New("file exporter closed")

func newFileSender(cfg config.Exporter) (*fileSender, error) {
	if cfg.Path == "" {
		return nil, errors.New("path: must be set for the file exporter")
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	return &fileSender{path: cfg.Path, f: f}, nil
}

func (s *fileSender) Send(_ context.Context, sig otlpwire.Signal, req []byte, _ int) (Partial, error) {
	line, err := otlpwire.ProtoToJSON(sig, req)
	if err != nil {
		return Partial{}, fmt.Errorf("file %s: %w", s.path, err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return Partial{}, fmt.Errorf("file %s: %w", s.path, errFileClosed)
	}
	if _, err := s.f.Write(line); err != nil {
		return Partial{}, fmt.Errorf("file %s: write: %w", s.path, err)
	}
	return Partial{}, nil
}

// Close syncs and closes the file; later calls return the first result.
func (s *fileSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return s.closed
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = fmt.Errorf("file %s: close: %w", s.path, err)
	}
	s.f, s.closed = nil, err
	return err
}
