package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/exporter"
	"github.com/otlpgw/otlpgw/gateway/internal/memlimit"
	"github.com/otlpgw/otlpgw/gateway/receiver"
)

// Check reports every problem, beyond config.Validate, that would make New
// or Start refuse cfg: what the memory limits resolve to, the receivers'
// and exporters' TLS files, a file exporter's path, the persistent queue
// directory, and whether every filter module loads. `otlpgw validate` and
// `otlpgw run` both call it, so they refuse exactly the same
// configurations. It binds no port, connects nowhere and leaves nothing
// on disk. Each problem is one line of the joined error, starting with
// its key path (see config.Problems).
func Check(ctx context.Context, cfg *config.Config, set Settings) error {
	var errs []error
	add := func(path string, err error) {
		for _, line := range config.Problems(err) {
			errs = append(errs, &config.FieldError{Path: path, Msg: line})
		}
	}
	if _, err := memlimit.Resolve(cfg.MemoryLimit); err != nil {
		add("", err) // already names memory_limit.soft or .hard
	}
	for _, r := range []struct {
		path string
		rc   config.ServerTLS
		on   bool
	}{
		{"receivers.otlp.grpc.tls", cfg.Receivers.OTLP.GRPC.TLS, cfg.Receivers.OTLP.GRPC.Endpoint != ""},
		{"receivers.otlp.http.tls", cfg.Receivers.OTLP.HTTP.TLS, cfg.Receivers.OTLP.HTTP.Endpoint != ""},
		{"admin.tls", cfg.Admin.TLS, cfg.Admin.Endpoint != ""},
	} {
		if !r.on {
			continue
		}
		if err := receiver.CheckTLS(r.rc); err != nil {
			add(r.path, err)
		}
	}
	for i, ec := range cfg.Exporters {
		if err := exporter.CheckConfig(ec, exporter.Settings{PersistentDir: cfg.Queue.Persistent.Directory}); err != nil {
			add(fmt.Sprintf("exporters[%d]", i), err)
		}
	}
	if err := CheckFilters(ctx, cfg, set.Builtins, set.CacheDir); err != nil {
		add("", err)
	}
	return errors.Join(errs...)
}
