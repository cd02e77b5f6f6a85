package main

import (
	"fmt"
	"os"
)

// gatewayConfig is the soak's one config file. The two configurations the
// reloads alternate between differ only in the limits filter's
// max_value_length (256 or 512 bytes), which changes no item count.
type gatewayConfig struct {
	path, grpc, admin, upstream string
	queueDir                    string // persistent queue directory; empty: in memory
}

// write replaces the file as editors do (write aside, rename over), so a
// reload never reads half a file.
func (c gatewayConfig) write(alt bool) error {
	maxLen := 256
	if alt {
		maxLen = 512
	}
	queue := ""
	if c.queueDir != "" {
		queue = fmt.Sprintf("queue: {persistent: {directory: %q}}\n", c.queueDir)
	}
	body := fmt.Sprintf(configTemplate, c.grpc, c.admin, queue, maxLen, c.upstream)
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// configTemplate is bench/reload's chain, the five stock filters each as
// its filters/NAME/example.yaml configures it, with two changes that keep
// the books exact: drop's shed block is left out (it drops a share of
// traces on purpose while a queue is over 80 %, which every outage
// causes), and every filter gets a 5 s deadline rather than 50 ms, so that
// a call descheduled on the shared cores does not fail (redact's
// on_error: drop would discard its batch; with autogroup scheduling a
// process on a shared machine gets only its group's share of the cores,
// and the first smoke runs saw validate time out at 1 s). Batching and the queue's size
// keep their defaults; file watching is off, the soak triggers every
// reload itself.
const configTemplate = `receivers:
  otlp:
    grpc: {endpoint: %q}
    http: {endpoint: ""}
admin: {endpoint: %q}
reload: {watch: false}
%sfilters:
  - name: validate
    module: builtin:validate
    on_error: pass
    timeout: 5s
    config:
      max_future: 24h
      checks: {ids: true, timestamps: true, names: true, histograms: true, severity: true}
  - name: drop
    module: builtin:drop
    timeout: 5s
    config:
      rules:
        - name_regex: '^(GET|HEAD) /(healthz|readyz|livez)$'
        - attribute: {key: url.path, equals: /metrics}
        - body_regex: '^GET /healthz '
      sample_percent: 100
  - name: fix
    module: builtin:fix
    timeout: 5s
    config:
      resource_defaults: {service.name: unknown_service, deployment.environment: unknown}
      max_future: 24h
      lowercase_keys: []
  - name: limits
    module: builtin:limits
    timeout: 5s
    config:
      max_value_length: %d
      max_attributes: 128
  - name: redact
    module: builtin:redact
    on_error: drop
    timeout: 5s
    config:
      delete_keys: [password, http.request.header.cookie, db.connection_string]
      hash_keys: [user.email, enduser.id]
      hash_salt: soak-salt
      mask:
        - builtin: credit_card
        - builtin: bearer_token
        - builtin: jwt
        - pattern: 'sk_(live|test)_[0-9A-Za-z]{8,}'
          replacement: 'sk_***'
          keys: [url.full, url.query, http.url]
exporters:
  - {name: upstream, type: otlp, endpoint: %q, tls: {insecure: true}, compression: none}
`
