package config

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
)

// FixResult is what Fix made of one configuration file.
type FixResult struct {
	// Out is the file with every fix applied; the input unchanged, byte
	// for byte, when there was nothing to fix. Comments are kept.
	Out []byte
	// Fixes has one line per fix applied, "key.path: what was done (why)".
	Fixes []string
	// Config is Out loaded, or nil when problems remain.
	Config *Config
}

// Fix applies to one configuration file the fixes that cannot change what
// the file means, and returns the problems that remain. Only these are
// fixed (see docs/config.md, "validate --fix"):
//
//   - An unknown key within two edits of exactly one known key at the same
//     place, when that key is not also written there and the value has the
//     shape it takes, is renamed to it.
//   - An otlp (gRPC) exporter endpoint written as a URL loses its scheme when
//     the scheme agrees with tls: https:// with TLS on (the default), or
//     http:// with tls.insecure: true. http:// with no tls settings at all
//     also gets tls.insecure: true, since the scheme was the only thing
//     said about TLS (the Collector reads it the same way). https:// with
//     tls.insecure: true, or http:// beside other tls settings, says two
//     things at once and stays an error.
//   - A zero or negative duration that must be positive and has a default
//     (a timeout, batch.timeout, retry.initial_interval, shutdown_timeout)
//     is reset to that default, the preset's for batch.timeout.
//
// A value written as an ${env:...} reference is never rewritten, and
// nothing under a YAML alias is. name labels the file in messages.
func Fix(name string, data []byte, env func(string) (string, bool)) (FixResult, error) {
	res := FixResult{Out: data}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return res, &FieldError{Path: name, Msg: "invalid YAML: " + yamlMessage(err)}
	}
	text := data
	// Each pass fixes what the last load reported; a rename can reveal a
	// problem below the renamed key, so a few passes may be needed.
	for range 4 {
		_, _, err := load([]source{{name: name, data: text}}, env)
		if err == nil || doc.Kind != yamlv3.DocumentNode || len(doc.Content) == 0 {
			break
		}
		fixed := 0
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if fe, ok := e.(*FieldError); ok {
				if msg := fixOne(doc.Content[0], fe); msg != "" {
					res.Fixes = append(res.Fixes, msg)
					fixed++
				}
			}
		}
		if fixed == 0 {
			break
		}
		var b bytes.Buffer
		enc := yamlv3.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return res, fmt.Errorf("%s: writing the fixed file: %w", name, err)
		}
		_ = enc.Close()
		text = b.Bytes()
	}
	res.Out = text
	cfg, _, err := load([]source{{name: name, data: text}}, env)
	res.Config = cfg
	return res, err
}

// fixOne applies the fix for one problem to the file's top mapping and
// describes it, or changes nothing and returns "".
func fixOne(root *yamlv3.Node, fe *FieldError) string {
	switch {
	case fe.rename != "":
		parent, key, _ := lookup(root, fe.Path)
		if parent == nil {
			return ""
		}
		key.Value = fe.rename
		return fmt.Sprintf("%s: renamed to %s (unknown key; the only known key within %d edits)", fe.Path, fe.rename, maxSuggestDistance)
	case strings.HasPrefix(fe.Msg, "must be > 0 (got ") && fixableDuration.MatchString(fe.Path):
		return fixDuration(root, fe.Path)
	case strings.HasPrefix(fe.Msg, "unexpected scheme") && strings.HasSuffix(fe.Path, ".endpoint") && strings.HasPrefix(fe.Path, "exporters["):
		return fixEndpoint(root, strings.TrimSuffix(fe.Path, ".endpoint"))
	}
	return ""
}

// fixableDuration matches the durations that must be positive and have a
// default; where 0 means something (reload.probation,
// queue.block_timeout, retry.max_elapsed_time), nothing is guessed.
var fixableDuration = regexp.MustCompile(`^(shutdown_timeout|batch\.timeout|exporters\[\d+\]\.(timeout|retry\.initial_interval)|filters\[\d+\]\.timeout)$`)

func fixDuration(root *yamlv3.Node, path string) string {
	_, _, val := lookup(root, path)
	if !literal(val) {
		return ""
	}
	var def time.Duration
	switch {
	case path == "shutdown_timeout":
		def = Default().ShutdownTimeout
	case path == "batch.timeout":
		def = Default().Batch.Timeout
		if _, _, p := lookup(root, "batch.preset"); p != nil {
			pr, ok := presets[p.Value]
			if !literal(p) || !ok {
				return "" // the default depends on a preset we cannot read
			}
			def = pr.timeout
		}
	case strings.HasPrefix(path, "filters["):
		def = defaultFilter().Timeout
	case strings.HasSuffix(path, ".retry.initial_interval"):
		def = defaultExporter().Retry.InitialInterval
	default:
		def = defaultExporter().Timeout
	}
	old := val.Value
	val.Value, val.Tag, val.Style = def.String(), "!!str", 0
	return fmt.Sprintf("%s: %s -> %s (must be > 0; reset to its default)", path, old, def)
}

