package sdk

// ProcessWith runs f over one batch through the export path without
// sdktest's copies, for allocation tests and benchmarks.
func ProcessWith(f Filter, sig Signal, req, idx []byte) []byte {
	prev, prevSet := registered, isSet
	registered, isSet = f, true
	defer func() { registered, isSet = prev, prevSet }()
	return process(sig, req, idx)
}
