package receiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/grpczstd"
	"github.com/otlpgw/otlpgw/gateway/internal/gwerr"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
)

// DefaultMaxRequestBodySize is used when the config leaves
// max_request_body_size at zero: 16 MiB, as in the contract's defaults.
const DefaultMaxRequestBodySize = 16 << 20

// HTTP server timeouts. They are not config knobs: they only bound
// misbehaving clients, and a body of max_request_body_size at a slow
// client's pace still fits.
const (
	// httpReadHeaderTimeout bounds slow-loris header trickling.
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout bounds reading one whole request, body included.
	httpReadTimeout = time.Minute
	// httpWriteTimeout bounds the whole handler, Consume included (which may
	// wait up to queue.block_timeout), plus writing the response.
	httpWriteTimeout = time.Minute
	// httpIdleTimeout closes keep-alive connections nobody uses.
	httpIdleTimeout = 2 * time.Minute
	// httpMaxHeaderBytes caps request headers.
	httpMaxHeaderBytes = 1 << 20
)

// maxPooledBuffer is the largest body buffer kept for reuse: bigger ones are
// rare and would pin their memory in the pool.
const maxPooledBuffer = 4 << 20

// bodyBuffers holds *[]byte buffers for reading compressed or JSON bodies.
// They are never handed to a consumer (see the package doc on ownership).
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// gzipReaders holds gzip readers; each owns a 32 KiB window.
var gzipReaders sync.Pool

// zstdCompressor is the shared grpc-go zstd compressor; its pooled
// streaming decoders serve HTTP bodies too.
var zstdCompressor = encoding.GetCompressor(grpczstd.Name)

// errTooLarge marks a body past max_request_body_size, compressed or not.
var errTooLarge = errors.New("request body too large")

// HTTP is the OTLP/HTTP receiver: POST /v1/traces, /v1/metrics and /v1/logs
// with application/x-protobuf or application/json bodies, identity, gzip,
// zstd, deflate (zlib), snappy or x-snappy-framed encoded (see
// parseContentEncoding), answering CORS preflights when cors is set.
//
// Anything else in Content-Encoding (br, a list of codings) is
// answered 415, as RFC 9110 §15.5.16 prescribes for an unsupported content
// coding. The body limit applies to the bytes on the wire and, separately,
// to the bytes after decompression; decompression stops the moment the
// limit is passed, so a decompression bomb costs about the limit in memory.
type HTTP struct {
	cfg      config.HTTPReceiver
	log      *slog.Logger
	consumer atomic.Pointer[consumerBox]
	metrics  transportMetrics
	limit    int64
	srv      *http.Server
	auth     *authenticator // nil: no authentication
	cors     *cors          // nil: CORS off
	// initErr is why the receiver cannot serve (its TLS files did not
	// load); Start and Serve return it.
	initErr error
	// inflight is read-held by every request being handled; Shutdown takes
	// it for writing to wait until none is left.
	inflight sync.RWMutex

	mu    sync.Mutex
	state int
	ln    net.Listener
	done  chan struct{} // closed when the serve goroutine returns
}

// NewHTTP builds an OTLP/HTTP receiver that hands requests to consumer. It
// does not listen until Start or Serve. A zero cfg.MaxRequestBodySize means
// DefaultMaxRequestBodySize. consumer must not be nil.
func NewHTTP(cfg config.HTTPReceiver, consumer pipeline.Consumer, set Settings) *HTTP {
	set = set.withDefaults()
	box := newConsumerBox(consumer)
	limit := int64(cfg.MaxRequestBodySize)
	if limit <= 0 {
		limit = DefaultMaxRequestBodySize
	}
	h := &HTTP{
		cfg:     cfg,
		log:     set.Logger.With("receiver", "otlp", "transport", transportHTTP),
		metrics: newTransportMetrics(set.Metrics, transportHTTP, httpCodes, httpCodeLabel),
		limit:   limit,
	}
	h.consumer.Store(box)
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	h.auth = newAuthenticator(cfg.Auth)
	h.cors = newCORS(cfg.CORS)
	if tc, err := loadTLS(cfg.TLS, h.log); err != nil {
		h.initErr = fmt.Errorf("http receiver: %w", err)
	} else {
		h.srv.TLSConfig = tc
	}
	return h
}

