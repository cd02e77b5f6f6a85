package main

import (
	stdsha "crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

func setup(t testing.TB, config string) {
	t.Helper()
	if _, err := sdktest.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
}

func sha(s string) string { h := stdsha.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

var kv = sdktest.Attr

func TestRedactTraces(t *testing.T) {
	cases := []struct {
		name   string
		config string
		res    sdktest.Resource
		want   []string
	}{
		{"delete on every owner, any case", `{"delete_keys": ["password", "X-Api-Key"]}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("password", "r"), kv("host", "h")},
			Scopes: []sdktest.Scope{{Attrs: []sdktest.KV{kv("x-api-key", "s")}, Spans: []sdktest.Span{
				{Name: "a", Attrs: []sdktest.KV{kv("user", "bob"), kv("Password", "hunter2"), kv("PASSWORD", 42)}},
			}}},
		}, []string{`DELETE_KEY "password" on resources,scopes,items ignoring case`, `DELETE_KEY "x-api-key" on resources,scopes,items ignoring case`}},
		{"delete a repeated key once", `{"delete_keys": ["password"]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("password", "a"), kv("password", "b")}},
		), []string{`DELETE_KEY "password" on resources,scopes,items ignoring case`}},
		{"hash with salt, every type", `{"hash_keys": ["user.email", "user.id", "n", "f", "b", "arr", "raw"], "hash_salt": "pepper"}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("user.email", "bob@example.com"), kv("user.id", ""), kv("n", -7), kv("f", 0.5), kv("b", true),
				kv("arr", []any{"x", 1, []sdktest.KV{kv("k", false)}}), kv("raw", []byte{0xff, 0}), kv("other", "kept"),
			}},
		), []string{
			`SET_ATTR item 0 "user.email"=string("` + sha("pepperbob@example.com") + `")`,
			`SET_ATTR item 0 "user.id"=string("` + sha("pepper") + `")`,
			`SET_ATTR item 0 "n"=string("` + sha("pepper-7") + `")`,
			`SET_ATTR item 0 "f"=string("` + sha("pepper0.5") + `")`,
			`SET_ATTR item 0 "b"=string("` + sha("peppertrue") + `")`,
			`SET_ATTR item 0 "arr"=string("` + sha(`pepper["x",1,{"k":false}]`) + `")`,
			`SET_ATTR item 0 "raw"=string("` + sha("pepper\xff\x00") + `")`,
		}},
		{"a repeated hashed key is deleted, not half hashed", `{"hash_keys": ["user.id"]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("user.id", "1"), kv("x", "y"), kv("user.id", "2")}},
		), []string{`DELETE_ATTR attr 0`, `DELETE_ATTR attr 2`}},
		{"mask builtins in any string value", `{"mask": [{"builtin": "credit_card"}, {"builtin": "email", "replacement": "<email>"}]}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("owner", "ops@example.com")},
			Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a", Attrs: []sdktest.KV{
				kv("note", "paid 4111 1111 1111 1111 by a@b.io"), kv("clean", "nothing here"), kv("n", 4111111111111111),
			}}}}},
		}, []string{
			`SET_ATTR resource 0 "owner"=string("<email>")`,
			`SET_ATTR item 0 "note"=string("paid *** by <email>")`,
		}},
		{"mask a pattern, limited to keys", `{"mask": [{"pattern": "sk_(live|test)_[0-9a-zA-Z]+", "replacement": "sk_***", "keys": ["HTTP.URL"]}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("http.url", "https://api/x?key=sk_live_abc123&k2=sk_test_Z"), kv("body", "sk_live_abc123"),
			}},
		), []string{`SET_ATTR item 0 "http.url"=string("https://api/x?key=sk_***&k2=sk_***")`}},
		{"a pattern sees the whole value", `{"mask": [{"pattern": "^secret$"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "secret"), kv("b", "not secret")}},
		), []string{`SET_ATTR item 0 "a"=string("***")`}},
		{"an empty match hides nothing", `{"mask": [{"pattern": "x*"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "abc"), kv("b", "axxb")}},
		), []string{`SET_ATTR item 0 "b"=string("a***b")`}},
		{"an array holding a match is replaced whole", `{"mask": [{"builtin": "bearer_token", "replacement": "[redacted]"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("http.request.header.authorization", []any{"Bearer abc"}),
				kv("http.request.header.accept", []any{"text/html"}),
				kv("m", []sdktest.KV{kv("inner", []any{"x", "bearer t0k"})}),
			}},
		), []string{
			`SET_ATTR item 0 "http.request.header.authorization"=string("[redacted]")`,
			`SET_ATTR item 0 "m"=string("[redacted]")`,
		}},
		{"delete wins over hash and mask", `{"delete_keys": ["a"], "hash_keys": ["b"], "mask": [{"pattern": "."}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "1"), kv("b", "2"), kv("c", "3")}},
		), []string{`DELETE_KEY "a" on resources,scopes,items ignoring case`, `SET_ATTR item 0 "b"=string("` + sha("2") + `")`, `SET_ATTR item 0 "c"=string("***")`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, _ := filtertest.Run(sdk.SignalTraces, c.res)
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestRedactLogsAndMetricsAndCounters(t *testing.T) {
	setup(t, `{"delete_keys": ["password"], "hash_keys": ["user.id"], "mask": [{"builtin": "email"}]}`)
	got, rec := filtertest.Run(sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{Body: "mail a@b.io", Attrs: []sdktest.KV{kv("password", "x"), kv("user.id", "7"), kv("to", "c@d.io")}},
	))
	want := []string{`DELETE_KEY "password" on resources,scopes,items ignoring case`, `SET_ATTR item 0 "user.id"=string("` + sha("7") + `")`, `SET_ATTR item 0 "to"=string("***")`}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
	counts := filtertest.MetricTotals(rec)
	for name, n := range map[string]float64{"redact_deleted_total": 0, "redact_hashed_total": 1, "redact_masked_total": 1} {
		if counts[name] != n {
			t.Errorf("%s += %v, want %v", name, counts[name], n)
		}
	}
	got, _ = filtertest.Run(sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge,
		Points: []sdktest.DataPoint{{Time: 1, Value: 1, Attrs: []sdktest.KV{kv("password", "x")}}}}))
	if d := filtertest.Diff(got, []string{`DELETE_KEY "password" on resources,scopes,items ignoring case`}); d != "" {
		t.Errorf("metrics: %s", d)
	}
}

