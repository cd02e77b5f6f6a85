package wasmhost

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// TestBulkOnlyFilter: a module that declares itself bulk-only is given an
// empty batch (it rejects any other), and its bulk edits are applied to
// the real one; ProcessBulk hands the list back instead of applying it.
func TestBulkOnlyFilter(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "bulkonly", LoadConfig{Instances: 1}, nil)
	if !f.BulkOnly() {
		t.Fatal("BulkOnly() = false after the module declared it")
	}
	req, ix := batch(t, otlpwire.Traces, traces(true, "GET /healthz", "a", "GET /healthz"))
	res, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reject != "" || res.Dropped != 2 || res.Reason != "health check" {
		t.Fatalf("result %+v, want 2 dropped for \"health check\"", res)
	}
	if got := spanAttrKeys(t, res.Req); !slices.Equal(got, []string{"user", "http.method"}) {
		t.Errorf("span attributes left %v, want [user http.method] (password deleted)", got)
	}

	// A batch the edits do not change comes back unchanged (nil).
	req2, ix2 := batch(t, otlpwire.Traces, traces(false, "a"))
	if res, err := f.Process(context.Background(), otlpwire.Traces, req2, ix2); err != nil || res.Req != nil {
		t.Errorf("batch the bulk edits leave alone: %+v, %v; want unchanged", res, err)
	}

	var pending []byte
	if res, err := f.ProcessBulk(context.Background(), otlpwire.Traces, &pending); err != nil || res.Req != nil || res.Reject != "" {
		t.Fatalf("ProcessBulk: %+v, %v", res, err)
	}
	var e otlpwire.Edits
	if err := e.Decode(pending, ix); err != nil {
		t.Fatalf("the pending list does not decode: %v", err)
	}
	if len(e.List) != 2 || e.List[0].Op != otlpwire.OpDropNamed || e.List[1].Op != otlpwire.OpDeleteKey {
		t.Errorf("pending list %v, want DROP_NAMED then DELETE_KEY", e.List)
	}
}

// TestBulkOnlyFilterMustStayBulk: a bulk-only module that returns a
// targeted edit fails as bad_output, whether applied now or deferred.
func TestBulkOnlyFilterMustStayBulk(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "bulkonly", LoadConfig{Config: []byte(`{"cheat":true}`), Instances: 1}, nil)
	req, ix := batch(t, otlpwire.Traces, traces(true, "a", "b"))
	_, err := f.Process(context.Background(), otlpwire.Traces, req, ix)
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Kind != KindBadOutput || !strings.Contains(fe.Msg, "bulk-only but returned DROP_ITEM") {
		t.Fatalf("Process: %v, want bad_output naming DROP_ITEM", err)
	}
	var pending []byte
	_, err = f.ProcessBulk(context.Background(), otlpwire.Traces, &pending)
	if !errors.As(err, &fe) || fe.Kind != KindBadOutput || len(pending) != 0 {
		t.Fatalf("ProcessBulk: %v with %d bytes pending, want bad_output and nothing appended", err, len(pending))
	}
}

// TestReadingFilterIsNotBulk: the same module answering 0 gets the batch,
// and ProcessBulk refuses it.
func TestReadingFilterIsNotBulk(t *testing.T) {
	rt, _ := newRuntime(t)
	f := load(t, rt, "bulkonly", LoadConfig{Config: []byte(`{"reads":true}`), Instances: 1}, nil)
	if f.BulkOnly() {
		t.Fatal("BulkOnly() = true, the module answered 0")
	}
	req, ix := batch(t, otlpwire.Traces, traces(true, "GET /healthz", "a"))
	if res, err := f.Process(context.Background(), otlpwire.Traces, req, ix); err != nil || res.Dropped != 1 {
		t.Fatalf("Process: %+v, %v; want 1 dropped", res, err)
	}
	var pending []byte
	if _, err := f.ProcessBulk(context.Background(), otlpwire.Traces, &pending); err == nil {
		t.Fatal("ProcessBulk on a reading filter succeeded")
	}
}