func fixEndpoint(root *yamlv3.Node, exp string) string {
	_, _, typ := lookup(root, exp+".type")
	_, _, ep := lookup(root, exp+".endpoint")
	if !literal(typ) || typ.Value != "otlp" || !literal(ep) {
		return ""
	}
	u, err := url.Parse(ep.Value)
	if err != nil || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "" // not host:port with a scheme in front: no safe reading
	}
	_, _, exNode := lookup(root, exp)
	_, _, tlsNode := lookup(root, exp+".tls")
	insecure, insecureSet := false, false
	otherTLS := false
	if tlsNode != nil {
		if tlsNode.Kind != yamlv3.MappingNode {
			return ""
		}
		for i := 0; i+1 < len(tlsNode.Content); i += 2 {
			k, v := tlsNode.Content[i], tlsNode.Content[i+1]
			if k.Value != "insecure" {
				otherTLS = true
				continue
			}
			b, err := strconv.ParseBool(v.Value)
			if !literal(v) || err != nil {
				return ""
			}
			insecure, insecureSet = b, true
		}
	}
	hostPort := u.Host
	quoted := strconv.Quote(ep.Value)
	switch {
	case u.Scheme == "https" && !insecure:
		ep.Value = hostPort
		return fmt.Sprintf("%s.endpoint: %s -> %q (otlp takes host:port; TLS stays on, as https:// said)", exp, quoted, hostPort)
	case u.Scheme == "http" && insecure:
		ep.Value = hostPort
		return fmt.Sprintf("%s.endpoint: %s -> %q (otlp takes host:port; TLS stays off, as tls.insecure says)", exp, quoted, hostPort)
	case u.Scheme == "http" && !insecureSet && !otherTLS:
		ep.Value = hostPort
		t := []*yamlv3.Node{{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: "insecure"}, {Kind: yamlv3.ScalarNode, Tag: "!!bool", Value: "true"}}
		if tlsNode != nil {
			tlsNode.Content = append(tlsNode.Content, t...)
		} else {
			exNode.Content = append(exNode.Content,
				&yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: "tls"},
				&yamlv3.Node{Kind: yamlv3.MappingNode, Style: yamlv3.FlowStyle, Content: t})
		}
		return fmt.Sprintf("%s.endpoint: %s -> %q, and %s.tls.insecure: true (otlp takes host:port; http:// asked for plaintext)", exp, quoted, hostPort, exp)
	}
	return ""
}

// literal reports whether n is a scalar written out, not an ${env:...}
// reference (whose value belongs to the environment, not the file).
func literal(n *yamlv3.Node) bool {
	return n != nil && n.Kind == yamlv3.ScalarNode && !strings.Contains(n.Value, "${")
}

// pathSegment matches one step of a key path: a key, then any [index].
var pathSegment = regexp.MustCompile(`^([^.\[\]]+)((?:\[\d+\])*)$`)

// lookup finds path ("exporters[0].tls.ca_file") in the mapping root:
// the node holding the last key, the key and its value. A step through
// an alias, or a path that is not there, gives nils.
func lookup(root *yamlv3.Node, path string) (parent, key, val *yamlv3.Node) {
	n := root
	for seg := range strings.SplitSeq(path, ".") {
		m := pathSegment.FindStringSubmatch(seg)
		if m == nil || n == nil || n.Kind != yamlv3.MappingNode {
			return nil, nil, nil
		}
		parent, key, val = n, nil, nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Kind == yamlv3.ScalarNode && n.Content[i].Value == m[1] {
				key, val = n.Content[i], n.Content[i+1]
			}
		}
		if val == nil {
			return nil, nil, nil
		}
		for idx := range strings.SplitSeq(strings.Trim(m[2], "[]"), "][") {
			if idx == "" {
				continue
			}
			i, _ := strconv.Atoi(idx)
			if val.Kind != yamlv3.SequenceNode || i >= len(val.Content) {
				return nil, nil, nil
			}
			parent, key, val = val, nil, val.Content[i]
		}
		if val.Kind == yamlv3.AliasNode {
			return nil, nil, nil
		}
		n = val
	}
	return parent, key, val
}