// SetConsumer switches the receiver to consumer for every request that
// starts after it returns; requests already in Consume finish with the old
// one. consumer must not be nil.
func (h *HTTP) SetConsumer(consumer pipeline.Consumer) {
	h.consumer.Store(newConsumerBox(consumer))
}

// Start listens on cfg.Endpoint and serves in the background. A bind
// failure is returned.
func (h *HTTP) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", h.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("http receiver: listen on %q: %w", h.cfg.Endpoint, err)
	}
	if err := h.Serve(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// Serve serves on ln, already bound (for example handed over by the previous
// generation on reload), in the background, and returns at once. The
// receiver owns ln from then on: Shutdown closes it.
func (h *HTTP) Serve(ln net.Listener) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.initErr != nil {
		return h.initErr
	}
	switch h.state {
	case stateServing:
		return fmt.Errorf("http receiver: %w", ErrStarted)
	case stateShutdown:
		return fmt.Errorf("http receiver: %w", ErrShutdown)
	}
	h.state = stateServing
	h.ln = ln
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		serve := h.srv.Serve
		if h.srv.TLSConfig != nil {
			serve = func(ln net.Listener) error { return h.srv.ServeTLS(ln, "", "") } // the certificate comes from TLSConfig
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("serving stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return nil
}

// Addr is the address being served, or nil before Start/Serve.
func (h *HTTP) Addr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return nil
	}
	return h.ln.Addr()
}

// Shutdown stops accepting connections and waits for requests in flight to
// finish. When ctx ends first, it closes the remaining connections (which
// cancels their requests' contexts) and returns ctx's error. Either way it
// returns only once no handler is left running, so no Consume call outlives
// the receiver. Safe to call without Start and more than once.
func (h *HTTP) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.state = stateShutdown
	done := h.done
	h.mu.Unlock()

	var err error
	if serr := h.srv.Shutdown(ctx); serr != nil {
		_ = h.srv.Close()
		err = fmt.Errorf("http receiver: shutdown: requests still in flight were cut off: %w", serr)
	}
	if done != nil {
		<-done
	}
	h.inflight.Lock()
	//lint:ignore SA2001 the empty critical section is the point: it waits for handlers.
	h.inflight.Unlock()
	return err
}

// parseContentType reports whether the media type is JSON (true) or
// protobuf (false); parameters such as charset are ignored. Hand-rolled
// because mime.ParseMediaType allocates a map per call.
func parseContentType(v string) (isJSON, ok bool) {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	switch {
	case strings.EqualFold(v, ctProtobuf):
		return false, true
	case strings.EqualFold(v, ctJSON):
		return true, true
	}
	return false, false
}

func pathSignal(p string) (otlpwire.Signal, bool) {
	switch p {
	case "/v1/traces":
		return otlpwire.Traces, true
	case "/v1/metrics":
		return otlpwire.Metrics, true
	case "/v1/logs":
		return otlpwire.Logs, true
	}
	return 0, false
}

