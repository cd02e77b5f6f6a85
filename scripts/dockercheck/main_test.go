package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIgnoredFollowsDockerignoreRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("# c\n.git\nbin/\n**/*.tmp\ndocs/*.md\n!docs/keep.md\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := readDockerignore(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		".git": true, ".git/HEAD": true, "bin/otlpgw": true, "a/b/c.tmp": true, "x.tmp": true,
		"docs/a.md": true, "docs/keep.md": false, "docs/sub/a.md": false, "go.mod": false, "gateway/bin.go": false,
	} {
		if got := ignored(rules, path); got != want {
			t.Errorf("ignored(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestFinalStageNeedsExecFormNamingTheBinary(t *testing.T) {
	for name, tc := range map[string]struct{ dockerfile, wantErr string }{
		"ok":                  {`HEALTHCHECK CMD ["/bin/x", "healthcheck"]` + "\nENTRYPOINT [\"/bin/x\"]", ""},
		"shell form":          {"HEALTHCHECK CMD /bin/x healthcheck\nENTRYPOINT [\"/bin/x\"]", "exec form"},
		"other binary":        {`HEALTHCHECK CMD ["/bin/y"]` + "\nENTRYPOINT [\"/bin/x\"]", "HEALTHCHECK runs /bin/y"},
		"entrypoint not copy": {`ENTRYPOINT ["/bin/z"]`, "not a file the final stage copies"},
		"no healthcheck":      {`ENTRYPOINT ["/bin/x"]`, "no HEALTHCHECK"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "Dockerfile")
			text := "FROM golang AS build\nRUN true\nFROM scratch\nCOPY --from=build /out/x /bin/x\n" + tc.dockerfile + "\n"
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			stages, err := parseDockerfile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, outs, err := checkFinal(stages[len(stages)-1])
			if tc.wantErr == "" {
				if err != nil || outs[0].src != "/out/x" {
					t.Fatalf("got %v, %v", outs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
