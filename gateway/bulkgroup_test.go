package gateway

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otlpgw/otlpgw/filters"
	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/gateway/internal/otlptest"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/pipeline"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// The S2/S3 chain as the bench runs it: every filter bulk-only.
var bulkChain = []config.Filter{
	{Name: "drop", Module: "builtin:drop", Config: map[string]any{"rules": []any{
		map[string]any{"name_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"},
		map[string]any{"body_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"},
	}}},
	{Name: "fix", Module: "builtin:fix", Config: map[string]any{"resource_defaults": map[string]any{"deployment.environment": "unknown"}, "max_future": "0"}},
	{Name: "limits", Module: "builtin:limits", Config: map[string]any{"max_value_length": 8, "max_attributes": 0}},
	{Name: "redact", Module: "builtin:redact", Config: map[string]any{"delete_keys": []any{"password"}}},
}

func loadChain(t *testing.T, specs []config.Filter) []*chainFilter { return loadChainB(t, specs) }

func loadChainB(t testing.TB, specs []config.Filter) []*chainFilter {
	t.Helper()
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "otlpgw-gateway-test-cache"), Builtins: filters.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	for i := range specs {
		specs[i].Timeout = 10 * time.Second
		specs[i].MemoryLimit = 64 << 20
		if specs[i].OnError == "" {
			specs[i].OnError = wasmhost.OnErrorPass
		}
	}
	chain, _, err := loadFilters(ctx, rt, specs, filters.Builtin, nil, nil, telemetry.NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFilters(chain) })
	return chain
}

// runStages runs req through the stages as the pipeline does and returns
// the final request, the items dropped and the partial-success message.
func runStages(t *testing.T, stages []pipeline.Filter, sig otlpwire.Signal, req []byte) ([]byte, int, string) {
	t.Helper()
	var ix otlpwire.Index
	if err := ix.Parse(sig, req); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	var msgs []string
	for _, s := range stages {
		res, err := s.Process(context.Background(), sig, req, &ix)
		if err != nil {
			t.Fatalf("stage %s: %v", s.Name(), err)
		}
		dropped += res.Dropped
		switch {
		case res.Message != "":
			msgs = append(msgs, res.Message)
		case res.Dropped > 0:
			msgs = append(msgs, "filter["+s.Name()+"]: "+res.Reason)
		}
		if res.Req != nil {
			req = res.Req
			indexed := res.Indexed
			got := append([]otlpwire.Resource(nil), ix.Resources...)
			items := ix.Items
			if err := ix.Parse(sig, req); err != nil {
				t.Fatalf("after %s: %v", s.Name(), err)
			}
			// What the pipeline keeps instead of re-indexing must agree
			// with a full index where counting and Split look.
			if indexed {
				if items != ix.Items || len(got) != len(ix.Resources) {
					t.Fatalf("after %s: resource-level index has %d items in %d resources, Parse %d in %d", s.Name(), items, len(got), ix.Items, len(ix.Resources))
				}
				for k, r := range ix.Resources {
					if g := got[k]; g.Off != r.Off || g.End != r.End || g.ItemEnd-g.ItemStart != r.ItemEnd-r.ItemStart {
						t.Fatalf("after %s: resource %d differs from Parse's", s.Name(), k)
					}
				}
			}
		}
	}
	return req, dropped, strings.Join(msgs, "; ")
}

func mixedBatch(sig otlpwire.Signal) []byte { return mixedBatchN(sig, 8) }

// mixedBatchN is 3 resources of n items: every other item a health check,
// every third with a password.
func mixedBatchN(sig otlpwire.Signal, n int) []byte {
	var m proto.Message
	kvs := func(i int) []*commonpb.KeyValue {
		kv := []*commonpb.KeyValue{otlptest.Str("url.path", "/api/v1/items/0123456789")}
		if i%3 == 0 {
			kv = append(kv, otlptest.Str("password", "hunter2"))
		}
		return kv
	}
	names := []string{"GET /healthz", "GET /api", "HEAD /livez", "POST /healthz"}
	switch sig {
	case otlpwire.Traces:
		req := otlptest.Traces(3, n, 2, 1)
		for r, rs := range req.ResourceSpans {
			if r == 1 {
				rs.Resource.Attributes = append(rs.Resource.Attributes, otlptest.Str("deployment.environment", "prod"))
			}
			for i, sp := range rs.ScopeSpans[0].Spans {
				sp.Name, sp.Attributes = names[i%len(names)], kvs(i)
			}
		}
		m = req
	default:
		req := otlptest.Logs(3, n, 1)
		for _, rl := range req.ResourceLogs {
			for i, lr := range rl.ScopeLogs[0].LogRecords {
				lr.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: names[i%len(names)]}}
				lr.Attributes = kvs(i)
			}
		}
		m = req
	}
	return otlptest.Marshal(m)
}