// ServeHTTP answers one OTLP/HTTP request. HTTP is an http.Handler so it can
// be mounted elsewhere or driven directly in tests.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.RLock()
	defer h.inflight.RUnlock()
	// A JSON-looking request gets JSON errors even before its content type
	// has been validated.
	isJSON, ctOK := parseContentType(r.Header.Get("Content-Type"))
	sig, ok := pathSignal(r.URL.Path)
	if !ok {
		writeHTTPStatus(w, http.StatusNotFound, codes.Unimplemented, "unknown path "+r.URL.Path+" (want /v1/traces, /v1/metrics or /v1/logs)", isJSON)
		return
	}
	// Before authentication: a browser's preflight never carries
	// credentials, and a refusal needs the CORS headers for the page to
	// read it.
	if h.cors != nil && h.cors.handle(w, r) {
		return
	}
	m := &h.metrics[sig]
	if h.auth != nil {
		if err := h.auth.check(r.Header.Get("Authorization")); err != nil {
			h.refuse(w, m, sig, err, 0, isJSON)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, m, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed (want POST)", isJSON)
		return
	}
	if !ctOK {
		h.reject(w, m, http.StatusUnsupportedMediaType, "unsupported content type "+r.Header.Get("Content-Type")+" (want application/x-protobuf or application/json)", false)
		return
	}
	enc, ok := parseContentEncoding(r.Header.Get("Content-Encoding"))
	if !ok {
		h.reject(w, m, http.StatusUnsupportedMediaType, "unsupported content encoding "+r.Header.Get("Content-Encoding")+" (want "+supportedEncodings+")", isJSON)
		return
	}

	box := h.consumer.Load()
	if box.admit != nil {
		if err := box.admit.Admit(sig); err != nil {
			h.refuse(w, m, sig, err, 0, isJSON)
			return
		}
	}
	if r.ContentLength > h.limit {
		h.refuse(w, m, sig, tooLarge(r.ContentLength, h.limit), 0, isJSON)
		return
	}

	req, err := h.readRequest(r, sig, enc, isJSON)
	if err != nil {
		h.refuse(w, m, sig, err, 0, isJSON)
		return
	}
	out, err := box.c.Consume(r.Context(), sig, req)
	if err != nil {
		h.refuse(w, m, sig, err, out.Rejected, isJSON)
		return
	}
	m.accepted.Add(float64(out.Accepted + out.Rejected))
	m.request(http.StatusOK, httpCodeLabel)
	var body []byte
	if isJSON {
		w.Header()["Content-Type"] = hdrJSON
		body = otlpwire.EncodeExportResponseJSON(sig, out.Rejected, out.Message)
	} else {
		w.Header()["Content-Type"] = hdrProtobuf
		body = otlpwire.EncodeExportResponse(sig, out.Rejected, out.Message, nil)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func tooLarge(n, limit int64) error {
	if n > 0 {
		return gwerr.New(gwerr.TooLarge, "request body of %d bytes is over the limit of %d bytes", n, limit)
	}
	return gwerr.New(gwerr.TooLarge, "request body is over the limit of %d bytes (compressed or decompressed)", limit)
}

// readRequest reads the body and returns the encoded protobuf request, in a
// slice the consumer may keep.
func (h *HTTP) readRequest(r *http.Request, sig otlpwire.Signal, enc bodyEncoding, isJSON bool) ([]byte, error) {
	// Fast path, the common case for SDK exporters sending uncompressed
	// protobuf: read straight into an exact-size slice that becomes the
	// consumer's, no pool and no second copy. net/http already guarantees
	// the body is no longer than Content-Length.
	if enc == encIdentity && !isJSON && r.ContentLength >= 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, gwerr.Wrap(gwerr.Invalid, err, "reading request body")
		}
		return b, nil
	}

	bp := bodyBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			*bp = (*bp)[:0]
			bodyBuffers.Put(bp)
		}
	}()
	if enc == encIdentity && r.ContentLength >= 0 && cap(*bp) <= int(r.ContentLength) {
		// One allocation of the right size (and a byte to see EOF in)
		// instead of growing up to it.
		*bp = make([]byte, 0, min(r.ContentLength+1, h.limit))
	}
	body, err := h.readBody(*bp, r.Body, enc)
	*bp = body[:0]
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, tooLarge(0, h.limit)
		}
		return nil, gwerr.Wrap(gwerr.Invalid, err, "reading request body")
	}
	if isJSON {
		pb, err := otlpwire.JSONToProto(sig, body)
		if err != nil {
			var ge *gwerr.Error
			if errors.As(err, &ge) {
				return nil, err
			}
			return nil, gwerr.Wrap(gwerr.Invalid, err, "decoding OTLP/JSON")
		}
		return pb, nil
	}
	// The pooled buffer goes back to the pool: the consumer gets its own copy.
	return bytes.Clone(body), nil
}

