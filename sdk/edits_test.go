package sdk_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// editBatch: resource 0 (attr 0 env=prod), scope 0 (attr 1 lib=x), span 0
// "a" with attrs 2 password, 3 note, 4 password (a duplicate key), 5 n=1,
// 6 blob; span 1 "b" with attr 7 note.
func editBatch() (req, idx []byte) {
	return sdktest.Batch(sdk.SignalTraces, sdktest.Resource{
		Attrs: []sdktest.KV{sdktest.Attr("env", "prod")},
		Scopes: []sdktest.Scope{{Attrs: []sdktest.KV{sdktest.Attr("lib", "x")}, Spans: []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{
				sdktest.Attr("password", "hunter2"), sdktest.Attr("note", "0123456789"), sdktest.Attr("password", "again"),
				sdktest.Attr("n", 1), sdktest.Attr("blob", []byte("0123456789")),
			}},
			{Name: "b", Attrs: []sdktest.KV{sdktest.Attr("note", "short")}},
		}}},
	})
}

func TestEdits(t *testing.T) {
	cases := []struct {
		name string
		f    func(tr *sdk.Traces)
		want []string
	}{
		{"drop", func(tr *sdk.Traces) { tr.Span(1).Drop("noise") },
			[]string{`DROP_ITEM item 1 "noise"`}},
		{"delete every attribute with the key", func(tr *sdk.Traces) {
			if !tr.Span(0).Attributes().Delete("password") || tr.Span(1).Attributes().Delete("password") {
				t.Error("Delete reported the wrong presence")
			}
		}, []string{"DELETE_ATTR attr 2", "DELETE_ATTR attr 4"}},
		{"rename", func(tr *sdk.Traces) {
			tr.Span(0).Attributes().Rename("note", "comment")
			tr.Span(0).Attributes().Rename("n", "n") // a no-op
			if tr.Span(0).Attributes().Rename("missing", "x") {
				t.Error("Rename of a missing key reported true")
			}
		}, []string{`RENAME_ATTR attr 3 to "comment"`}},
		{"truncate by key skips short and non-string values", func(tr *sdk.Traces) {
			a := tr.Span(0).Attributes()
			a.Truncate("note", 4)
			a.Truncate("blob", 3)
			a.Truncate("n", 0)                           // an int: left alone
			a.Truncate("password", 5)                    // "hunter2" is cut, "again" already fits
			tr.Span(1).Attributes().Truncate("note", 99) // short enough
		}, []string{"TRUNCATE_ATTR attr 3 to 4", "TRUNCATE_ATTR attr 6 to 3", "TRUNCATE_ATTR attr 2 to 5"}},
		{"truncate while iterating", func(tr *sdk.Traces) {
			for _, v := range tr.Span(0).Attributes().All() {
				v.Truncate(6)
			}
			for r := range tr.Resources() {
				r.Attributes().Truncate("env", -1) // negative means 0
			}
		}, []string{"TRUNCATE_ATTR attr 2 to 6", "TRUNCATE_ATTR attr 3 to 6", "TRUNCATE_ATTR attr 6 to 6", "TRUNCATE_ATTR attr 0 to 0"}},
		{"set on every owner", func(tr *sdk.Traces) {
			s := tr.Span(1)
			s.Resource().Attributes().SetStr("env", "dev")
			s.Scope().Attributes().SetInt("lib.n", -1)
			s.Attributes().SetBool("ok", true)
			s.Attributes().SetDouble("ratio", 0.25)
			s.Attributes().SetBytes("raw", []byte{0xff})
			s.Attributes().SetStr("empty", "")
		}, []string{
			`SET_ATTR resource 0 "env"=string("dev")`,
			`SET_ATTR scope 0 "lib.n"=int(-1)`,
			`SET_ATTR item 1 "ok"=bool(true)`,
			`SET_ATTR item 1 "ratio"=double(0.25)`,
			`SET_ATTR item 1 "raw"=bytes(ff)`,
			`SET_ATTR item 1 "empty"=string("")`,
		}},
		{"span fields", func(tr *sdk.Traces) {
			s := tr.Span(0)
			s.SetName("renamed")
			s.SetStatus(sdk.StatusError, "failed")
			s.SetStartTime(1)
			s.SetEndTime(1 << 62)
		}, []string{
			`SET_NAME item 0 "renamed"`,
			`SET_STATUS item 0 code 2 "failed"`,
			`SET_FIXED64 item 0 field 7 = 1`,
			`SET_FIXED64 item 0 field 8 = 4611686018427387904`,
		}},
		{"reject discards edits before and after", func(tr *sdk.Traces) {
			tr.Span(0).Drop("x")
			tr.Reject("quota exceeded")
			tr.Span(1).Drop("y")
			tr.Span(1).Attributes().SetStr("k", "v")
		}, []string{`REJECT "quota exceeded"`}},
		{"the last of reject and replace wins", func(tr *sdk.Traces) {
			tr.Reject("no")
			tr.Replace([]byte{0x0a, 0x00}) // one empty resource
		}, []string{"REPLACE 2 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, idx := editBatch()
			edits, _ := sdktest.RunFilter(sdk.Filter{Traces: c.f}, sdk.SignalTraces, req, idx)
			diffLines(t, sdktest.Describe(edits), c.want)
		})
	}
}

