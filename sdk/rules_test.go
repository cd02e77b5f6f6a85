package sdk_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// runBulk runs one callback of each signal the test fills in over an
// empty batch of that signal and returns the edit list.
func runBulk(t *testing.T, f sdk.Filter) []byte {
	t.Helper()
	sig := sdk.SignalTraces
	switch {
	case f.Metrics != nil:
		sig = sdk.SignalMetrics
	case f.Logs != nil:
		sig = sdk.SignalLogs
	}
	req, idx := sdktest.Batch(sig)
	edits, _ := sdktest.RunFilter(f, sig, req, idx)
	return edits
}

func wantHex(t *testing.T, edits []byte, want ...string) {
	t.Helper()
	if got, w := hex.EncodeToString(edits), strings.Join(want, ""); got != w {
		t.Errorf("edits\n got %s\nwant %s\n(%q)", got, w, sdktest.Describe(edits))
	}
}

// The worked example of ABI.md §4 (DROP_MATCH), byte for byte.
func TestDropWhereEncoding(t *testing.T) {
	rule := sdk.Where(sdk.NameMatches("^GET "), sdk.AttrIs("url.path", "/metrics"))
	edits := runBulk(t, sdk.Filter{Traces: func(tr *sdk.Traces) { tr.DropWhere(rule, "probe") }})
	wantHex(t, edits,
		"12000000", "00000000", "00000000", "1a000000", "05000000", // DROP_MATCH, len_a 26, len_b 5
		"01", "05", hex.EncodeToString([]byte("^GET ")), // NAME "^GET "
		"04", "08", hex.EncodeToString([]byte("url.path")), "08", hex.EncodeToString([]byte("/metrics")), // ATTR_STRING
		hex.EncodeToString([]byte("probe")), "00") // reason, one byte of padding
	if len(edits) != 52 {
		t.Errorf("%d bytes, want 52", len(edits))
	}
}

func TestDropWhereConditions(t *testing.T) {
	rule := sdk.Where(
		sdk.NameMatches("^GET "), sdk.BodyMatches("(?i)health"), sdk.HasAttr("k8s.pod.name"),
		sdk.AttrIs("url.path", "/metrics"), sdk.AttrIsNumber("http.status_code", 200),
		sdk.AttrIsBool("synthetic", true), sdk.AttrIsBool("cached", false), sdk.AttrMatches("user agent", `^kube-probe/`),
	)
	for _, f := range []sdk.Filter{
		{Traces: func(tr *sdk.Traces) { tr.DropWhere(rule, "dropped by rules[1]") }},
		{Metrics: func(m *sdk.Metrics) { m.DropWhere(rule, "dropped by rules[1]") }},
		{Logs: func(l *sdk.Logs) { l.DropWhere(rule, "dropped by rules[1]") }},
	} {
		diffLines(t, sdktest.Describe(runBulk(t, f)), []string{
			`DROP_MATCH name~"^GET " body~"(?i)health" attr k8s.pod.name exists attr url.path="/metrics" ` +
				`attr http.status_code=200 attr synthetic=true attr cached=false attr "user agent"~"^kube-probe/" "dropped by rules[1]"`,
		})
	}
	// Each condition's own bytes: kind, uvarint-framed fields, a float64
	// little-endian, a bool as one byte.
	edits := runBulk(t, sdk.Filter{Logs: func(l *sdk.Logs) {
		l.DropWhere(sdk.Where(sdk.HasAttr("k"), sdk.AttrIsNumber("n", 1), sdk.AttrIsBool("b", true), sdk.AttrMatches("m", "x")), "")
	}})
	wantHex(t, edits, "12000000", "00000000", "00000000", "19000000", "00000000",
		"03016b", "05016e08000000000000f03f", "0601620101", "07016d0178", "000000")
}

func TestSampleEncoding(t *testing.T) {
	th := sdk.SampleThreshold(10)
	for _, f := range []sdk.Filter{
		{Traces: func(tr *sdk.Traces) { tr.Sample(th, "sampled out") }},
		{Logs: func(l *sdk.Logs) { l.Sample(th, "sampled out") }},
	} {
		edits := runBulk(t, f)
		wantHex(t, edits, "13000000", "00000000", "00000000", "08000000", "0b000000",
			"666666666666e600", hex.EncodeToString([]byte("sampled out")), "00")
		diffLines(t, sdktest.Describe(edits), []string{`SAMPLE below 0xe6666666666666 "sampled out"`})
	}
}

