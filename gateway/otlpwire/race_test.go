//go:build race

package otlpwire

// The race detector changes what allocates (see TestContentEditsNoAllocs).
func init() { raceEnabled = true }
