// Package faultproxy is a loopback TCP proxy for tests that need a network
// which misbehaves the way real ones do: it forwards, delays, cuts (close or
// reset), half-opens (the client's connection stays open but nothing is
// forwarded either way, and nothing tells the client) and blackholes
// (accepts, then never forwards) connections. NATs and load balancers that
// drop a flow's state produce exactly the half-open case, which no close or
// reset ever reports.
package faultproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// New is what the proxy does with connections it accepts from now on.
type New int

const (
	// Forward dials the target and forwards both ways (the default).
	Forward New = iota
	// Blackhole accepts and reads, but never dials the target and never
	// answers: to the client the connection is up and silent.
	Blackhole
)

// Proxy listens on 127.0.0.1 and forwards to one target address.
type Proxy struct {
	target string
	ln     net.Listener
	delay  atomic.Int64 // nanoseconds before each forwarded chunk
	policy atomic.Int32 // New for accepted connections

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, forwarded, blackholed, abandoned atomic.Int64
}

// conn is one accepted client connection and, when forwarded, its upstream.
type conn struct {
	client, upstream net.Conn // upstream nil when blackholed
	silent           atomic.Bool
}

// Start proxies to target until the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[*conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port; clients dial it instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay holds every forwarded chunk, in both directions, for d before
// writing it on (0 turns it off). It applies to live connections too.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// SetNew decides what happens to connections accepted from now on; live
// connections keep what they have.
func (p *Proxy) SetNew(n New) { p.policy.Store(int32(n)) }

// HalfOpen silences every live connection: from now on what either side
// sends is read and thrown away, and neither side is closed or reset. The
// client sees a connection that takes its writes and never answers, as
// behind a NAT that forgot the flow. New connections are not affected
// (see SetNew).
func (p *Proxy) HalfOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.silent.Store(true)
	}
}

// Cut ends every live connection: with reset, the client gets a TCP RST
// (SO_LINGER 0); otherwise an orderly close (FIN).
func (p *Proxy) Cut(reset bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.client.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		c.client.Close()
		if c.upstream != nil {
			c.upstream.Close()
		}
		delete(p.conns, c)
	}
}

// Accepted, Forwarded and Blackholed count connections since Start: all
// accepted, those dialled through to the target, those never forwarded.
func (p *Proxy) Accepted() int64   { return p.accepted.Load() }
func (p *Proxy) Forwarded() int64  { return p.forwarded.Load() }
func (p *Proxy) Blackholed() int64 { return p.blackholed.Load() }

// Abandoned counts silent connections (half-open or blackholed) that the
// client closed or reset. A silent connection tells the client nothing and
// its bytes are acknowledged by the proxy's TCP stack, so no TCP timeout
// or error can end it on the client's side: only the client's own
// decision can, a keepalive ping gone unanswered or a request timed out.
// Connections the proxy itself cuts or closes are not counted.
func (p *Proxy) Abandoned() int64 { return p.abandoned.Load() }

// Close stops listening, closes every connection and waits for the
// proxy's goroutines. Safe more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut(false)
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		c := &conn{client: cc}
		if New(p.policy.Load()) == Blackhole {
			p.blackholed.Add(1)
			c.silent.Store(true)
		} else if uc, err := net.Dial("tcp", p.target); err != nil {
			cc.Close() // the target is down: the client sees it as one
			continue
		} else {
			p.forwarded.Add(1)
			c.upstream = uc
		}
		p.mu.Lock()
		if !p.track(c) {
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// track registers c and starts its pumps; false once the proxy is closed.
// Called with p.mu held.
func (p *Proxy) track(c *conn) bool {
	if p.closed {
		c.client.Close()
		if c.upstream != nil {
			c.upstream.Close()
		}
		return false
	}
	p.conns[c] = struct{}{}
	if c.upstream == nil {
		p.wg.Add(1)
		go p.pump(c, c.client, nil)
		return true
	}
	p.wg.Add(2)
	go p.pump(c, c.client, c.upstream)
	go p.pump(c, c.upstream, c.client)
	return true
}

// pump copies src to dst until src ends. While c is silent it reads and
// discards, so the sender's writes keep succeeding and nothing comes back.
// An end of src closes both sides unless c is silent: a half-open
// connection must not tell the client anything.
func (p *Proxy) pump(c *conn, src, dst net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.silent.Load() && dst != nil {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if !c.silent.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil {
			if c.silent.Load() && src == c.upstream {
				// The upstream gave up on its side; the client must not
				// hear of it.
				return
			}
			if c.silent.Load() && src == c.client {
				p.noteAbandoned(c)
			}
			p.drop(c)
			return
		}
	}
}

// noteAbandoned counts c as closed by its client, unless the proxy
// already untracked it (Cut or Close closed it: then the read error is
// the proxy's own doing).
func (p *Proxy) noteAbandoned(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[c]; ok {
		p.abandoned.Add(1)
	}
}

func (p *Proxy) drop(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}
