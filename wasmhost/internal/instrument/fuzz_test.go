package instrument

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzModule: no input makes Module panic or hang, and when Module accepts
// an input, wazero accepts the output exactly when it accepts the input.
//
// wazero sees only inputs Module accepted: Module has then checked every
// declared count against the bytes left, whereas wazero allocates for a
// count before reading its items (gigabytes for a forged count; the
// fuzzing process dies). That Module refuses no valid module it could
// instrument is checked on real modules (TestStockFilters, the wasmhost
// tests) and on the hand-written ones.
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
		if err != nil {
			return
		}
		in, inErr := r.CompileModule(ctx, bin)
		if inErr == nil {
			_ = in.Close(ctx)
		}
		c, outErr := r.CompileModule(ctx, out)
		if outErr == nil {
			_ = c.Close(ctx)
		}
		switch {
		case inErr == nil && outErr != nil:
			t.Fatalf("wazero accepts the input but not its instrumented version: %v", outErr)
		case inErr != nil && outErr == nil:
			t.Fatalf("wazero refuses the input (%v) but accepts its instrumented version", inErr)
		}
	})
}
