// Command dockercheck reproduces the build stage of the Dockerfile without a
// Docker engine, so CI catches a Dockerfile that cannot build (issue 9: the
// image once ran `go mod download` before the ./sdk module it replaces was
// copied). It reads the Dockerfile, performs each COPY of the build stage
// into an empty directory honouring .dockerignore, runs each RUN there with
// WORKDIR, ARG and ENV applied, and then checks that every file the final
// stage copies out of the build stage exists and that the binary runs.
//
// Absolute paths of the build stage (its WORKDIRs, COPY destinations and
// the paths the final stage copies from) are mapped under the temporary
// root, in RUN commands too; everything else runs on the host, with the
// host's Go build and module caches, so a warm run takes seconds.
//
// It also checks what a distroless final stage needs: ENTRYPOINT, CMD and
// HEALTHCHECK in exec form (there is no shell), naming the binary the stage
// copies in, and a golang base image whose Go is at least go.mod's (the
// image sets GOTOOLCHAIN=local, so an older one cannot build).
//
// Usage: go run ./scripts/dockercheck [-f Dockerfile] [-context DIR] [-keep]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	dockerfile := flag.String("f", "Dockerfile", "the Dockerfile")
	contextDir := flag.String("context", ".", "the build context")
	keep := flag.Bool("keep", false, "keep the temporary root (its path is printed)")
	flag.Parse()
	if err := check(*dockerfile, *contextDir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "docker-check: FAIL:", err)
		os.Exit(1)
	}
}

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

type stage struct {
	base, name string
	ins        []instruction
}

func check(dockerfile, contextDir string, keep bool) error {
	stages, err := parseDockerfile(dockerfile)
	if err != nil {
		return err
	}
	final := stages[len(stages)-1]
	buildName, outputs, err := checkFinal(final)
	if err != nil {
		return err
	}
	var build *stage
	for i := range stages {
		if stages[i].name == buildName {
			build = &stages[i]
		}
	}
	if build == nil {
		return fmt.Errorf("the final stage copies from %q, which no stage is named", buildName)
	}
	if err := checkGoVersion(build.base, filepath.Join(contextDir, "go.mod")); err != nil {
		return err
	}
	ignore, err := readDockerignore(filepath.Join(contextDir, ".dockerignore"))
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "docker-check-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("docker-check: root", root)
	} else {
		defer os.RemoveAll(root)
	}
	var srcs []string
	for _, o := range outputs {
		srcs = append(srcs, o.src)
	}
	if err := runStage(build, contextDir, root, ignore, srcs); err != nil {
		return err
	}
	for _, o := range outputs {
		if _, err := os.Stat(filepath.Join(root, o.src)); err != nil {
			return fmt.Errorf("the build stage did not produce %s (the final stage copies it to %s)", o.src, o.dst)
		}
	}
	bin := filepath.Join(root, outputs[0].src)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %v\n%s", outputs[0].src, err, out)
	}
	fmt.Printf("docker-check: build stage %q produced %s; `%s version` says:\n%s", build.name, outputs[0].src, path.Base(outputs[0].dst), out)
	return nil
}

// parseDockerfile splits the file into stages of instructions, joining
// continuation lines and dropping comments.
func parseDockerfile(name string) ([]stage, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages []stage
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	lineNo, startLine := 0, 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: startLine, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			st := stage{base: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s before FROM", name, in.line, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if t := strings.TrimSpace(line); cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		} else if strings.HasPrefix(t, "#") {
			continue // comment lines inside a continued instruction
		}
		if cur.Len() == 0 {
			startLine = lineNo
		}
		if strings.HasSuffix(strings.TrimRight(line, " \t"), `\`) {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t"), `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(stages) < 2 {
		return nil, fmt.Errorf("%s: want a build stage and a final stage, found %d stage(s)", name, len(stages))
	}
	return stages, nil
}

type output struct{ src, dst string }

// checkFinal checks the final stage and returns the stage it copies from
// and what it copies, the binary first (ENTRYPOINT's).
func checkFinal(st stage) (string, []output, error) {
	var from string
	var outs []output
	var entry, health []string
	for _, in := range st.ins {
		switch in.cmd {
		case "COPY":
			flags, paths := copyArgs(in.args)
			f, ok := flags["from"]
			if !ok || len(paths) != 2 {
				continue
			}
			if from != "" && f != from {
				return "", nil, fmt.Errorf("line %d: the final stage copies from two stages (%s, %s); the check knows one", in.line, from, f)
			}
			from = f
			outs = append(outs, output{src: paths[0], dst: paths[1]})
		case "ENTRYPOINT", "CMD", "HEALTHCHECK":
			args := in.args
			if in.cmd == "HEALTHCHECK" {
				if strings.EqualFold(args, "NONE") {
					continue
				}
				i := strings.Index(args, "CMD ")
				if i < 0 {
					return "", nil, fmt.Errorf("line %d: HEALTHCHECK without CMD", in.line)
				}
				args = strings.TrimSpace(args[i+len("CMD "):])
			}
			var argv []string
			if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
				return "", nil, fmt.Errorf("line %d: %s must be in exec form [\"...\"]: the final image has no shell", in.line, in.cmd)
			}
			switch in.cmd {
			case "ENTRYPOINT":
				entry = argv
			case "HEALTHCHECK":
				health = argv
			}
		}
	}
	if from == "" {
		return "", nil, errors.New("the final stage copies nothing from a build stage")
	}
	if entry == nil {
		return "", nil, errors.New("the final stage has no ENTRYPOINT")
	}
	idx := -1
	for i, o := range outs {
		if o.dst == entry[0] {
			idx = i
		}
	}
	if idx < 0 {
		return "", nil, fmt.Errorf("ENTRYPOINT %s is not a file the final stage copies in", entry[0])
	}
	outs[0], outs[idx] = outs[idx], outs[0]
	if health == nil {
		return "", nil, errors.New("the final stage has no HEALTHCHECK (use CMD [\"<binary>\", \"healthcheck\"])")
	}
	if health[0] != entry[0] {
		return "", nil, fmt.Errorf("HEALTHCHECK runs %s, but the binary is %s", health[0], entry[0])
	}
	return from, outs, nil
}