// The AnyValue bodies of SET_ATTR, byte for byte (ABI.md §4: the body of an
// AnyValue message), and the framing around them.
func TestSetAttrEncoding(t *testing.T) {
	req, idx := editBatch()
	edits, _ := sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		a := tr.Span(1).Attributes()
		a.SetStr("k", "abc")
		a.SetInt("k", 300)
		a.SetBool("k", false)
		a.SetDouble("k", 1)
	}}, sdk.SignalTraces, req, idx)
	want := "03030000" + "01000000" + "00000000" + "01000000" + "05000000" + "6b" + "0a03616263" + "0000" +
		"03030000" + "01000000" + "00000000" + "01000000" + "03000000" + "6b" + "18ac02" +
		"03030000" + "01000000" + "00000000" + "01000000" + "02000000" + "6b" + "1000" + "00" +
		"03030000" + "01000000" + "00000000" + "01000000" + "09000000" + "6b" + "21000000000000f03f" + "0000"
	if got := hex.EncodeToString(edits); got != want {
		t.Errorf("edits\n got %s\nwant %s", got, want)
	}
}

func TestMetricAndLogEdits(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalMetrics, sdktest.Resource{Scopes: []sdktest.Scope{{Metrics: []sdktest.Metric{
		{Name: "a", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{{Value: 1}, {Value: 2, Attrs: []sdktest.KV{sdktest.Attr("k", "v")}}}},
	}}}})
	edits, _ := sdktest.RunFilter(sdk.Filter{Metrics: func(m *sdk.Metrics) {
		m.Metric(0).SetName("b")
		p := m.DataPoint(1)
		p.SetTime(9)
		p.SetStartTime(8)
		p.Attributes().Delete("k")
		m.DataPoint(0).Drop("stale")
	}}, sdk.SignalMetrics, req, idx)
	diffLines(t, sdktest.Describe(edits), []string{
		`SET_NAME metric 0 "b"`, "SET_FIXED64 item 1 field 3 = 9", "SET_FIXED64 item 1 field 2 = 8",
		"DELETE_ATTR attr 0", `DROP_ITEM item 0 "stale"`,
	})

	req, idx = sdktest.Batch(sdk.SignalLogs, sdktest.Resource{Scopes: []sdktest.Scope{{LogRecords: []sdktest.LogRecord{{}, {}}}}})
	edits, _ = sdktest.RunFilter(sdk.Filter{Logs: func(l *sdk.Logs) {
		l.LogRecord(1).SetTime(5)
		l.LogRecord(1).SetObservedTime(6)
		l.LogRecord(0).Drop("debug")
	}}, sdk.SignalLogs, req, idx)
	diffLines(t, sdktest.Describe(edits), []string{
		"SET_FIXED64 item 1 field 1 = 5", "SET_FIXED64 item 1 field 11 = 6", `DROP_ITEM item 0 "debug"`,
	})
}