// TestBulkGroupMatchesFiltersOneByOne: the four bulk-only stock filters
// run as one group give exactly the bytes, drops and partial-success
// message they give one after another.
func TestBulkGroupMatchesFiltersOneByOne(t *testing.T) {
	chain := loadChain(t, bulkChain)
	stages := pipelineChain(chain)
	if len(stages) != 1 {
		t.Fatalf("%d stages, want the four filters in one group", len(stages))
	}
	one := make([]pipeline.Filter, len(chain))
	for i, f := range chain {
		one[i] = f
	}
	for _, sig := range []otlpwire.Signal{otlpwire.Traces, otlpwire.Logs} {
		req := mixedBatch(sig)
		want, wantDropped, wantMsg := runStages(t, one, sig, req)
		got, gotDropped, gotMsg := runStages(t, stages, sig, req)
		if !bytes.Equal(got, want) || gotDropped != wantDropped || gotMsg != wantMsg {
			t.Errorf("%s: group gives %d bytes, %d dropped, %q; one by one %d bytes, %d dropped, %q",
				sig, len(got), gotDropped, gotMsg, len(want), wantDropped, wantMsg)
		}
		if wantDropped != 12 || len(want) >= len(req) {
			t.Errorf("%s: %d dropped, %d → %d bytes; want 12 health checks dropped and a smaller request", sig, wantDropped, len(req), len(want))
		}
		// Both runs counted their drops by reason, in the group as one
		// by one: 12 each, the rule the drop filter gives for each signal.
		reason := map[otlpwire.Signal]string{otlpwire.Traces: "dropped by rules[0]", otlpwire.Logs: "dropped by rules[1]"}[sig]
		if got := droppedByReason(chain[0], sig); len(got) != 1 || got[reason] != 24 {
			t.Errorf("%s: filter_dropped_items_total of drop = %v, want {%q: 24}", sig, got, reason)
		}
	}
	for _, c := range chain {
		for _, sig := range []otlpwire.Signal{otlpwire.Traces, otlpwire.Logs} {
			total := 0.0
			for _, n := range droppedByReason(c, sig) {
				total += n
			}
			if d := testutil.ToFloat64(c.sigs[sig].dropped); total != d {
				t.Errorf("filter[%s] %s: dropped items by reason sum to %v, filter_items_total{outcome=dropped} is %v", c.name, sig, total, d)
			}
		}
	}
}

// droppedByReason reads c's filter_dropped_items_total for sig.
func droppedByReason(c *chainFilter, sig otlpwire.Signal) map[string]float64 {
	r := c.sigs[sig].reasons
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]float64{}
	for reason, ctr := range r.byReason {
		out[reason] = testutil.ToFloat64(ctr)
	}
	return out
}

// Counting a drop by a reason seen before does not allocate, whether the
// reason comes as a string (a filter's Result) or as bytes of an edit list
// (the bulk group).
func TestDropCountDoesNotAllocate(t *testing.T) {
	c := loadChain(t, bulkChain[:1])[0]
	m := &c.sigs[otlpwire.Traces]
	reasonBytes := []byte("dropped by rules[0] because it is a health check")
	reasonString := string(reasonBytes)
	dropCount(m, reasonBytes, 1)
	if n := testing.AllocsPerRun(100, func() {
		dropCount(m, reasonBytes, 1)
		dropCount(m, reasonString, 1)
	}); n != 0 {
		t.Errorf("%v allocations per count", n)
	}
	for i := range maxDropReasons + 10 {
		dropCount(m, fmt.Sprintf("r%d", i), 1)
	}
	got := droppedByReason(c, otlpwire.Traces)
	if len(got) != maxDropReasons+1 || got[wasmhost.OtherReasons] != 11 {
		t.Errorf("%d reasons, %v under %q; want %d and 11", len(got), got[wasmhost.OtherReasons], wasmhost.OtherReasons, maxDropReasons+1)
	}
}

