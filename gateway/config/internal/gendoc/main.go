// Command gendoc writes docs/config.md, the configuration reference, from
// the config structs: every key path with its type, its default (from
// config.Default and the per-entry defaults), whether a hot reload
// changes it (the reload struct tag) and what it is for (the field's
// comment, read from gateway/config/config.go with go/ast).
//
// Run it from anywhere in the module: go run ./gateway/config/internal/gendoc
// (or make docs, or go generate ./gateway/config). TestDocIsCurrent fails
// when the committed file differs from what it writes.
package main

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/otlpgw/otlpgw/gateway/config"
)

//go:embed intro.md
var intro string

//go:embed outro.md
var outro string

func main() {
	check := flag.Bool("check", false, "do not write: exit 1 when docs/config.md is not current")
	flag.Parse()
	root, err := moduleRoot()
	if err == nil {
		err = run(root, *check)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	out := filepath.Join(root, "docs", "config.md")
	doc, err := generate(filepath.Join(root, "gateway", "config", "config.go"))
	if err != nil {
		return err
	}
	if check {
		cur, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(cur, doc) {
			return errors.New("docs/config.md is not current: run make docs")
		}
		return nil
	}
	return os.WriteFile(out, doc, 0o644)
}

// moduleRoot is the nearest directory up from the working directory
// holding go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("no go.mod above the working directory")
		}
		d = p
	}
}

// comments are the doc comments of config.go: of each type, and of each
// field by type and field name.
type comments struct {
	types  map[string]string
	fields map[string]map[string]string
}

func parseComments(path string) (comments, error) {
	c := comments{types: map[string]string{}, fields: map[string]map[string]string{}}
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		return c, err
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil && len(gd.Specs) == 1 {
				doc = gd.Doc
			}
			c.types[ts.Name.Name] = text(doc)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			fm := map[string]string{}
			prev := ""
			for _, fl := range st.Fields.List {
				t := text(fl.Doc)
				if t == "" {
					t = text(fl.Comment)
				}
				if t == "" {
					// "CertFile and KeyFile are ...": the comment above the
					// first of a pair describes both.
					t = prev
				}
				for _, n := range fl.Names {
					fm[n.Name] = t
				}
				prev = t
			}
			c.fields[ts.Name.Name] = fm
		}
	}
	return c, nil
}

// text is a comment group as one paragraph; lines indented under it (a
// list of presets) keep their own lines.
func text(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(g.Text()), "\n") {
		switch {
		case strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t"):
			b.WriteString("<br>`" + strings.TrimSpace(l) + "`")
		case b.Len() > 0:
			b.WriteString(" " + l)
		default:
			b.WriteString(l)
		}
	}
	return b.String()
}

// row is one key of the reference.
type row struct {
	path, typ, def, reload, doc string
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[config.Size]()
)

// walk lists every key below v (of struct type t named in comments),
// depth first in field order. reload is the tag in force from above.
func walk(c comments, path string, v reflect.Value, reload string, rows *[]row, sections *[]section) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("koanf")
		if key == "" {
			continue
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		r := reload
		if tag := f.Tag.Get("reload"); tag != "" {
			r = tag
		}
		doc := keyed(c.fields[t.Name()][f.Name], t)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			if td := keyed(c.types[f.Type.Name()], f.Type); td != "" && td != doc {
				doc = strings.TrimSpace(doc + " " + td)
			}
		}
		if f.Tag.Get("secret") == "true" {
			doc += " *Secret: shown as `" + config.Redacted + "` by config print and /-/config.*"
		}
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != durationType:
			*rows = append(*rows, row{p, "mapping", "", reloadText(r), doc})
			walk(c, p, fv, r, rows, sections)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			// A list of entries: its keys get their own table, with the
			// defaults every entry starts from.
			*rows = append(*rows, row{p, "list of mappings", listDefault(fv), reloadText(r), doc + " Each entry's keys are below."})
			elem := reflect.New(f.Type.Elem()).Elem()
			switch f.Type.Elem() {
			case reflect.TypeFor[config.Exporter]():
				elem.Set(reflect.ValueOf(config.DefaultExporter()))
			case reflect.TypeFor[config.Filter]():
				elem.Set(reflect.ValueOf(config.DefaultFilter()))
			}
			var sub []row
			walk(c, p+"[]", elem, r, &sub, sections)
			*sections = append(*sections, section{title: p + "[]", doc: c.types[f.Type.Elem().Name()], rows: sub})
		default:
			*rows = append(*rows, row{p, typeName(f.Type), defaultText(fv), reloadText(r), doc})
		}
	}
}