func TestNoEditsIsNil(t *testing.T) {
	req, idx := editBatch()
	for _, f := range []sdk.Filter{{}, {Traces: func(*sdk.Traces) {}}, {Logs: func(l *sdk.Logs) { l.Reject("never called") }}} {
		if edits, _ := sdktest.RunFilter(f, sdk.SignalTraces, req, idx); edits != nil {
			t.Errorf("edits %x, want none", edits)
		}
	}
}

// Each call starts a fresh edit list on the reused buffer.
func TestEditsDoNotLeakAcrossCalls(t *testing.T) {
	req, idx := editBatch()
	n := 0
	f := sdk.Filter{Traces: func(tr *sdk.Traces) {
		n++
		if n == 1 {
			tr.Reject("first")
		} else {
			tr.Span(0).Drop("second")
		}
	}}
	sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	edits, _ := sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	diffLines(t, sdktest.Describe(edits), []string{`DROP_ITEM item 0 "second"`})
}

func TestEmptyKeyPanics(t *testing.T) {
	req, idx := editBatch()
	for name, f := range map[string]func(a sdk.Attributes){
		"SetStr": func(a sdk.Attributes) { a.SetStr("", "v") },
		"Rename": func(a sdk.Attributes) { a.Rename("note", "") },
	} {
		var msg any
		sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
			defer func() { msg = recover() }()
			f(tr.Span(0).Attributes())
		}}, sdk.SignalTraces, req, idx)
		if s, _ := msg.(string); !strings.Contains(s, "empty key") {
			t.Errorf("%s with an empty key: panic %v, want one about the empty key", name, msg)
		}
	}
}

// The steady state allocates nothing: views are values, the edit buffer
// and the item cache are reused.
func TestProcessDoesNotAllocate(t *testing.T) {
	req, idx := editBatch()
	f := sdk.Filter{Traces: func(tr *sdk.Traces) {
		for s := range tr.Spans() {
			a := s.Attributes()
			if !a.Has("team") {
				a.SetStr("team", "payments")
			}
			for _, v := range a.All() {
				v.Truncate(4)
			}
			if s.Name() == "b" && s.StartTime() == 0 && s.Kind() == 0 {
				s.Drop("b")
			}
		}
	}}
	edits, _ := sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	if len(edits) == 0 {
		t.Fatal("the filter made no edits")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if e := sdk.ProcessWith(f, sdk.SignalTraces, req, idx); !bytes.Equal(e, edits) {
			t.Fatal("edits changed between runs")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

// The host refuses a whole edit list over one invalid UTF-8 key, name or
// reason, so the SDK mends them; values are bytes to the host and pass as
// they are.
func TestInvalidUTF8IsMended(t *testing.T) {
	req, idx := editBatch()
	edits, _ := sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		s := tr.Span(0)
		s.Drop("bad\xffreason")
		s.SetName("cut\xc3")
		s.SetStatus(sdk.StatusError, "\xfe")
		s.Attributes().SetStr("k\xff", "v\xff")
		s.Attributes().Rename("note", "n\xff")
	}}, sdk.SignalTraces, req, idx)
	es, err := sdktest.DecodeEdits(edits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, string(e.A)+"|"+string(e.B))
	}
	want := []string{"bad\uFFFDreason|", "cut\uFFFD|", "\uFFFD|", "k\uFFFD|\x0a\x02v\xff", "n\uFFFD|"}
	if !slices.Equal(got, want) {
		t.Errorf("a|b fields %q, want %q", got, want)
	}
}

