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

// sha is the hash the filter's README promises: hex SHA-256 of the salt
// followed by the value's text.
func sha(s string) string { h := stdsha.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

var kv = sdktest.Attr

// run runs the filter natively over a batch of sig built from rs, applies
// its edits as the gateway does and describes what is left
// (filtertest.Describe).
func run(t *testing.T, sig sdk.Signal, rs ...sdktest.Resource) []string {
	t.Helper()
	a := filtertest.ApplyNative(t, sig, rs...)
	if a.Dropped != 0 {
		t.Errorf("redact dropped %d items", a.Dropped)
	}
	return filtertest.Describe(t, sig, a.Out)
}

func TestRedactTraces(t *testing.T) {
	cases := []struct {
		name   string
		config string
		res    sdktest.Resource
		want   []string
	}{
		{"delete on every owner, any case", `{"delete_keys": ["password", "X-Api-Key"]}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("password", "r"), kv("host", "h")},
			Scopes: []sdktest.Scope{{Name: "s", Attrs: []sdktest.KV{kv("x-api-key", "s")}, Spans: []sdktest.Span{
				{Name: "a", Attrs: []sdktest.KV{kv("user", "bob"), kv("Password", "hunter2"), kv("PASSWORD", 42)}},
			}}},
		}, []string{"resource host=h", "scope s", `span "a" user=bob`}},
		{"delete a repeated key", `{"delete_keys": ["password"]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("password", "a"), kv("x", "y"), kv("password", "b")}},
		), []string{"resource", "scope ", `span "a" x=y`}},
		{"hash with salt, every type", `{"hash_keys": ["user.email", "user.id", "n", "f", "b", "arr", "raw"], "hash_salt": "pepper"}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("user.email", "bob@example.com"), kv("user.id", ""), kv("n", -7), kv("f", 0.5), kv("b", true),
				kv("arr", []any{"x", 1, []sdktest.KV{kv("k", false)}}), kv("raw", []byte{0xff, 0}), kv("other", "kept"),
			}},
		), []string{"resource", "scope ", `span "a" ` +
			"user.email=" + sha("pepperbob@example.com") + ",user.id=" + sha("pepper") + ",n=" + sha("pepper-7") +
			",f=" + sha("pepper0.5") + ",b=" + sha("peppertrue") + ",arr=" + sha(`pepper["x",1,{"k":false}]`) +
			",raw=" + sha("pepper\xff\x00") + ",other=kept"}},
		{"a repeated hashed key: each value hashed", `{"hash_keys": ["User.Id"]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("user.id", "1"), kv("x", "y"), kv("USER.ID", "2")}},
		), []string{"resource", "scope ", `span "a" user.id=` + sha("1") + ",x=y,USER.ID=" + sha("2")}},
		{"mask builtins in any string value", `{"mask": [{"builtin": "credit_card"}, {"builtin": "email", "replacement": "<email>"}]}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("owner", "ops@example.com")},
			Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a", Attrs: []sdktest.KV{
				kv("note", "paid 4111 1111 1111 1111 by a@b.io"), kv("clean", "nothing here"), kv("n", 4111111111111111),
			}}}}},
		}, []string{"resource owner=<email>", "scope ", `span "a" note=paid *** by <email>,clean=nothing here,n=4111111111111111`}},
		{"mask a pattern, limited to keys", `{"mask": [{"pattern": "sk_(live|test)_[0-9a-zA-Z]+", "replacement": "sk_***", "keys": ["HTTP.URL"]}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("http.url", "https://api/x?key=sk_live_abc123&k2=sk_test_Z"), kv("body", "sk_live_abc123"),
			}},
		), []string{"resource", "scope ", `span "a" http.url=https://api/x?key=sk_***&k2=sk_***,body=sk_live_abc123`}},
		{"a pattern sees the whole value", `{"mask": [{"pattern": "^secret$"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "secret"), kv("b", "not secret")}},
		), []string{"resource", "scope ", `span "a" a=***,b=not secret`}},
		{"an empty match hides nothing", `{"mask": [{"pattern": "x*"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "abc"), kv("b", "axxb")}},
		), []string{"resource", "scope ", `span "a" a=abc,b=a***b`}},
		{"an array or map holding a match is replaced whole", `{"mask": [{"builtin": "bearer_token", "replacement": "[redacted]"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{
				kv("http.request.header.authorization", []any{"Bearer abc"}),
				kv("http.request.header.accept", []any{"text/html"}),
				kv("m", []sdktest.KV{kv("inner", []any{"x", "bearer t0k"})}),
			}},
		), []string{"resource", "scope ", `span "a" http.request.header.authorization=[redacted],http.request.header.accept=[text/html],m=[redacted]`}},
		{"delete wins over hash and mask; hashed values are not masked", `{"delete_keys": ["a"], "hash_keys": ["b"], "mask": [{"pattern": "."}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "1"), kv("b", "2"), kv("c", "3")}},
		), []string{"resource", "scope ", `span "a" b=` + sha("2") + ",c=***"}},
		{"mask rules chain, each limited to its keys less hash_keys", `{"hash_keys": ["h"], "mask": [{"pattern": "a", "replacement": "b", "keys": ["k", "h"]}, {"pattern": "bb", "replacement": "X"}]}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("k", "aab"), kv("h", "a"), kv("j", "abb")}},
		), []string{"resource", "scope ", `span "a" k=Xb,h=` + sha("a") + ",j=aX"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			if d := filtertest.Diff(run(t, sdk.SignalTraces, c.res), c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestRedactLogsAndMetrics(t *testing.T) {
	setup(t, `{"delete_keys": ["password"], "hash_keys": ["user.id"], "mask": [{"builtin": "email"}]}`)
	got := run(t, sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{Body: "mail a@b.io", Attrs: []sdktest.KV{kv("password", "x"), kv("user.id", "7"), kv("to", "c@d.io")}},
	))
	// Bodies are not attributes: redact leaves them (README).
	want := []string{"resource", "scope ", `log "" body=mail a@b.io user.id=` + sha("7") + ",to=***"}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
	got = run(t, sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge,
		Points: []sdktest.DataPoint{{Time: 1, Value: 1, Attrs: []sdktest.KV{kv("password", "x"), kv("user.id", 7), kv("to", "c@d.io")}}}}))
	want = []string{"resource", "scope ", `point "m" user.id=` + sha("7") + ",to=***"}
	if d := filtertest.Diff(got, want); d != "" {
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
// S2's delete.
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
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "redact"),
		[]byte(`{"delete_keys": ["big"], "mask": [{"builtin": "email"}, {"pattern": "[0-9]{4}", "replacement": "####"}]}`),
		[]byte(`{"delete_keys": ["password", "user.email"]}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// Deleting, hashing and masking are all batch-wide edits the gateway
// applies: the filter never reads a batch.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"delete_keys": ["password"]}`:                               true,
		`{"delete_keys": ["password"], "hash_keys": ["user.id"]}`:     true,
		`{"delete_keys": ["password"], "mask": [{"builtin": "jwt"}]}`: true,
	})
}
