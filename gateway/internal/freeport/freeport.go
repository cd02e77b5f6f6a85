// Package freeport hands tests loopback addresses to give a gateway that
// binds them itself (a child process, or a config written before start).
package freeport

import (
	"net"
	"sync"
	"testing"
)

var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// Addr returns a 127.0.0.1 address nothing listened on a moment ago and
// that it has not returned before in this test binary: the kernel may hand
// a just-closed port out again, so a test asking for three ports for one
// gateway could otherwise give two listeners the same address.
func Addr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}
