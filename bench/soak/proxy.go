package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// proxy stands between the gateway's exporter and the sink so that the
// soak can take the upstream away without stopping the sink, whose
// counters must run unbroken from start to end. An outage closes the
// listener (new connections are refused: ECONNREFUSED, as from a host
// whose collector is down) and every connection through it (what was in
// flight fails with a reset); restoring listens again on the same port.
// Bytes are copied unchanged, so the proxy never sees a request boundary.
type proxy struct {
	addr   string // fixed by the first listen; every restore reuses it
	target string

	mu    sync.Mutex
	ln    net.Listener // nil during an outage
	conns map[net.Conn]struct{}
}

func newProxy(target string) (*proxy, error) {
	p := &proxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p.addr = ln.Addr().String()
	p.ln = ln
	go p.accept(ln)
	return p, nil
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by cut or close
		}
		go p.pipe(c)
	}
}

// pipe copies both ways between a client and a fresh connection to the
// target until either side ends, then closes both.
func (p *proxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // an outage began while dialling
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut starts an outage.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		// A reset rather than an orderly close: the exporter must not read
		// a half-written answer as the end of a stream.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// restore ends an outage by listening on the same port again. The port
// was ours a moment ago and lies in the ephemeral range, so an outgoing
// connection could take it meanwhile; restore retries for a while.
func (p *proxy) restore() error {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.mu.Lock()
			p.ln = ln
			p.mu.Unlock()
			go p.accept(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
}

func (p *proxy) close() { p.cut() }
