package servertls

import (
	"crypto/x509"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/testpki"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A renewed certificate is served without a restart; one that does not
// load leaves the previous in service.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := testpki.New(t, dir, "first")
	r := &certReloader{certFile: first.CertFile, keyFile: first.KeyFile, log: discardLog(), every: 0}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		t.Helper()
		c, err := r.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("serving %q, want first", got)
	}
	testpki.New(t, dir, "second") // overwrites the same two files
	later := time.Now().Add(time.Minute)
	for _, f := range []string{first.CertFile, first.KeyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := cn(); got != "second" {
		t.Errorf("after renewal serving %q, want second", got)
	}
	if err := os.WriteFile(first.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	evenLater := later.Add(time.Minute)
	if err := os.Chtimes(first.KeyFile, evenLater, evenLater); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Errorf("after a broken renewal serving %q, want still second", got)
	}
}
