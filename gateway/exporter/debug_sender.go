package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// debugInterval is how often the debug exporter logs its summary.
const debugInterval = 10 * time.Second

// debugSender is the `debug` exporter: it delivers to the log. With
// verbosity basic (the default) it logs one summary line per signal every
// debugInterval, only for signals that saw data; with verbosity detailed it
// also logs every batch as OTLP JSON, which is slow and meant for
// development.
type debugSender struct {
	log      *slog.Logger
	detailed bool
	interval time.Duration
	items    [otlpwire.NumSignals]atomic.Int64
	requests [otlpwire.NumSignals]atomic.Int64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newDebugSender(cfg config.Exporter, log *slog.Logger, interval time.Duration) *debugSender {
	s := &debugSender{
		log:      log,
		detailed: cfg.Verbosity == "detailed",
		interval: interval,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.summarize()
	return s
}

func (s *debugSender) Send(_ context.Context, sig otlpwire.Signal, req []byte, items int) (Partial, error) {
	s.items[sig].Add(int64(items))
	s.requests[sig].Add(1)
	if s.detailed {
		js, err := otlpwire.ProtoToJSON(sig, req)
		if err != nil {
			return Partial{}, fmt.Errorf("debug: %w", err)
		}
		s.log.Info("batch", "signal", sig.String(), "items", items, "otlp_json", json.RawMessage(js))
	}
	return Partial{}, nil
}

func (s *debugSender) summarize() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.stop:
			s.flush()
			return
		}
	}
}

// flush logs and resets the counts gathered since the last summary.
func (s *debugSender) flush() {
	for _, sig := range otlpwire.Signals {
		reqs := s.requests[sig].Swap(0)
		if reqs == 0 {
			continue
		}
		items := s.items[sig].Swap(0)
		s.log.Info("debug exporter summary", "signal", sig.String(), sig.ItemNoun(), items, "requests", reqs, "period", s.interval)
	}
}

// Close stops the summary loop after logging what it has not logged yet.
func (s *debugSender) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}