// keyed makes a comment written for Go read for operators: a leading Go
// name of t's fields ("CertFile and KeyFile are ...") becomes its key.
func keyed(doc string, t reflect.Type) string {
	keys := map[string]string{}
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("koanf"); k != "" {
			keys[t.Field(i).Name] = k
		}
	}
	keys[t.Name()] = "" // "GRPCReceiver is the ..." describes the key itself
	words := strings.SplitN(doc, " ", 4)
	if len(words) < 2 {
		return doc
	}
	k, ok := keys[strings.TrimRight(words[0], ",")]
	if !ok {
		return doc
	}
	if k == "" {
		rest := doc[len(words[0])+1:]
		if words[1] == "is" || words[1] == "are" {
			rest = rest[len(words[1])+1:]
		}
		return strings.ToUpper(rest[:1]) + rest[1:]
	}
	out := "`" + k + "`" + doc[len(strings.TrimRight(words[0], ",")):]
	if len(words) > 3 && words[1] == "and" {
		if k2, ok := keys[words[2]]; ok && k2 != "" {
			out = strings.Replace(out, " and "+words[2]+" ", " and `"+k2+"` ", 1)
		}
	}
	return out
}

func reloadText(tag string) string {
	switch tag {
	case "":
		return "hot"
	case "restart":
		return "restart"
	case "endpoint":
		return "restart, unless the endpoint changes too"
	}
	panic("unknown reload tag " + strconv.Quote(tag))
}

func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case sizeType:
		return "size"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return "mapping (free-form)"
		}
		return "mapping of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	}
	return t.String()
}

func defaultText(v reflect.Value) string {
	switch v.Type() {
	case durationType:
		return "`" + time.Duration(v.Int()).String() + "`"
	case sizeType:
		return "`" + config.Size(v.Int()).String() + "`"
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return ""
		}
		return "`" + v.String() + "`"
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return ""
		}
	}
	return "`" + fmt.Sprint(v.Interface()) + "`"
}

func listDefault(v reflect.Value) string {
	if v.Len() == 0 {
		return ""
	}
	names := make([]string, v.Len())
	for i := range v.Len() {
		names[i] = v.Index(i).FieldByName("Name").String()
	}
	return "`" + strings.Join(names, "`, `") + "`"
}

type section struct {
	title, doc string
	rows       []row
}

func generate(src string) ([]byte, error) {
	c, err := parseComments(src)
	if err != nil {
		return nil, err
	}
	var top []row
	var lists []section
	walk(c, "", reflect.ValueOf(config.Default()), "", &top, &lists)
	var b bytes.Buffer
	b.WriteString("<!-- Generated by go run ./gateway/config/internal/gendoc (make docs) from gateway/config/config.go. DO NOT EDIT. -->\n\n")
	b.WriteString(intro)
	writeTable(&b, section{title: "Top-level keys", rows: top})
	for _, s := range lists {
		writeTable(&b, s)
	}
	b.WriteString(outro)
	return b.Bytes(), nil
}

func writeTable(b *bytes.Buffer, s section) {
	fmt.Fprintf(b, "\n## %s\n\n", s.title)
	if s.doc != "" {
		b.WriteString(s.doc + "\n\n")
	}
	b.WriteString("| key | type | default | reload | description |\n|---|---|---|---|---|\n")
	for _, r := range s.rows {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", r.path, r.typ, cell(r.def), r.reload, cell(r.doc))
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