// copyArgs splits COPY's arguments into --flags and paths (shell or JSON form).
func copyArgs(args string) (map[string]string, []string) {
	flags := map[string]string{}
	fields := strings.Fields(args)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(fields[0], "--"), "=")
		flags[k] = v
		fields = fields[1:]
	}
	rest := strings.Join(fields, " ")
	var paths []string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &paths) == nil {
		return flags, paths
	}
	return flags, fields
}

var goTag = regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?`)

// checkGoVersion compares a golang:X.Y[.Z] base image with go.mod's go line.
func checkGoVersion(base, gomod string) error {
	m := goTag.FindStringSubmatch(base)
	if m == nil {
		return nil
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(string(data))
	if want == nil {
		return nil
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for i := 1; i <= 3; i++ {
		img, mod := num(m[i]), num(want[i])
		if i == 3 && m[3] == "" {
			return nil // golang:X.Y floats to the newest X.Y.Z
		}
		if img != mod {
			if img < mod {
				return fmt.Errorf("base image %s is older than go.mod's go %s.%s.%s (the image sets GOTOOLCHAIN=local)", base, want[1], want[2], want[3])
			}
			return nil
		}
	}
	return nil
}

// ignoreRule is one .dockerignore line.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(name string) ([]ignoreRule, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rules []ignoreRule
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		r.re = regexp.MustCompile("^" + globToRegexp(line) + "$")
		rules = append(rules, r)
	}
	return rules, nil
}

// globToRegexp translates Docker's patterns (filepath.Match plus **).
func globToRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					b.WriteString(`(?:.*/)?`)
				} else {
					b.WriteString(`.*`)
				}
			} else {
				b.WriteString(`[^/]*`)
			}
		case '?':
			b.WriteString(`[^/]`)
		case '[':
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := p[i+1 : i+j]
			if strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(string(p[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// ignored reports whether rel (slash-separated, relative to the context)
// is excluded: the last rule matching it or one of its parents decides.
func ignored(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		for p := rel; p != "." && p != ""; p = path.Dir(p) {
			if r.re.MatchString(p) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

// runStage performs the stage's COPY and RUN instructions under root.
func runStage(st *stage, contextDir, root string, ignore []ignoreRule, outputs []string) error {
	vars := map[string]string{}
	workdir := "/"
	// Absolute paths owned by the stage are mapped under root; collect
	// their first components from WORKDIR, COPY destinations and outputs.
	owned := map[string]bool{}
	own := func(p string) {
		if path.IsAbs(p) {
			if first := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")[0]; first != "" {
				owned[first] = true
			}
		}
	}
	for _, o := range outputs {
		own(o)
	}
	for _, in := range st.ins {
		switch in.cmd {
		case "WORKDIR":
			own(in.args)
		case "COPY":
			_, paths := copyArgs(in.args)
			if len(paths) > 0 {
				own(paths[len(paths)-1])
			}
		}
	}
	var names []string
	for k := range owned {
		names = append(names, regexp.QuoteMeta(k))
	}
	var ownedRe *regexp.Regexp
	if len(names) > 0 {
		ownedRe = regexp.MustCompile(`(^|[\s=:"'(])/(` + strings.Join(names, "|") + `)(/|[\s;"')]|$)`)
	}
	mapped := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	expand := func(s string) string { return os.Expand(s, func(k string) string { return vars[k] }) }

	for _, in := range st.ins {
		switch in.cmd {
		case "ARG", "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, hasValue := strings.Cut(kv, "=")
				if in.cmd == "ENV" && !hasValue {
					return fmt.Errorf("line %d: write ENV %s=VALUE (the check reads only that form)", in.line, kv)
				}
				if _, set := vars[k]; in.cmd == "ARG" && set {
					continue
				}
				vars[k] = expand(strings.Trim(v, `"`))
			}
		case "WORKDIR":
			wd := expand(in.args)
			if !path.IsAbs(wd) {
				wd = path.Join(workdir, wd)
			}
			workdir = wd
			if err := os.MkdirAll(mapped(workdir), 0o755); err != nil {
				return err
			}
		case "COPY":
			flags, paths := copyArgs(expand(in.args))
			if _, ok := flags["from"]; ok {
				return fmt.Errorf("line %d: COPY --from in the build stage is not supported by the check", in.line)
			}
			if len(paths) < 2 {
				return fmt.Errorf("line %d: COPY wants a source and a destination", in.line)
			}
			dst := paths[len(paths)-1]
			if !path.IsAbs(dst) {
				dst = path.Join(workdir, dst) + map[bool]string{true: "/"}[strings.HasSuffix(dst, "/") || dst == "."]
			}
			fmt.Printf("docker-check: line %d: COPY %s\n", in.line, in.args)
			if err := doCopy(contextDir, paths[:len(paths)-1], mapped(dst), strings.HasSuffix(dst, "/") || len(paths) > 2, ignore); err != nil {
				return fmt.Errorf("line %d: COPY %s: %w", in.line, in.args, err)
			}
		case "RUN":
			cmdText := in.args
			var argv []string
			if strings.HasPrefix(cmdText, "[") && json.Unmarshal([]byte(cmdText), &argv) == nil {
				cmdText = strings.Join(argv, " ") // exec form: run it the same way for the check
			}
			if ownedRe != nil {
				cmdText = ownedRe.ReplaceAllString(cmdText, "${1}"+root+"/${2}${3}")
			}
			fmt.Printf("docker-check: line %d: RUN %s\n", in.line, in.args)
			c := exec.Command("/bin/sh", "-c", cmdText)
			c.Dir = mapped(workdir)
			c.Env = os.Environ()
			// The golang images set GOTOOLCHAIN=local: a go.mod newer
			// than the image fails there, so it fails here too.
			c.Env = append(c.Env, "GOTOOLCHAIN=local")
			for k, v := range vars {
				c.Env = append(c.Env, k+"="+v)
			}
			c.Stdout, c.Stderr = os.Stdout, os.Stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("line %d: RUN %s: %v", in.line, in.args, err)
			}
		case "USER", "EXPOSE", "LABEL", "SHELL", "STOPSIGNAL", "VOLUME", "ONBUILD", "HEALTHCHECK", "CMD", "ENTRYPOINT":
			// Nothing to reproduce for the build's output.
		default:
			return fmt.Errorf("line %d: %s in the build stage is not supported by the check", in.line, in.cmd)
		}
	}
	return nil
}

