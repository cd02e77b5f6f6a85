package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// maxResponseBody caps how much of an upstream answer is read: an export
// response or a google.rpc.Status is small, and a misbehaving upstream
// must not make the exporter buffer without limit.
const maxResponseBody = 1 << 20

// httpIdleConnTimeout closes a pooled connection unused this long, well
// before the idle timeouts of common NATs and load balancers (350s for AWS
// NAT gateways, 4 minutes for Azure), after which they drop the flow
// silently.
const httpIdleConnTimeout = 60 * time.Second

// httpPaths are the OTLP/HTTP paths appended to the endpoint, by signal.
var httpPaths = [otlpwire.NumSignals]string{
	otlpwire.Traces:  "/v1/traces",
	otlpwire.Metrics: "/v1/metrics",
	otlpwire.Logs:    "/v1/logs",
}

// httpSender is the `otlphttp` exporter. Its endpoint is a base URL such
// as http://collector:4318 (a bare host:port gets http:// when tls is
// insecure, https:// otherwise); the signal's path /v1/traces, /v1/metrics
// or /v1/logs is appended. Requests are protobuf, compressed per the
// config, over one client whose idle pool keeps a connection per worker.
type httpSender struct {
	client   *http.Client
	urls     [otlpwire.NumSignals]string
	headers  map[string]string
	encoding string // "", "gzip" or "zstd"
	timeout  time.Duration
	// malformed counts answers that were not what OTLP/HTTP promises.
	malformed *malformedCounters
}

func newHTTPSender(cfg config.Exporter, workers int, malformed *malformedCounters) (*httpSender, error) {
	tc, err := clientTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	s := &httpSender{headers: cfg.Headers, timeout: cfg.Timeout, malformed: malformed}
	switch cfg.Compression {
	case "", "none":
	case "gzip", "zstd":
		s.encoding = cfg.Compression
	default:
		return nil, fmt.Errorf("compression: unknown %q (want none, gzip or zstd)", cfg.Compression)
	}
	base := strings.TrimRight(cfg.Endpoint, "/")
	if !strings.Contains(base, "://") {
		if cfg.TLS.Insecure {
			base = "http://" + base
		} else {
			base = "https://" + base
		}
	}
	for _, sig := range otlpwire.Signals {
		s.urls[sig] = base + httpPaths[sig]
	}
	if _, err := http.NewRequest(http.MethodPost, s.urls[otlpwire.Traces], http.NoBody); err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = max(workers, 2)
	tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	tr.ForceAttemptHTTP2 = true
	// A connection to an upstream that vanished without a reset (a NAT
	// or load balancer that dropped the flow) must not hold requests:
	// idle connections are closed before common NAT idle timeouts expire;
	// an answer that has not begun within the attempt timeout fails the
	// attempt; and HTTP/2 pings a silent connection and closes it when
	// the ping goes unanswered. Without the pings, Go keeps sending new
	// requests into a dead HTTP/2 connection until as many have timed
	// out as the server allows concurrent streams (250 for Go servers).
	ka := keepaliveOf(cfg)
	tr.IdleConnTimeout = httpIdleConnTimeout
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: ka.Time, PingTimeout: ka.Timeout}
	s.client = &http.Client{Transport: tr}
	return s, nil
}

// Send makes one POST. 2xx carries an optional partial success; 429, 502,
// 503 and 504 are retryable (honouring Retry-After), as are failures to
// connect or to get an answer in time; other statuses are permanent.
func (s *httpSender) Send(ctx context.Context, sig otlpwire.Signal, req []byte, _ int) (Partial, error) {
	parent := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	payload := req
	var compressed *[]byte
	if s.encoding != "" {
		compressed = getBuf(len(req)/2 + 64)
		var err error
		if *compressed, err = compress(s.encoding, (*compressed)[:0], req); err != nil {
			putBuf(compressed)
			return Partial{}, fmt.Errorf("export %s: %s: %w", sig, s.encoding, err)
		}
		payload = *compressed
	}
	body := newSentBody(payload)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[sig], body)
	if err != nil {
		body.Close()
		return Partial{}, fmt.Errorf("export %s: %w", sig, err)
	}
	if len(payload) == 0 {
		hreq.Body = http.NoBody
		body.Close()
	}
	hreq.ContentLength = int64(len(payload))
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("User-Agent", "otlpgw")
	if s.encoding != "" {
		hreq.Header.Set("Content-Encoding", s.encoding)
	}
	for k, v := range s.headers {
		hreq.Header.Set(k, v)
	}

	p, err := s.do(hreq, sig, parent)
	// The transport may read the body after Do returns (an early answer);
	// it always closes it once done, and only then may the bytes be reused.
	<-body.closed
	if compressed != nil {
		putBuf(compressed)
	}
	return p, err
}