// TestBulkGroupMemberFails: a member that fails mid-group is judged by its
// own on_error after the members before it are applied, as one by one.
func TestBulkGroupMemberFails(t *testing.T) {
	cheat := buildTestModule(t, "bulkonly")
	for _, onError := range []string{wasmhost.OnErrorPass, wasmhost.OnErrorDrop} {
		specs := []config.Filter{
			bulkChain[0],
			{Name: "cheat", Module: cheat, OnError: onError, Config: map[string]any{"cheat": true}},
			bulkChain[3],
		}
		chain := loadChain(t, specs)
		stages := pipelineChain(chain)
		if len(stages) != 1 {
			t.Fatalf("%d stages, want one group", len(stages))
		}
		one := []pipeline.Filter{chain[0], chain[1], chain[2]}
		req := mixedBatch(otlpwire.Traces)
		want, wantDropped, wantMsg := runStages(t, one, otlpwire.Traces, req)
		got, gotDropped, gotMsg := runStages(t, stages, otlpwire.Traces, req)
		if !bytes.Equal(got, want) || gotDropped != wantDropped || gotMsg != wantMsg {
			t.Errorf("on_error %s: group gives %d bytes, %d dropped, %q; one by one %d bytes, %d dropped, %q",
				onError, len(got), gotDropped, gotMsg, len(want), wantDropped, wantMsg)
		}
		if n := chain[1].failuresN.Load(); n != 2 {
			t.Errorf("on_error %s: the failing member counted %d failures, want 2 (once per run)", onError, n)
		}
	}
}

// buildTestModule builds wasmhost/testdata/modules/NAME for wasip1.
func buildTestModule(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./"+name)
	cmd.Dir = filepath.Join("..", "wasmhost", "testdata", "modules")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

// BenchmarkBulkGroup: the four bulk-only stock filters as one stage over
// 99-item batches (a request's worth), per item, including the
// pipeline's index of the request (the group makes the re-index after it
// unnecessary).
func BenchmarkBulkGroup(b *testing.B) {
	for _, sig := range []otlpwire.Signal{otlpwire.Traces, otlpwire.Logs} {
		b.Run(sig.String(), func(b *testing.B) {
			chain := loadChainB(b, bulkChain)
			g := pipelineChain(chain)[0]
			req := mixedBatchN(sig, 33) // 99 items
			var ix otlpwire.Index
			for b.Loop() {
				if err := ix.Parse(sig, req); err != nil {
					b.Fatal(err)
				}
				res, err := g.Process(context.Background(), sig, req, &ix)
				if err != nil {
					b.Fatal(err)
				}
				res.Buf.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/99, "ns/item")
		})
	}
}

// filterOutcomes reads c's filter_items_total for sig by outcome.
func filterOutcomes(c *chainFilter, sig otlpwire.Signal) [3]float64 {
	m := &c.sigs[sig]
	return [3]float64{testutil.ToFloat64(m.kept), testutil.ToFloat64(m.modified), testutil.ToFloat64(m.dropped)}
}

// TestBulkGroupCountsEachFilterAlone: in a group of validate then redact,
// on a batch only redact changes (valid items, some with a password),
// each filter's filter_items_total says what that filter did, exactly as
// when they run one by one: validate kept every item, redact modified
// them. The group once counted redact's edit as validate's too.
func TestBulkGroupCountsEachFilterAlone(t *testing.T) {
	specs := func() []config.Filter {
		return []config.Filter{
			{Name: "validate", Module: "builtin:validate"},
			{Name: "redact", Module: "builtin:redact", Config: map[string]any{"delete_keys": []any{"password"}}},
		}
	}
	grouped, alone := loadChain(t, specs()), loadChain(t, specs())
	stages := pipelineChain(grouped)
	if len(stages) != 1 {
		t.Fatalf("%d stages, want validate and redact in one group", len(stages))
	}
	for _, sig := range []otlpwire.Signal{otlpwire.Traces, otlpwire.Logs} {
		req := mixedBatch(sig)
		runStages(t, []pipeline.Filter{alone[0], alone[1]}, sig, req)
		runStages(t, stages, sig, req)
		for i, name := range []string{"validate", "redact"} {
			got, want := filterOutcomes(grouped[i], sig), filterOutcomes(alone[i], sig)
			if got != want {
				t.Errorf("%s: filter[%s] in the group counts kept/modified/dropped %v, alone %v", sig, name, got, want)
			}
		}
		if v, r := filterOutcomes(alone[0], sig), filterOutcomes(alone[1], sig); v != [3]float64{24, 0, 0} || r != [3]float64{0, 24, 0} {
			t.Errorf("%s: one by one, validate counts %v and redact %v; want 24 kept and 24 modified", sig, v, r)
		}
	}
}
