package gateway

import (
	"net/http"
)

// ConfigHandler serves GET /-/config: the running generation's effective
// configuration as YAML, secrets redacted (config.Config.PrintRedacted),
// the same text `otlpgw config print` writes for the same files. It is a
// plain http.Handler so that the admin server can wrap it (authentication)
// like the other sensitive endpoints.
func (g *Gateway) ConfigHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		out, err := g.cur.Load().cfg.PrintRedacted()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(out)
	})
}