// readBody reads the whole body into buf (from its length on), decompressing
// it, and fails with errTooLarge as soon as either the compressed or the
// decompressed size passes the limit. It returns buf, grown.
func (h *HTTP) readBody(buf []byte, body io.Reader, enc bodyEncoding) ([]byte, error) {
	src := io.Reader(&limitedReader{r: body, n: h.limit})
	switch enc {
	case encGzip:
		zr, err := getGzipReader(src)
		if err != nil {
			return buf, fmt.Errorf("gzip: %w", err)
		}
		defer putGzipReader(zr)
		src = &limitedReader{r: zr, n: h.limit}
	case encZstd:
		zr, err := zstdCompressor.Decompress(src)
		if err != nil {
			return buf, fmt.Errorf("zstd: %w", err)
		}
		if c, ok := zr.(io.Closer); ok {
			defer c.Close() // hands the pooled decoder back
		}
		src = &limitedReader{r: zr, n: h.limit}
	case encZlib:
		zr, err := getZlibReader(src)
		if err != nil {
			return buf, fmt.Errorf("deflate: %w", err)
		}
		defer putZlibReader(zr)
		src = &limitedReader{r: zr, n: h.limit}
	case encSnappy:
		return h.readSnappy(buf, src)
	case encSnappyFramed:
		sr := getSnappyReader(src)
		defer putSnappyReader(sr)
		src = &limitedReader{r: sr, n: h.limit}
	}
	buf, err := readAll(buf, src, h.limit)
	if err != nil && enc != encIdentity && !errors.Is(err, errTooLarge) {
		return buf, fmt.Errorf("decompressing: %w", err)
	}
	return buf, err
}

// readAll appends everything r yields to buf. Growth doubles from 64 KiB
// but never past limit (r, a limitedReader, cannot yield more), so the
// largest body costs about 2x the limit in allocations, not 4x as with
// bytes.Buffer rounding up past it.
func readAll(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	const minGrow = 64 << 10
	zeroReads := 0
	for {
		if len(buf) == cap(buf) && int64(cap(buf)) < limit {
			newCap := min(max(2*cap(buf), minGrow), int(limit))
			grown := make([]byte, len(buf), newCap)
			copy(grown, buf)
			buf = grown
		}
		// At the limit this reads into an empty slice: the limitedReader
		// then probes for one more byte and reports errTooLarge or EOF.
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		case n == 0:
			if zeroReads++; zeroReads > 100 {
				return buf, io.ErrNoProgress
			}
		default:
			zeroReads = 0
		}
	}
}

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

func putGzipReader(zr *gzip.Reader) {
	// Point it at an empty reader so the pool does not pin the request.
	_ = zr.Reset(emptyGzip{})
	gzipReaders.Put(zr)
}

// emptyGzip is a reader with nothing in it; Reset on it fails harmlessly
// and drops the reference to the previous source.
type emptyGzip struct{}

func (emptyGzip) Read([]byte) (int, error) { return 0, io.EOF }

// limitedReader reads at most n bytes from r and fails with errTooLarge if
// r has more, where io.LimitReader would report a silent EOF (which a
// decompressor would take for a truncated stream).
type limitedReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: any further byte means the body is too large.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// reject answers a request the receiver refuses before reading it (wrong
// method or content type).
func (h *HTTP) reject(w http.ResponseWriter, m *signalMetrics, code int, msg string, isJSON bool) {
	// Counted before answering, so a client that has its answer sees it counted.
	m.request(code, httpCodeLabel)
	m.refuse(gwerr.Invalid, 0)
	writeHTTPStatus(w, code, codes.Unimplemented, msg, isJSON)
}

// refuse counts a refusal and answers it.
func (h *HTTP) refuse(w http.ResponseWriter, m *signalMetrics, sig otlpwire.Signal, err error, items int64, isJSON bool) {
	r := classify(err)
	if r.kind == gwerr.Internal {
		h.log.Error("export failed", "signal", sig.String(), "error", err)
	}
	m.request(httpCode(r.kind), httpCodeLabel)
	m.refuse(r.kind, items)
	writeHTTPRefusal(w, r, isJSON)
}
