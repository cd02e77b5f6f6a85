package receiver

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// cors answers CORS for the HTTP receiver (the Fetch standard's CORS
// protocol): preflights from allowed origins get the methods and headers
// they may use, and every response to an allowed origin names it in
// Access-Control-Allow-Origin, errors included, so a page can read why it
// was refused.
type cors struct {
	origins   []originPattern
	anyHeader bool
	headers   map[string]bool // lower case; always-allowed ones included
	allowHdrs []string        // Access-Control-Allow-Headers when !anyHeader
	maxAge    []string        // Access-Control-Max-Age, nil when unset
}

// originPattern is an allowed origin with at most one *: the origin must
// start with prefix and end with suffix (any, when the pattern is *).
type originPattern struct {
	prefix, suffix string
	wild           bool
}

// corsAlwaysAllowed are the request headers an OTLP exporter in a browser
// sends that are not CORS-safelisted for its content types.
var corsAlwaysAllowed = []string{"Accept", "Content-Type", "Content-Encoding", "Origin", "X-Requested-With"}

// newCORS returns nil when c allows no origin: CORS is off.
func newCORS(c config.CORS) *cors {
	if len(c.AllowedOrigins) == 0 {
		return nil
	}
	co := &cors{headers: map[string]bool{}}
	for _, o := range c.AllowedOrigins {
		o = strings.ToLower(o)
		p := originPattern{prefix: o}
		if before, after, ok := strings.Cut(o, "*"); ok {
			p = originPattern{prefix: before, suffix: after, wild: true}
		}
		co.origins = append(co.origins, p)
	}
	for _, hd := range append(append([]string(nil), corsAlwaysAllowed...), c.AllowedHeaders...) {
		if hd == "*" {
			co.anyHeader = true
			continue
		}
		if k := strings.ToLower(hd); !co.headers[k] {
			co.headers[k] = true
			co.allowHdrs = append(co.allowHdrs, http.CanonicalHeaderKey(hd))
		}
	}
	if c.MaxAge > 0 {
		co.maxAge = []string{strconv.Itoa(c.MaxAge)}
	}
	return co
}

func (c *cors) allowed(origin string) bool {
	o := strings.ToLower(origin)
	for _, p := range c.origins {
		if !p.wild {
			if o == p.prefix {
				return true
			}
			continue
		}
		if len(o) >= len(p.prefix)+len(p.suffix) && strings.HasPrefix(o, p.prefix) && strings.HasSuffix(o, p.suffix) {
			return true
		}
	}
	return false
}

var (
	hdrVaryOrigin   = []string{"Origin"}
	hdrAllowPost    = []string{http.MethodPost}
	hdrExposeHeader = []string{"Retry-After"}
)

// handle sets the CORS headers for r and reports whether it was a
// preflight, which it has then answered.
func (c *cors) handle(w http.ResponseWriter, r *http.Request) (answered bool) {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	// The answer depends on Origin, so caches must key on it.
	h["Vary"] = hdrVaryOrigin
	if origin == "" || !c.allowed(origin) {
		if preflight {
			// No Access-Control-Allow-* headers: the browser refuses
			// the page's request, which is the answer.
			w.WriteHeader(http.StatusNoContent)
		}
		return preflight
	}
	h["Access-Control-Allow-Origin"] = []string{origin}
	if !preflight {
		// A page may read Retry-After from a 503 and back off.
		h["Access-Control-Expose-Headers"] = hdrExposeHeader
		return false
	}
	h["Vary"] = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
	if !strings.EqualFold(r.Header.Get("Access-Control-Request-Method"), http.MethodPost) {
		delete(h, "Access-Control-Allow-Origin")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h["Access-Control-Allow-Methods"] = hdrAllowPost
	if c.anyHeader {
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h["Access-Control-Allow-Headers"] = []string{req}
		}
	} else {
		for _, want := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
			if want = strings.TrimSpace(want); want != "" && !c.headers[strings.ToLower(want)] {
				// A header the page may not send: refuse the preflight.
				delete(h, "Access-Control-Allow-Origin")
				delete(h, "Access-Control-Allow-Methods")
				w.WriteHeader(http.StatusNoContent)
				return true
			}
		}
		h["Access-Control-Allow-Headers"] = []string{strings.Join(c.allowHdrs, ", ")}
	}
	if c.maxAge != nil {
		h["Access-Control-Max-Age"] = c.maxAge
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
