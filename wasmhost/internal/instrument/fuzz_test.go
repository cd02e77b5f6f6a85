package instrument

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzModule: no input makes Module panic or hang, and for every input
// wazero accepts, Module either refuses it as unsupported or returns a
// module wazero accepts too.
func FuzzModule(f *testing.F) {
	f.Add(sumLoop())
	f.Add(renumbered())
	f.Add(wasm())
	f.Add(wasm(
		sec(1, functype([]byte{i32}, nil)),
		sec(3, u32(0)),
		sec(5, []byte{0x00, 0x01}),
		sec(10, fn(noLocals, 0x41, 0x00, 0x41, 0x07, 0x20, 0x00, 0xfc, 0x0b, 0x00, 0x03, 0x40, end, end)),
	))
	if seeds := os.Getenv("INSTRUMENT_FUZZ_SEED"); seeds != "" {
		for _, p := range strings.Split(seeds, ",") {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { _ = r.Close(ctx) })
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Module(bin, opts)
		if errors.Is(err, errEOF) {
			// Truncated: wazero refuses it too, but may first allocate
			// for the declared count (seconds for a count of 10^8).
			return
		}
		in, verr := r.CompileModule(ctx, bin)
		if verr != nil {
			return // anything but a crash or a hang is fine
		}
		_ = in.Close(ctx)
		if err != nil {
			if !strings.Contains(err.Error(), "not supported") {
				t.Fatalf("wazero accepts the input, Module refuses it: %v", err)
			}
			return
		}
		c, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the input but not its instrumented version: %v", err)
		}
		_ = c.Close(ctx)
	})
}
