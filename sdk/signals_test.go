package sdk

import "testing"

func TestSignalMaskFollowsRegisteredCallbacks(t *testing.T) {
	prev, prevSet := registered, isSet
	defer func() { registered, isSet = prev, prevSet }()
	for _, c := range []struct {
		f    Filter
		want int32
	}{
		{Filter{}, 0},
		{Filter{Traces: func(*Traces) {}}, 1},
		{Filter{Metrics: func(*Metrics) {}}, 2},
		{Filter{Logs: func(*Logs) {}}, 4},
		{Filter{Traces: func(*Traces) {}, Logs: func(*Logs) {}}, 5},
	} {
		registered, isSet = c.f, true
		if got := signalMask(); got != c.want {
			t.Errorf("signalMask() = %b, want %b", got, c.want)
		}
	}
}
