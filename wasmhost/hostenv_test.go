package wasmhost

import (
	"testing"
	"time"
)

func TestValidMetricName(t *testing.T) {
	for name, want := range map[string]bool{
		"redacted_total": true, "_x": true, "a1": true, "": false, "1a": false, "A": false,
		"a-b": false, "a.b": false, string(make([]byte, 65)): false,
		"a234567890123456789012345678901234567890123456789012345678901234": true, // 64 bytes
	} {
		if got := validMetricName([]byte(name)); got != want {
			t.Errorf("validMetricName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	l.init()
	now := time.Unix(0, 0)
	for i := range logBurst {
		if ok, _ := l.allow(now); !ok {
			t.Fatalf("line %d of the burst refused", i)
		}
	}
	for range 3 {
		if ok, _ := l.allow(now); ok {
			t.Fatal("line past the burst allowed")
		}
	}
	ok, suppressed := l.allow(now.Add(time.Second / logRate))
	if !ok || suppressed != 3 {
		t.Errorf("after refilling: allowed %v, suppressed %d; want true, 3", ok, suppressed)
	}
}
