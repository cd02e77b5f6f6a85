// Package testwait is how gateway tests wait for something another
// goroutine, process or connection makes happen: by polling its condition,
// with a bound that only catches a hang. The bound is not a speed claim,
// so it is generous enough for a loaded 2-core machine under -race.
package testwait

import (
	"testing"
	"time"
)

// HangBound is how long Until waits before it calls the wait a hang.
const HangBound = 60 * time.Second

// poll is how often Until looks: short next to any wait worth a test.
const poll = 2 * time.Millisecond

// Until returns once cond holds, and fails the test (naming what it waited
// for, and what last calls it) when HangBound passes first.
func Until(t testing.TB, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(HangBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", HangBound, what())
		}
		time.Sleep(poll)
	}
}