// doCopy copies context sources to dst as COPY does: a directory's
// contents, a file by name into a directory destination, ignored files not
// at all (naming an ignored source is an error, as in Docker).
func doCopy(contextDir string, srcs []string, dst string, dstIsDir bool, ignore []ignoreRule) error {
	for _, src := range srcs {
		matches, err := filepath.Glob(filepath.Join(contextDir, filepath.FromSlash(src)))
		if err != nil {
			return err
		}
		var kept []string
		for _, m := range matches {
			rel, _ := filepath.Rel(contextDir, m)
			if rel == "." || !ignored(ignore, filepath.ToSlash(rel)) {
				kept = append(kept, m)
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("%s: not found in the build context (or excluded by .dockerignore)", src)
		}
		for _, m := range kept {
			fi, err := os.Stat(m)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				if err := copyTree(contextDir, m, dst, ignore); err != nil {
					return err
				}
				continue
			}
			target := dst
			if dstIsDir || len(kept) > 1 {
				target = filepath.Join(dst, filepath.Base(m))
			}
			if err := copyFile(m, target, fi.Mode()); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyTree(contextDir, dir, dst string, ignore []ignoreRule) error {
	negations := false
	for _, r := range ignore {
		negations = negations || r.negate
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(contextDir, p)
		if rel != "." && ignored(ignore, filepath.ToSlash(rel)) {
			if d.IsDir() && !negations {
				return filepath.SkipDir
			}
			return nil
		}
		sub, _ := filepath.Rel(dir, p)
		target := filepath.Join(dst, sub)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, fi.Mode())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