// SampleThreshold is OpenTelemetry's rejection threshold: 10 % kept is
// the specification's th:e6666666666666.
func TestSampleThreshold(t *testing.T) {
	for _, c := range []struct {
		pct  float64
		want uint64
	}{
		{100, 0}, {150, 0}, {50, 1 << 55}, {25, 3 << 54}, {10, 0xe6666666666666}, {0, 1 << 56}, {-1, 1 << 56},
		{1e-12, 1<<56 - 721}, // 1e-14 of 2^56 is 720.58 values kept: rounded
	} {
		if got := sdk.SampleThreshold(c.pct); got != c.want {
			t.Errorf("SampleThreshold(%v) = %#x, want %#x", c.pct, got, c.want)
		}
	}
	wantPanic(t, "NaN", func() { sdk.SampleThreshold(nanValue()) })
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestDropSeverityEncoding(t *testing.T) {
	edits := runBulk(t, sdk.Filter{Logs: func(l *sdk.Logs) { l.DropSeverityUpTo(sdk.SeverityDebug+3, "shed under pressure") }})
	wantHex(t, edits, "14000000", "00000000", "08000000", "00000000", "13000000",
		hex.EncodeToString([]byte("shed under pressure")), "00")
	diffLines(t, sdktest.Describe(edits), []string{`DROP_SEVERITY up to 8 "shed under pressure"`})
	for _, max := range []sdk.Severity{0, 25, -1} {
		wantPanicIn(t, "want 1..24", sdk.Filter{Logs: func(l *sdk.Logs) { l.DropSeverityUpTo(max, "x") }})
	}
}

// The salt is hashed as bytes, so it goes as it is; the key is mended like
// every other key.
func TestHashValuesEncoding(t *testing.T) {
	for _, f := range []sdk.Filter{
		{Traces: func(tr *sdk.Traces) { tr.HashValues("user.email", sdk.Everywhere, true, "p\xff") }},
		{Metrics: func(m *sdk.Metrics) { m.HashValues("user.email", 0, true, "p\xff") }},
		{Logs: func(l *sdk.Logs) { l.HashValues("user.email", sdk.Everywhere, true, "p\xff") }},
	} {
		edits := runBulk(t, f)
		wantHex(t, edits, "15070000", "00000000", "01000000", "0a000000", "02000000",
			hex.EncodeToString([]byte("user.email")), "70ff")
		diffLines(t, sdktest.Describe(edits), []string{`HASH_VALUES "user.email" on resources,scopes,items ignoring case salt "p\xff"`})
	}
	edits := runBulk(t, sdk.Filter{Traces: func(tr *sdk.Traces) { tr.HashValues("k\xff", sdk.OnItems, false, "") }})
	wantHex(t, edits, "15040000", "00000000", "00000000", "04000000", "00000000", "6befbfbd")
	diffLines(t, sdktest.Describe(edits), []string{"HASH_VALUES \"k\uFFFD\" on items"})
	wantPanicIn(t, "empty key", sdk.Filter{Traces: func(tr *sdk.Traces) { tr.HashValues("", sdk.OnItems, false, "s") }})
}

func TestMaskValuesEncoding(t *testing.T) {
	cards := sdk.NewMask(sdk.DetectCreditCard, "", "***", []string{"user.email"}, true)
	digits := sdk.NewMask(sdk.DetectPattern, `\d{4}`, "#", []string{"card", "PAN"}, false)
	every := sdk.NewMask(sdk.DetectJWT, "", "", nil, false)
	for _, f := range []sdk.Filter{
		{Traces: func(tr *sdk.Traces) {
			tr.MaskValues(cards, sdk.OnItems)
			tr.MaskValues(digits, sdk.OnResources|sdk.OnItems)
			tr.MaskValues(every, sdk.Everywhere)
		}},
		{Metrics: func(m *sdk.Metrics) {
			m.MaskValues(cards, sdk.OnItems)
			m.MaskValues(digits, sdk.OnResources|sdk.OnItems)
			m.MaskValues(every, sdk.Everywhere)
		}},
		{Logs: func(l *sdk.Logs) {
			l.MaskValues(cards, sdk.OnItems)
			l.MaskValues(digits, sdk.OnResources|sdk.OnItems)
			l.MaskValues(every, sdk.Everywhere)
		}},
	} {
		edits := runBulk(t, f)
		wantHex(t, edits,
			"16040000", "00000000", "01010000", "0c000000", "03000000", // credit_card | except
			"00", "0a", hex.EncodeToString([]byte("user.email")), "2a2a2a", "00",
			"16050000", "00000000", "00000000", "0f000000", "01000000", // pattern, two keys
			"05", hex.EncodeToString([]byte(`\d{4}`)), "04", hex.EncodeToString([]byte("card")), "03", hex.EncodeToString([]byte("PAN")), "23",
			"16070000", "00000000", "04000000", "01000000", "00000000", // jwt, every key, empty replacement
			"00", "000000")
		diffLines(t, sdktest.Describe(edits), []string{
			`MASK_VALUES credit_card -> "***" on items except ["user.email"]`,
			`MASK_VALUES pattern "\\d{4}" -> "#" on resources,items only ["card" "PAN"]`,
			`MASK_VALUES jwt -> "" on resources,scopes,items`,
		})
	}
	wantPanicIn(t, "zero Mask", sdk.Filter{Logs: func(l *sdk.Logs) { l.MaskValues(sdk.Mask{}, sdk.OnItems) }})
}

func TestNewMaskRefusesMisuse(t *testing.T) {
	for want, f := range map[string]func(){
		"unknown detector(5)":     func() { sdk.NewMask(5, "", "x", nil, false) },
		"empty pattern":           func() { sdk.NewMask(sdk.DetectPattern, "", "x", nil, false) },
		"email, which takes none": func() { sdk.NewMask(sdk.DetectEmail, "@", "x", nil, false) },
		"missing closing )":       func() { sdk.NewMask(sdk.DetectPattern, "(", "x", nil, false) },
		"empty key":               func() { sdk.NewMask(sdk.DetectBearerToken, "", "x", []string{"authorization", ""}, false) },
	} {
		wantPanic(t, want, f)
	}
}

func TestConditionsRefuseMisuse(t *testing.T) {
	long := strings.Repeat("a", sdk.MaxPatternSize+1)
	for want, f := range map[string]func(){
		"Where with no conditions": func() { sdk.Where() },
		"zero Cond":                func() { sdk.Where(sdk.HasAttr("k"), sdk.Cond{}) },
		"NameMatches: error parsing regexp: missing closing ]": func() { sdk.NameMatches("[a-") },
		"BodyMatches: pattern of 1025 bytes":                   func() { sdk.BodyMatches(long) },
		"AttrMatches: error parsing regexp: invalid UTF-8":     func() { sdk.AttrMatches("k", "\xff") },
		"AttrMatches with an empty key":                        func() { sdk.AttrMatches("", "x") },
		"HasAttr with an empty key":                            func() { sdk.HasAttr("") },
		"AttrIs with an empty key":                             func() { sdk.AttrIs("", "x") },
		"AttrIsNumber with an empty key":                       func() { sdk.AttrIsNumber("", 1) },
		"AttrIsBool with an empty key":                         func() { sdk.AttrIsBool("", true) },
	} {
		wantPanic(t, want, f)
	}
	if err := sdk.CheckPattern(long[1:]); err != nil {
		t.Errorf("CheckPattern of %d bytes: %v, want nil", sdk.MaxPatternSize, err)
	}
	if err := sdk.CheckPattern(`a{2,1001}`); err == nil {
		t.Error("CheckPattern accepted a repeat count regexp refuses")
	}
	wantPanicIn(t, "zero Conditions", sdk.Filter{Traces: func(tr *sdk.Traces) { tr.DropWhere(sdk.Conditions{}, "x") }})
}

// Keys and reasons are mended like every other key and reason; the value
// AttrIs compares with is bytes to the host and goes as it is.
func TestDropWhereMendsKeysAndReasons(t *testing.T) {
	rule := sdk.Where(sdk.AttrIs("k\xff", "v\xff"))
	es, err := sdktest.DecodeEdits(runBulk(t, sdk.Filter{Traces: func(tr *sdk.Traces) { tr.DropWhere(rule, "r\xff") }}))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := string(es[0].A), string(es[0].B); a != "\x04\x04k\uFFFD\x02v\xff" || b != "r\uFFFD" {
		t.Errorf("a %q, b %q", a, b)
	}
}

// The rules are encoded once: a call per batch copies bytes and allocates
// nothing.
func TestBulkRulesDoNotAllocate(t *testing.T) {
	rule := sdk.Where(sdk.NameMatches("^GET "), sdk.AttrIsNumber("http.status_code", 200))
	mask := sdk.NewMask(sdk.DetectPattern, `\d{4}`, "#", []string{"card"}, false)
	th := sdk.SampleThreshold(25)
	f := sdk.Filter{Logs: func(l *sdk.Logs) {
		l.DropWhere(rule, "rule")
		l.Sample(th, "sampled out")
		l.DropSeverityUpTo(sdk.SeverityDebug, "debug")
		l.HashValues("user.email", sdk.OnItems, true, "salt")
		l.MaskValues(mask, sdk.Everywhere)
	}}
	req, idx := sdktest.Batch(sdk.SignalLogs)
	edits, _ := sdktest.RunFilter(f, sdk.SignalLogs, req, idx)
	if n := len(sdktest.Describe(edits)); n != 5 {
		t.Fatalf("%d edits, want 5: %q", n, sdktest.Describe(edits))
	}
	allocs := testing.AllocsPerRun(100, func() {
		if e := sdk.ProcessWith(f, sdk.SignalLogs, req, idx); !bytes.Equal(e, edits) {
			t.Fatal("edits changed between runs")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

func wantPanic(t *testing.T, want string, f func()) {
	t.Helper()
	var msg any
	func() {
		defer func() { msg = recover() }()
		f()
	}()
	if s, _ := msg.(string); !strings.Contains(s, want) {
		t.Errorf("panic %v, want one containing %q", msg, want)
	}
}

// wantPanicIn is wantPanic for a panic inside a filter's callback.
func wantPanicIn(t *testing.T, want string, f sdk.Filter) {
	t.Helper()
	var msg any
	wrap := func(call func()) {
		defer func() { msg = recover() }()
		call()
	}
	g := sdk.Filter{}
	if f.Traces != nil {
		g.Traces = func(tr *sdk.Traces) { wrap(func() { f.Traces(tr) }) }
	}
	if f.Metrics != nil {
		g.Metrics = func(m *sdk.Metrics) { wrap(func() { f.Metrics(m) }) }
	}
	if f.Logs != nil {
		g.Logs = func(l *sdk.Logs) { wrap(func() { f.Logs(l) }) }
	}
	runBulk(t, g)
	if s, _ := msg.(string); !strings.Contains(s, want) {
		t.Errorf("panic %v, want one containing %q", msg, want)
	}
}

// SetDefault carries a Scalar's AnyValue body as it is; NormalizeKey a key.
func TestSetDefaultAndNormalizeKeyEncoding(t *testing.T) {
	edits := runBulk(t, sdk.Filter{Traces: func(tr *sdk.Traces) {
		tr.NormalizeKey("http.method", sdk.Everywhere)
		tr.SetDefault("n", sdk.IntValue(3), sdk.OnResources)
		tr.SetDefault("f", sdk.DoubleValue(0.5), sdk.OnResources)
		tr.SetDefault("b", sdk.BoolValue(true), sdk.OnResources)
		tr.SetDefault("s", sdk.StrValue("x"), sdk.OnResources)
	}})
	wantHex(t, edits,
		"17070000", "00000000", "00000000", "0b000000", "00000000", hex.EncodeToString([]byte("http.method")), "00",
		"0e010000", "00000000", "00000000", "01000000", "02000000", "6e", "1803", "00",
		"0e010000", "00000000", "00000000", "01000000", "09000000", "66", "21000000000000e03f", "00", "00",
		"0e010000", "00000000", "00000000", "01000000", "02000000", "62", "1001", "00",
		"0e010000", "00000000", "00000000", "01000000", "03000000", "73", "0a0178")
	diffLines(t, sdktest.Describe(edits), []string{
		`NORMALIZE_KEY "http.method" on resources,scopes,items`,
		`SET_DEFAULT "n" = int(3) on resources`,
		`SET_DEFAULT "f" = double(0.5) on resources`,
		`SET_DEFAULT "b" = bool(true) on resources`,
		`SET_DEFAULT "s" = string("x") on resources`,
	})
	wantPanicIn(t, "empty key", sdk.Filter{Logs: func(l *sdk.Logs) { l.NormalizeKey("", sdk.OnItems) }})
	wantPanicIn(t, "zero Scalar", sdk.Filter{Metrics: func(m *sdk.Metrics) { m.SetDefault("k", sdk.Scalar{}, sdk.OnItems) }})
}
