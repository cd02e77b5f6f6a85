package gateway

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// appliedAtStart are the restart-tagged keys a reload accepts but does
// not apply: the value loaded at start stays in force.
var appliedAtStart = map[string]bool{"shutdown_timeout": true, "reload.watch": true}

// TestReloadTagsMatchRestartOnly changes every key outside the exporter
// and filter lists, one at a time, and checks that a reload refuses the
// change exactly when the key's reload tag (which docs/config.md shows)
// says it needs a restart.
func TestReloadTagsMatchRestartOnly(t *testing.T) {
	base := config.Default()
	var walk func(path string, v reflect.Value, tag string)
	n := 0
	walk = func(path string, v reflect.Value, tag string) {
		ty := v.Type()
		for i := range ty.NumField() {
			f := ty.Field(i)
			key := f.Tag.Get("koanf")
			if key == "" || key == "exporters" || key == "filters" {
				continue
			}
			p := strings.TrimPrefix(path+"."+key, ".")
			tg := tag
			if x := f.Tag.Get("reload"); x != "" {
				tg = x
			}
			if f.Type.Kind() == reflect.Struct {
				walk(p, v.Field(i), tg)
				continue
			}
			n++
			changed := base
			mutate(t, p, reflect.ValueOf(&changed).Elem(), strings.Split(p, "."))
			err := restartOnly(&base, &changed, true)
			switch {
			case tg == "" || appliedAtStart[p]:
				if err != nil {
					t.Errorf("%s (reload tag %q): a reload refuses a change: %v", p, tg, err)
				}
			case tg == "restart" || tg == "endpoint":
				if err == nil {
					t.Errorf("%s (reload tag %q): a reload accepts a change", p, tg)
				}
				if tg == "endpoint" {
					recv := strings.Join(strings.Split(p, ".")[:3], ".")
					mutate(t, recv+".endpoint", reflect.ValueOf(&changed).Elem(), strings.Split(recv+".endpoint", "."))
					if err := restartOnly(&base, &changed, true); err != nil {
						t.Errorf("%s with a new endpoint: a reload refuses it: %v", p, err)
					}
				}
			default:
				t.Errorf("%s: unknown reload tag %q", p, tg)
			}
		}
	}
	walk("", reflect.ValueOf(base), "")
	if n < 20 {
		t.Fatalf("only %d keys walked", n)
	}
}

// mutate changes the leaf at keys below v to another valid-looking value.
func mutate(t *testing.T, path string, v reflect.Value, keys []string) {
	t.Helper()
	for _, k := range keys {
		found := false
		for i := range v.Type().NumField() {
			if v.Type().Field(i).Tag.Get("koanf") == k {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			t.Fatalf("%s: no key %s", path, k)
		}
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(v.Int() + int64(time.Second))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "1")
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		v.SetInt(v.Int() + 1)
	case v.Kind() == reflect.Float64:
		v.SetFloat(v.Float() / 2)
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), reflect.New(v.Type().Elem()).Elem()))
	default:
		t.Fatalf("%s: cannot change a %s", path, v.Type())
	}
}