func TestReplaceEncoding(t *testing.T) {
	req, idx := editBatch()
	edits, _ := sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		tr.Replace([]byte{0x0a, 0x01, 0x12})
	}}, sdk.SignalTraces, req, idx)
	if want, _ := hex.DecodeString("0a000000" + "00000000" + "00000000" + "03000000" + "00000000" + "0a0112" + "00"); !bytes.Equal(edits, want) {
		t.Errorf("edits %x, want %x", edits, want)
	}
}

func TestBulkEditEncoding(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}})
	f := sdk.Filter{Traces: func(tr *sdk.Traces) {
		tr.DeleteKey("password", sdk.Everywhere, true)
		tr.TruncateValues(256, sdk.OnItems)
		tr.DeleteKey("token", 0, false) // zero Owners means everywhere
	}}
	edits, _ := sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	got := strings.Join(sdktest.Describe(edits), "\n")
	want := strings.Join([]string{
		`DELETE_KEY "password" on resources,scopes,items ignoring case`,
		`TRUNCATE_VALUES to 256 on items`,
		`DELETE_KEY "token" on resources,scopes,items`,
	}, "\n")
	if got != want {
		t.Errorf("edits:\n%s\nwant:\n%s", got, want)
	}
}

func TestDropBodyAndSetDefaultEncoding(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalLogs, sdktest.Resource{Scopes: []sdktest.Scope{{LogRecords: []sdktest.LogRecord{{Body: "GET /healthz"}}}}})
	f := sdk.Filter{Logs: func(l *sdk.Logs) {
		l.DropBody("GET /healthz", "probe")
		l.DropNamed("GET /healthz", "event")
		l.SetDefaultStr("deployment.environment", "unknown", sdk.OnResources)
	}}
	edits, _ := sdktest.RunFilter(f, sdk.SignalLogs, req, idx)
	got := strings.Join(sdktest.Describe(edits), "\n")
	want := strings.Join([]string{
		`DROP_NAMED body "GET /healthz" "probe"`,
		`DROP_NAMED "GET /healthz" "event"`,
		`SET_DEFAULT "deployment.environment" = string("unknown") on resources`,
	}, "\n")
	if got != want {
		t.Errorf("edits:\n%s\nwant:\n%s", got, want)
	}
}

// TestBulkOnlyGetsAnEmptyBatch: after Init declares BulkOnly, the filter
// sees no items (as in the gateway); an Init that fails undoes it.
func TestBulkOnlyGetsAnEmptyBatch(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}, {Name: "b"}}}}})
	seen := -1
	declare := true
	f := sdk.Filter{
		Init: func([]byte) error {
			sdk.BulkOnly()
			if !declare {
				return errors.New("bad config")
			}
			return nil
		},
		Traces: func(tr *sdk.Traces) {
			seen = 0
			for r := range tr.Resources() {
				for s := range r.Scopes() {
					for range s.Spans() {
						seen++
					}
				}
			}
			tr.DropNamed("a", "x")
		},
	}
	if _, err := sdktest.InitFilter(f, nil); err != nil {
		t.Fatal(err)
	}
	edits, _ := sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	if seen != 0 || len(sdktest.Describe(edits)) != 1 {
		t.Errorf("bulk-only filter saw %d spans and made %v, want 0 spans and one edit", seen, sdktest.Describe(edits))
	}
	declare = false
	if _, err := sdktest.InitFilter(f, nil); err == nil {
		t.Fatal("Init succeeded, want its error")
	}
	sdktest.RunFilter(f, sdk.SignalTraces, req, idx)
	if seen != 2 {
		t.Errorf("after a failed Init the filter saw %d spans, want 2 (not bulk-only)", seen)
	}
	if _, err := sdktest.InitFilter(sdk.Filter{}, nil); err != nil {
		t.Fatal(err)
	}
}
