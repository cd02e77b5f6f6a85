package faultproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/internal/testwait"
)

// hangBound is a read deadline that only catches a hang.
const hangBound = testwait.HangBound

// quiet is how long a test watches for something that must not happen.
// Seeing nothing in it proves little on its own, so tests that use it also
// check a counter that would have moved.
const quiet = 200 * time.Millisecond

// echo is a target that writes back what it reads and counts what arrived.
type echo struct {
	addr     string
	accepted atomic.Int64
	bytes    atomic.Int64
}

func startEcho(t *testing.T) *echo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	e := &echo{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			t.Cleanup(func() { c.Close() })
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					e.bytes.Add(int64(n))
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return e
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads the echo back within hangBound.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(hangBound))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// expectSilence checks that a read sees nothing and no end: the
// connection is open and quiet.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(quiet))
	n, err := c.Read(make([]byte, 16))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read on a silent connection: %d bytes, %v; want a timeout (open, nothing sent)", n, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, func() string { return what }, cond)
}

func TestForward(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	c := dial(t, p.Addr())
	roundTrip(t, c, "hello")
	if p.Forwarded() != 1 || p.Blackholed() != 0 {
		t.Fatalf("forwarded %d, blackholed %d; want 1, 0", p.Forwarded(), p.Blackholed())
	}
}

func TestDelay(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	c := dial(t, p.Addr())
	start := time.Now()
	roundTrip(t, c, "slow")
	// Both directions are held: a lower bound only, never an upper one.
	if took := time.Since(start); took < 2*d {
		t.Fatalf("round trip took %s, want at least %s with a %s delay each way", took, 2*d, d)
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset bool
		want  func(error) bool
	}{
		{"close", false, func(err error) bool { return err == io.EOF }},
		{"reset", true, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEcho(t)
			p := Start(t, e.addr)
			c := dial(t, p.Addr())
			roundTrip(t, c, "before")
			p.Cut(tc.reset)
			c.SetReadDeadline(time.Now().Add(hangBound))
			_, err := c.Read(make([]byte, 16))
			if !tc.want(err) {
				t.Fatalf("read after cut: %v", err)
			}
			// The proxy itself still serves new connections.
			roundTrip(t, dial(t, p.Addr()), "after")
		})
	}
}

func TestHalfOpen(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")
	p.HalfOpen()
	arrived := e.bytes.Load()
	// Writes keep succeeding: nothing tells the client.
	for range 100 {
		if _, err := c.Write(make([]byte, 32<<10)); err != nil {
			t.Fatalf("write on a half-open connection: %v", err)
		}
	}
	expectSilence(t, c)
	if got := e.bytes.Load(); got != arrived {
		t.Fatalf("target received %d bytes after HalfOpen, want 0", got-arrived)
	}
	// New connections are forwarded as before.
	roundTrip(t, dial(t, p.Addr()), "new")
	if got := e.bytes.Load() - arrived; got != int64(len("new")) {
		t.Fatalf("target received %d bytes after HalfOpen, want only the new connection's %d", got, len("new"))
	}
	expectSilence(t, c) // and the old one is still open and silent
}

func TestBlackhole(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	p.SetNew(Blackhole)
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatalf("write to a blackholed connection: %v", err)
	}
	waitFor(t, "the blackholed connection to be accepted", func() bool { return p.Blackholed() == 1 })
	expectSilence(t, c)
	if e.accepted.Load() != 0 {
		t.Fatalf("target accepted %d connections, want 0 while blackholed", e.accepted.Load())
	}
	p.SetNew(Forward)
	roundTrip(t, dial(t, p.Addr()), "back")
	expectSilence(t, c) // the blackholed one stays so
	if p.Accepted() != 2 || p.Forwarded() != 1 {
		t.Fatalf("accepted %d, forwarded %d; want 2, 1", p.Accepted(), p.Forwarded())
	}
}

// TestAbandoned: a client closing a silent connection (half-open or
// blackholed) is counted; the proxy cutting one, or closing a forwarded
// one, is not.
func TestAbandoned(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	open := dial(t, p.Addr())
	roundTrip(t, open, "a")
	cut := dial(t, p.Addr())
	roundTrip(t, cut, "b")
	p.HalfOpen()
	p.SetNew(Blackhole)
	hole := dial(t, p.Addr())
	waitFor(t, "the blackholed connection to be accepted", func() bool { return p.Blackholed() == 1 })
	open.Close()
	hole.Close()
	waitFor(t, "two abandoned connections", func() bool { return p.Abandoned() == 2 })
	p.SetNew(Forward)
	fwd := dial(t, p.Addr())
	roundTrip(t, fwd, "c")
	// Cut untracks its connections before its pumps see the close, so
	// they cannot count; fwd was never silent.
	p.Cut(true)
	fwd.Close()
	roundTrip(t, dial(t, p.Addr()), "d")
	if n := p.Abandoned(); n != 2 {
		t.Fatalf("abandoned = %d, want 2 (the proxy's own cut is not the client's doing)", n)
	}
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := Start(t, addr)
	c := dial(t, p.Addr())
	c.SetReadDeadline(time.Now().Add(hangBound))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a proxy to a closed port: %v, want the connection closed", err)
	}
}

func TestCloseTwice(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr)
	roundTrip(t, dial(t, p.Addr()), "x")
	p.Close()
	p.Close()
}
