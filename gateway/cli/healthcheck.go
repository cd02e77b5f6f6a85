package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// adminEndpointEnv is the variable the embedded default configuration
// reads admin.endpoint from (configs/default.yaml); the container image
// sets it to 0.0.0.0:8888. healthcheck reads it too, so its default URL
// follows the admin server wherever the image puts it.
const adminEndpointEnv = "OTLPGW_ADMIN_ENDPOINT"

type healthcheckOpts struct {
	url     *string
	live    *bool
	timeout *time.Duration
}

func healthcheckFlags(fs *flag.FlagSet) healthcheckOpts {
	return healthcheckOpts{
		url:     fs.String("url", "", "the admin server's base URL (default http:// + $"+adminEndpointEnv+", else http://"+config.Default().Admin.Endpoint+"; 0.0.0.0 becomes localhost)"),
		live:    fs.Bool("live", false, "ask /healthz (the process is alive) instead of /readyz (it accepts data)"),
		timeout: fs.Duration("timeout", 2*time.Second, "give up after this long"),
	}
}

// healthcheckCmd asks the admin server whether the gateway is ready (or,
// with --live, alive) and turns the answer into an exit status: the
// distroless image has no shell or curl for its HEALTHCHECK.
func healthcheckCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	o := healthcheckFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, "healthcheck")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "otlpgw healthcheck: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUndelivered
	}
	base := *o.url
	if base == "" {
		base = defaultAdminURL(os.LookupEnv)
	}
	probe := "/readyz"
	if *o.live {
		probe = "/healthz"
	}
	target := strings.TrimSuffix(base, "/") + probe
	status, body, err := httpGet(target, *o.timeout)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "otlpgw healthcheck: %s: %s\n", target, describeGetError(err, *o.timeout))
		return exitUndelivered
	case status != http.StatusOK:
		fmt.Fprintf(stderr, "otlpgw healthcheck: %s: %d %s%s\n", target, status, http.StatusText(status), bodyHint(body))
		return exitUndelivered
	}
	fmt.Fprintf(stdout, "otlpgw healthcheck: %s: 200 OK\n", target)
	return exitOK
}

// defaultAdminURL is http:// and the admin endpoint the embedded default
// configuration listens on, with a wildcard host replaced by localhost.
func defaultAdminURL(env func(string) (string, bool)) string {
	ep := config.Default().Admin.Endpoint
	if v, ok := env(adminEndpointEnv); ok && v != "" {
		ep = v
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "http://" + ep
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func httpGet(url string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, body, nil
}

// describeGetError names the common causes in words an operator acts on.
func describeGetError(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the gateway running, and is admin.endpoint this address?)"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve %q: %v", dnsErr.Name, dnsErr.Err)
	}
	return err.Error()
}

// bodyHint is the first line of an answer's body, shortened, after ": ";
// /readyz says there which component is not ready.
func bodyHint(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		// Cut on a rune boundary, so a UTF-8 body stays printable.
		n := 200
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "..."
	}
	return ": " + s
}
