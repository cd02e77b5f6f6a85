package exporter

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// hinter turns a failed diagnosis step into what to change. Where an
// error alone cannot tell the cause (a TLS handshake that ends in EOF, a
// gRPC call that gets garbage), it asks the server one more question: a
// plaintext HTTP/1.1 or HTTP/2 greeting, or a TLS handshake without
// verification. Those probes run only after a failure, never on the
// gateway's own path.
type hinter struct {
	ctx     context.Context
	cfg     config.Exporter
	host    string
	addr    string // the resolved address dialled
	secure  bool
	timeout time.Duration
}

// probeTimeout bounds each extra probe: a server that speaks the probed
// protocol answers at once.
const probeTimeout = 2 * time.Second

func (h *hinter) hint(step string, err error) string {
	if err == nil {
		return ""
	}
	switch step {
	case "dns":
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			what := "does not resolve"
			if dnsErr.IsTimeout {
				what = "did not resolve in time"
			}
			return fmt.Sprintf("the name %q (endpoint %q) %s: check its spelling and the resolver the gateway uses (in Kubernetes a Service is NAME.NAMESPACE.svc)", dnsErr.Name, h.cfg.Endpoint, what)
		}
		return ""
	case "tcp":
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Sprintf("nothing listens on %s: check the port (OTLP: 4317 for gRPC, 4318 for HTTP) and that the upstream is running", h.addr)
		case isTimeout(err):
			return fmt.Sprintf("no answer from %s within %s: a firewall or NetworkPolicy may drop the connection", h.addr, h.timeout)
		}
		return ""
	case "tls":
		return h.tlsHint(err)
	}
	// health, reach, export: the server took the connection but not the
	// request.
	if code, ok := authFailure(err); ok {
		return fmt.Sprintf("the upstream refused the credentials (%s): check the exporter's headers (e.g. authorization: Bearer <token>) and that the token is current and may write", code)
	}
	if !h.secure && h.speaksTLS() {
		if h.cfg.Type == "otlp" {
			return fmt.Sprintf("%s speaks TLS but the exporter sends plaintext: remove tls.insecure (and set tls.ca_file if its CA is private)", h.addr)
		}
		return fmt.Sprintf("%s speaks TLS but the endpoint is http://: use https:// (and set tls.ca_file if its CA is private)", h.addr)
	}
	switch h.cfg.Type {
	case "otlp":
		if h.speaksHTTP1(h.secure) {
			return fmt.Sprintf("%s answers HTTP/1.1, not gRPC: it looks like an OTLP/HTTP port (usually 4318); use the upstream's gRPC port (usually 4317), or type: otlphttp", h.addr)
		}
	case "otlphttp":
		if !h.secure && h.speaksOnlyHTTP2() {
			return fmt.Sprintf("%s answers only HTTP/2, as a gRPC server does: it looks like an OTLP/gRPC port (usually 4317); use the upstream's HTTP port (usually 4318), or type: otlp", h.addr)
		}
	}
	return ""
}

func (h *hinter) tlsHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return "the server's certificate is not signed by a CA the gateway trusts: set tls.ca_file to the upstream's CA (PEM)"
	case errors.As(err, &badName):
		return fmt.Sprintf("the server's certificate is not valid for %q: use a name the certificate holds in the endpoint, or set tls.server_name", badName.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server's certificate has expired (or the gateway's clock is wrong): renew it on the upstream"
	}
	// A plaintext HTTP/1 server answers the ClientHello with an HTTP
	// error (a record header that is not TLS); a gRPC server just hangs
	// up, so ask it in plaintext.
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) || h.speaksHTTP1(false) || h.speaksOnlyHTTP2() {
		if h.cfg.Type == "otlp" {
			return fmt.Sprintf("%s answers in plaintext, not TLS: set tls.insecure: true on this exporter, or turn TLS on at the upstream", h.addr)
		}
		return fmt.Sprintf("%s answers in plaintext, not TLS: use an http:// endpoint, or turn TLS on at the upstream", h.addr)
	}
	return ""
}

// authFailure reports an HTTP 401/403 or a gRPC UNAUTHENTICATED or
// PERMISSION_DENIED, named as the upstream answered it.
func authFailure(err error) (string, bool) {
	var hs *httpStatusError
	if errors.As(err, &hs) && (hs.code == 401 || hs.code == 403) {
		return fmt.Sprintf("HTTP %d", hs.code), true
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unauthenticated:
			return "gRPC UNAUTHENTICATED", true
		case codes.PermissionDenied:
			return "gRPC PERMISSION_DENIED", true
		}
	}
	return "", false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (h *hinter) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: probeTimeout}
	conn, err := d.DialContext(h.ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	return conn, nil
}

// speaksTLS reports whether a TLS handshake with the server completes
// (without verifying its certificate: only the protocol is in question).
func (h *hinter) speaksTLS() bool {
	conn, err := h.dial()
	if err != nil {
		return false
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: h.host, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) // only the protocol is in question
	return tc.HandshakeContext(h.ctx) == nil
}

// speaksHTTP1 reports whether the server answers an HTTP/1.1 request
// with HTTP/1.x, in plaintext or over TLS.
func (h *hinter) speaksHTTP1(overTLS bool) bool {
	conn, err := h.dial()
	if err != nil {
		return false
	}
	defer conn.Close()
	var rw io.ReadWriter = conn
	if overTLS {
		tc := tls.Client(conn, &tls.Config{ServerName: h.host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) // only the protocol is in question
		if tc.HandshakeContext(h.ctx) != nil {
			return false
		}
		rw = tc
	}
	if _, err := io.WriteString(rw, "GET / HTTP/1.1\r\nHost: "+h.host+"\r\nConnection: close\r\n\r\n"); err != nil {
		return false
	}
	line, _ := bufio.NewReader(rw).ReadString('\n')
	return strings.HasPrefix(line, "HTTP/1.")
}

// speaksOnlyHTTP2 reports whether the server answers the HTTP/2 client
// preface with a SETTINGS frame in plaintext, as a gRPC server does; an
// HTTP/1.1 server answers it with an HTTP/1.1 error instead.
func (h *hinter) speaksOnlyHTTP2() bool {
	conn, err := h.dial()
	if err != nil {
		return false
	}
	defer conn.Close()
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	emptySettings := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0}
	if _, err := conn.Write(append([]byte(preface), emptySettings...)); err != nil {
		return false
	}
	hdr := make([]byte, 9)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return false
	}
	return hdr[3] == 0x4 && !bytes.HasPrefix(hdr, []byte("HTTP/"))
}
