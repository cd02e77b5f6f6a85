package config

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the want_* files under testdata/load from the actual results")

// TestLoadGolden walks testdata/load/*: each directory is one case.
//
//	*.yaml           the files, loaded in name order (none: the embedded default)
//	env              NAME=value lines; the only variables the case sees
//	want_errors      Load fails with exactly these Problems lines, in order
//	want_values      Load succeeds and these "path: value" lines hold
//	want_all_values  as want_values, and the lines list every key there is
//
// Lines starting with # in want_* and env files are comments.
func TestLoadGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/load/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			slices.Sort(files)
			env := readEnvFile(t, filepath.Join(dir, "env"))
			cfg, err := Load(files, env)

			if want, ok := readWant(t, filepath.Join(dir, "want_errors")); ok {
				got := Problems(err)
				if err == nil || cfg != nil {
					t.Errorf("Load succeeded, want errors")
				}
				if *update {
					writeWant(t, filepath.Join(dir, "want_errors"), want.comments, got)
					return
				}
				if !slices.Equal(got, want.lines) {
					t.Errorf("problems differ\ngot:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want.lines, "\n\t"))
				}
				return
			}

			if err != nil {
				t.Fatalf("Load: unexpected problems:\n\t%s", strings.Join(Problems(err), "\n\t"))
			}
			dump := dumpConfig(cfg)
			all := false
			want, ok := readWant(t, filepath.Join(dir, "want_values"))
			if !ok {
				if want, ok = readWant(t, filepath.Join(dir, "want_all_values")); !ok {
					t.Fatalf("case has no want_errors, want_values or want_all_values")
				}
				all = true
			}
			checkValues(t, dir, dump, want, all)
		})
	}
}

func checkValues(t *testing.T, dir string, dump []string, want wantFile, all bool) {
	t.Helper()
	got := map[string]string{}
	var order []string
	for _, l := range dump {
		k, v, _ := strings.Cut(l, ": ")
		got[k] = v
		order = append(order, k)
	}
	name := "want_values"
	if all {
		name = "want_all_values"
	}
	if *update {
		var lines []string
		if all {
			lines = dump
		} else {
			for _, l := range want.lines {
				k, _, _ := strings.Cut(l, ": ")
				lines = append(lines, k+": "+got[k])
			}
		}
		writeWant(t, filepath.Join(dir, name), want.comments, lines)
		return
	}
	listed := map[string]bool{}
	for _, l := range want.lines {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Errorf("%s: malformed line %q (want path: value)", name, l)
			continue
		}
		listed[k] = true
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: no key %s in the loaded config", name, k)
		case g != v:
			t.Errorf("%s = %s, want %s", k, g, v)
		}
	}
	if all {
		for _, k := range order {
			if !listed[k] {
				t.Errorf("%s: key %s (= %s) is not listed: every key's default must be", name, k, got[k])
			}
		}
	}
}

type wantFile struct {
	comments []string
	lines    []string
}

func readWant(t *testing.T, path string) (wantFile, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return wantFile{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var w wantFile
	for l := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			w.comments = append(w.comments, l)
		case l != "":
			w.lines = append(w.lines, l)
		}
	}
	return w, true
}

func writeWant(t *testing.T, path string, comments, lines []string) {
	t.Helper()
	out := strings.Join(append(slices.Clone(comments), lines...), "\n") + "\n"
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readEnvFile returns a lookup over the case's env file only, so no test
// depends on (or changes) the process environment.
func readEnvFile(t *testing.T, path string) func(string) (string, bool) {
	t.Helper()
	vars := map[string]string{}
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l := sc.Text()
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s: malformed line %q (want NAME=value)", path, l)
			}
			vars[k] = v
		}
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// dumpConfig renders every key of cfg as "path: value", in declaration
// order; strings are quoted so an empty value shows.
func dumpConfig(cfg *Config) []string {
	var out []string
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Type() {
		case sizeType:
			out = append(out, path+": "+Size(v.Int()).String())
			return
		case durationType:
			out = append(out, path+": "+time.Duration(v.Int()).String())
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(joinPath(path, v.Type().Field(i).Tag.Get("koanf")), v.Field(i))
			}
		case reflect.Slice:
			if v.Len() == 0 {
				out = append(out, path+": []")
			}
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			if v.Len() == 0 {
				out = append(out, path+": {}")
				return
			}
			if v.Type().Elem().Kind() == reflect.Interface {
				b, _ := json.Marshal(v.Interface())
				out = append(out, path+": "+string(b))
				return
			}
			keys := v.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				walk(path+"."+k.String(), v.MapIndex(k))
			}
		case reflect.String:
			out = append(out, path+": "+strconv.Quote(v.String()))
		default:
			out = append(out, fmt.Sprintf("%s: %v", path, v.Interface()))
		}
	}
	walk("", reflect.ValueOf(cfg).Elem())
	return out
}
