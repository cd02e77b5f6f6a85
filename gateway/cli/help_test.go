package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHelpExitsZeroAndShowsSummaryFlagsAndExample(t *testing.T) {
	if len(commands) < 8 {
		t.Fatalf("the command table has %d entries", len(commands))
	}
	for _, c := range commands {
		for _, flagWord := range []string{"--help", "-h"} {
			t.Run(c.name+" "+flagWord, func(t *testing.T) {
				args := append(strings.Fields(c.name), flagWord)
				var stdout, stderr bytes.Buffer
				if code := Main(args, &stdout, &stderr); code != 0 {
					t.Fatalf("otlpgw %s exited %d; stderr %q", strings.Join(args, " "), code, stderr.String())
				}
				out := stdout.String()
				if !strings.HasPrefix(out, "otlpgw "+c.name+": "+c.summary+"\n") {
					t.Errorf("help does not start with the one-line description:\n%s", out)
				}
				if !strings.Contains(out, "\nExample:\n  otlpgw ") && !strings.Contains(out, "\nExample:\n  source <(otlpgw") {
					t.Errorf("help has no example:\n%s", out)
				}
				for _, f := range commandFlags(c)[1:] {
					if !strings.Contains(out, "-"+f.name) {
						t.Errorf("help does not list the flag --%s:\n%s", f.name, out)
					}
				}
			})
		}
	}
	// Commands that take required flags answer help before checking them.
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"filter", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--module M") {
		t.Fatalf("otlpgw filter --help: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := Main([]string{"help", "diagnose"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "otlpgw diagnose: ") {
		t.Fatalf("otlpgw help diagnose: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := Main([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("otlpgw --help exited %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(stdout.String(), "  "+c.name+" ") {
			t.Errorf("the overview does not list %q:\n%s", c.name, stdout.String())
		}
	}
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"completion", shell}, &stdout, &stderr); code != 0 {
		t.Fatalf("completion %s exited %d: %s", shell, code, stderr.String())
	}
	return stdout.String()
}

func TestBashCompletionParsesAndCompletes(t *testing.T) {
	script := filepath.Join(t.TempDir(), "otlpgw.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// Run the completion function as bash would, for a few command lines.
	for line, want := range map[string]string{
		"otlpgw heal":                   "healthcheck",
		"otlpgw filter t":               "test",
		"otlpgw filter test --sig":      "--signal",
		"otlpgw filter test --signal m": "metrics",
		"otlpgw healthcheck --l":        "--live",
		"otlpgw completion z":           "zsh",
		"otlpgw run --co":               "--config",
	} {
		words := strings.Fields(line)
		probe := `source "$1"; COMP_WORDS=(` + strings.Join(words, " ") + `); COMP_CWORD=` + strconv.Itoa(len(words)-1) + `; _otlpgw; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", "-c", probe, "bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		if strings.TrimSpace(string(out)) != want {
			t.Errorf("completing %q gave %q, want %q", line, strings.TrimSpace(string(out)), want)
		}
	}
}

func TestZshAndFishCompletionNameEveryCommand(t *testing.T) {
	for _, shell := range []string{"zsh", "fish"} {
		script := completionScript(t, shell)
		for _, c := range commands {
			for _, word := range strings.Fields(c.name) {
				if !strings.Contains(script, word) {
					t.Errorf("%s completion lacks %q", shell, word)
				}
			}
			for _, f := range commandFlags(c) {
				spelled := "--" + f.name + "["
				if shell == "fish" {
					spelled = " -l " + f.name + " "
				}
				if !strings.Contains(script, spelled) {
					t.Errorf("%s completion lacks the flag --%s of %s", shell, f.name, c.name)
				}
			}
		}
	}
	if !strings.HasPrefix(completionScript(t, "zsh"), "#compdef otlpgw\n") {
		t.Error("the zsh script does not start with #compdef")
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"completion", "tcsh"}, &stdout, &stderr); code == 0 {
		t.Error("completion of an unknown shell exited 0")
	}
}