func (s *httpSender) do(hreq *http.Request, sig otlpwire.Signal, parent context.Context) (Partial, error) {
	url := hreq.URL.String()
	resp, err := s.client.Do(hreq)
	if err != nil {
		err = fmt.Errorf("export %s to %s: %w", sig, url, err)
		if parent.Err() != nil {
			return Partial{}, err
		}
		if hreq.Context().Err() != nil {
			// The attempt timed out. Its connection may be dead without
			// knowing it, and so may the idle ones, which went the same
			// way: close them, so the retry dials instead of spending
			// another attempt timeout on each. (HTTP/1.1 closes the timed
			// out connection itself; HTTP/2 resets only the stream.)
			s.client.CloseIdleConnections()
		}
		return Partial{}, Retryable(err, 0)
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()

	// OTLP/HTTP answers in the request's encoding, protobuf here. A body
	// in anything else (an HTML page from a proxy, JSON) is not read as
	// protobuf: bytes of another format can decode as a partial_success
	// that was never sent. An answer with no Content-Type is tried.
	notProto := len(data) > 0 && !isProtobuf(resp.Header.Get("Content-Type"))
	if notProto {
		s.malformed.inc(malformedContentType)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// A 2xx says the upstream took the request, whatever the body
		// says or fails to say: retrying would duplicate it.
		if notProto {
			return Partial{Message: "export response is " + strconv.Quote(resp.Header.Get("Content-Type")) + ", not protobuf"}, nil
		}
		if rerr != nil {
			s.malformed.inc(malformedBody)
			return Partial{Message: "unreadable export response: " + rerr.Error()}, nil
		}
		rejected, msg, err := otlpwire.DecodeExportResponse(data)
		if err != nil {
			s.malformed.inc(malformedBody)
			return Partial{Message: "unreadable export response: " + err.Error()}, nil
		}
		return Partial{Rejected: rejected, Message: msg}, nil
	}
	msg := quotedPrefix(data)
	if !notProto {
		msg = statusMessage(data)
	}
	err = fmt.Errorf("export %s to %s: %w", sig, url, &httpStatusError{code: resp.StatusCode, msg: msg})
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		after, bad := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if bad {
			s.malformed.inc(malformedRetryDelay)
		}
		return Partial{}, Retryable(err, after)
	}
	return Partial{}, err
}

// isProtobuf reports whether an answer's Content-Type is protobuf, or
// absent (then the body is tried as protobuf).
func isProtobuf(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/x-protobuf") || strings.EqualFold(mt, "application/protobuf")
}

func (s *httpSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// httpStatusError is an upstream's non-2xx answer, kept typed so that
// diagnose can tell a 401 from a 500 without reading the message.
type httpStatusError struct {
	code int
	msg  string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// statusMessage is the message of a google.rpc.Status error body (the OTLP
// error format), or a quoted prefix of whatever else the upstream sent.
func statusMessage(body []byte) string {
	var st spb.Status
	if len(body) > 0 && proto.Unmarshal(body, &st) == nil && st.GetMessage() != "" {
		return st.GetMessage()
	}
	return quotedPrefix(body)
}

// quotedPrefix is the start of an error body as printable text.
func quotedPrefix(body []byte) string {
	const keep = 256
	if len(body) > keep {
		body = body[:keep]
	}
	if len(body) == 0 {
		return "(no body)"
	}
	return strconv.Quote(string(body))
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date,
// bounded by boundUpstreamDelay; 0 when absent, malformed or in the past.
// bad reports a value that is not a delay or a date, a negative delay, or
// one over maxUpstreamDelay (clamped to it).
func parseRetryAfter(v string, now time.Time) (delay time.Duration, bad bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	// ParseInt reports ErrRange as soon as the digits overflow, before it
	// looks at the rest, so only a value that is all digits may take the
	// ErrRange branch ("18700000000000000000A" is malformed, not huge).
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) && allDigits(strings.TrimLeft(v, "+-")) {
		// Compare in seconds: multiplying first could overflow into a
		// plausible-looking delay. ErrRange leaves secs at ±MaxInt64.
		switch {
		case secs < 0:
			return 0, true
		case secs > int64(maxUpstreamDelay/time.Second):
			return maxUpstreamDelay, true
		}
		return time.Duration(secs) * time.Second, false
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0, false // a moment already past: retry on our own schedule
		}
		return boundUpstreamDelay(d)
	}
	return 0, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// sentBody is a request body that tells when the transport is done with it.
type sentBody struct {
	r      bytes.Reader
	closed chan struct{}
	once   sync.Once
}

func newSentBody(b []byte) *sentBody {
	sb := &sentBody{closed: make(chan struct{})}
	sb.r.Reset(b)
	return sb
}

func (b *sentBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// zstdEncoder is shared: EncodeAll is safe for concurrent use and keeps
// its own pool of encoder states. Built on first use; it starts no
// goroutines for EncodeAll.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
})

// compress appends the encoding of src to dst.
func compress(encoding string, dst, src []byte) ([]byte, error) {
	switch encoding {
	case "gzip":
		w := gzipWriters.Get().(*gzip.Writer)
		out := appendWriter{b: dst}
		w.Reset(&out)
		_, err := w.Write(src)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		w.Reset(io.Discard) // drop the reference to dst
		gzipWriters.Put(w)
		return out.b, err
	case "zstd":
		enc, err := zstdEncoder()
		if err != nil {
			return dst, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return append(dst, src...), nil
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