func TestConfig(t *testing.T) {
	bad := map[string]string{
		`{}`:                               "nothing to redact",
		`{"mask": [{"builtin": "ssn"}]}`:   `mask[0].builtin: want credit_card, email, bearer_token or jwt, got "ssn"`,
		`{"mask": [{"pattern": "("}]}`:     "mask[0].pattern: error parsing regexp",
		`{"mask": [{"replacement": "x"}]}`: "mask[0]: set builtin or pattern",
		`{"mask": [{"builtin": "email", "pattern": "x"}]}`: "mask[0].pattern: set builtin or pattern, not both",
		`{"mask": [{"builtin": "email", "key": ["a"]}]}`:   "mask[0].key: unknown key",
		`{"delete_keys": ["a"], "hash_keys": ["A"]}`:       `hash_keys: "a" is in delete_keys too`,
		`{"delete_keys": "password"}`:                      "delete_keys: want an array of strings",
	}
	filtertest.ConfigErrors(t, bad)
}

func TestExampleConfig(t *testing.T) {
	filtertest.ExamplesLoad(t, "redact")
}

// BenchmarkRedact runs 100 typical spans through the filter natively and
// in WASM (filtertest.BenchCompare), with its example config and with
// S2's delete (bulk-only).
func BenchmarkRedact(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "redact")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"delete_keys": ["password"]}`, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "redact"), []byte(`{"delete_keys": ["big"], "mask": [{"builtin": "email"}, {"pattern": "[0-9]{4}", "replacement": "####"}]}`),
		// Deletes only: bulk-only.
		[]byte(`{"delete_keys": ["password", "user.email"]}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// delete_keys alone makes the filter bulk-only; hashing or masking needs
// the batch.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"delete_keys": ["password"]}`:                               true,
		`{"delete_keys": ["password"], "hash_keys": ["user.id"]}`:     false,
		`{"delete_keys": ["password"], "mask": [{"builtin": "jwt"}]}`: false,
	})
}
