package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// FuzzHealthcheckAnswer serves arbitrary /readyz answers (status and
// body) over loopback to `otlpgw healthcheck`. It must exit 0 exactly for
// a 200; otherwise it prints one line to stderr that is valid UTF-8 when
// the body was, keeps at most 200 bytes of the body, and prints nothing
// to stdout.
func FuzzHealthcheckAnswer(f *testing.F) {
	f.Add(uint16(200), []byte(`{"status":"ready","detail":{}}`))
	f.Add(uint16(503), []byte("{\n  \"status\": \"not_ready\",\n  \"detail\": {\"exporters\": \"otlp: connecting\"}\n}\n"))
	f.Add(uint16(401), []byte(`{"error":"missing credentials"}`))
	f.Add(uint16(500), append([]byte("x"), bytes.Repeat([]byte("é"), 150)...))
	f.Add(uint16(299), []byte("\r\n\t\x00\x1b[31mred"))
	f.Add(uint16(204), []byte(nil))
	f.Add(uint16(599), bytes.Repeat([]byte("x"), 8192))

	var mu sync.Mutex
	var code int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		c, b := code, body
		mu.Unlock()
		w.WriteHeader(c)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)

	f.Fuzz(func(t *testing.T, status uint16, b []byte) {
		// net/http writes only three-digit codes; 1xx are interim answers.
		c := 200 + int(status)%800
		mu.Lock()
		code, body = c, b
		mu.Unlock()
		var stdout, stderr bytes.Buffer
		exit := healthcheckCmd([]string{"--url", srv.URL, "--timeout", "30s"}, &stdout, &stderr)
		if (exit == exitOK) != (c == 200) {
			t.Fatalf("status %d: exit %d, stderr %q", c, exit, stderr.String())
		}
		if c == 200 {
			return
		}
		line := stderr.String()
		if stdout.Len() != 0 || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || strings.ContainsAny(line, "\r") {
			t.Fatalf("status %d: stdout %q, stderr %q: want one line on stderr only", c, stdout.String(), line)
		}
		if utf8.Valid(b) && !utf8.ValidString(line) {
			t.Fatalf("status %d: body is valid UTF-8, stderr %q is not", c, line)
		}
		if hint := bodyHint(b); len(hint) > len(": ")+200+len("...") {
			t.Fatalf("hint is %d bytes: %q", len(hint), hint)
		}
	})
}
