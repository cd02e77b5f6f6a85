package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// completionCmd prints a completion script generated from the command
// table, so a new command or flag is completed without editing scripts.
func completionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: otlpgw completion bash|zsh|fish")
		return exitUndelivered
	}
	switch args[0] {
	case "bash":
		writeBashCompletion(stdout)
	case "zsh":
		writeZshCompletion(stdout)
	case "fish":
		writeFishCompletion(stdout)
	default:
		fmt.Fprintf(stderr, "otlpgw completion: unknown shell %q (want bash, zsh or fish)\n", args[0])
		return exitUndelivered
	}
	return exitOK
}

// flagInfo is one flag of a command, for completion.
type flagInfo struct {
	name, usage string
	isBool      bool
	values      []string // fixed values, when the flag has them
	file        bool     // the value is a file name
}

func commandFlags(c command) []flagInfo {
	out := []flagInfo{{name: "help", usage: "show this command's help", isBool: true}}
	if c.flags == nil {
		return out
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		fi := flagInfo{name: f.Name, usage: f.Usage}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			fi.isBool = true
		}
		switch f.Name {
		case "config", "module", "out":
			fi.file = true
		case "signal":
			fi.values = []string{"traces", "metrics", "logs"}
		}
		out = append(out, fi)
	})
	return out
}

// topWords are the words that may follow otlpgw, and the second words of
// two-word commands ("filter" → "test").
func topWords() ([]string, map[string][]string) {
	var top []string
	second := map[string][]string{}
	seen := map[string]bool{}
	for _, c := range commands {
		first, sub, two := strings.Cut(c.name, " ")
		if !seen[first] {
			seen[first] = true
			top = append(top, first)
		}
		if two {
			second[first] = append(second[first], sub)
		}
	}
	return append(top, "help"), second
}

func writeBashCompletion(w io.Writer) {
	top, second := topWords()
	fmt.Fprintf(w, `# bash completion for otlpgw. Load it with: source <(otlpgw completion bash)
_otlpgw() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local cmd="${COMP_WORDS[1]}" first=2
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W %q -- "$cur"))
        return
    fi
    case "$cmd" in
`, strings.Join(top, " "))
	for _, first := range sortedKeys(second) {
		fmt.Fprintf(w, "    %s)\n        if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n        cmd=\"%s ${COMP_WORDS[2]}\"; first=3 ;;\n", first, strings.Join(second[first], " "), first)
	}
	fmt.Fprintf(w, "    help)\n        COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n    esac\n", strings.Join(top[:len(top)-1], " "))
	fmt.Fprintf(w, "    local flags=\"\" args=\"\"\n    case \"$cmd\" in\n")
	for _, c := range commands {
		var names []string
		var fileFlags, valueCases []string
		for _, f := range commandFlags(c) {
			names = append(names, "--"+f.name)
			if f.file {
				fileFlags = append(fileFlags, "--"+f.name)
			}
			if f.values != nil {
				valueCases = append(valueCases, fmt.Sprintf("--%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;", f.name, strings.Join(f.values, " ")))
			}
		}
		fmt.Fprintf(w, "    %q)\n        flags=%q\n", c.name, strings.Join(names, " "))
		if len(c.args) > 0 && c.args[0] != "FILE" {
			fmt.Fprintf(w, "        args=%q\n", strings.Join(c.args, " "))
		}
		if len(fileFlags) > 0 || len(valueCases) > 0 {
			fmt.Fprintf(w, "        case \"$prev\" in\n")
			if len(fileFlags) > 0 {
				fmt.Fprintf(w, "            %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", strings.Join(fileFlags, "|"))
			}
			for _, vc := range valueCases {
				fmt.Fprintf(w, "            %s\n", vc)
			}
			fmt.Fprintf(w, "        esac ;;\n")
		} else {
			fmt.Fprintf(w, "        ;;\n")
		}
	}
	fmt.Fprint(w, `    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [ -n "$args" ]; then
        COMPREPLY=($(compgen -W "$args" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    : "$first"
}
complete -o default -F _otlpgw otlpgw
`)
}

// zshQuote makes s safe inside a single-quoted zsh word and inside the
// [...] of an _arguments spec or after the ':' of a _describe entry.
func zshQuote(s string) string {
	s = strings.NewReplacer("'", `'\''`, "[", "(", "]", ")", ":", `\:`).Replace(s)
	return s
}

func writeZshCompletion(w io.Writer) {
	top, second := topWords()
	fmt.Fprint(w, "#compdef otlpgw\n# zsh completion for otlpgw. Install: otlpgw completion zsh > \"${fpath[1]}/_otlpgw\"\n_otlpgw() {\n  local -a cmds\n  cmds=(\n")
	summaries := map[string]string{"help": "show a command's help"}
	for _, c := range commands {
		first, _, two := strings.Cut(c.name, " ")
		if two {
			summaries[first] = "see: otlpgw " + c.name + " --help"
		} else {
			summaries[first] = c.summary
		}
	}
	for _, t := range top {
		fmt.Fprintf(w, "    '%s:%s'\n", t, zshQuote(summaries[t]))
	}
	fmt.Fprint(w, "  )\n  if (( CURRENT == 2 )); then\n    _describe 'command' cmds\n    return\n  fi\n  local cmd=\"${words[2]}\"\n  case \"$cmd\" in\n")
	for _, first := range sortedKeys(second) {
		fmt.Fprintf(w, "    %s)\n      if (( CURRENT == 3 )); then compadd %s; return; fi\n      cmd=\"%s ${words[3]}\" ;;\n", first, strings.Join(second[first], " "), first)
	}
	fmt.Fprintf(w, "    help) compadd %s; return ;;\n  esac\n  case \"$cmd\" in\n", strings.Join(top[:len(top)-1], " "))
	for _, c := range commands {
		fmt.Fprintf(w, "    '%s')\n      _arguments", c.name)
		for _, f := range commandFlags(c) {
			spec := fmt.Sprintf("--%s[%s]", f.name, zshQuote(f.usage))
			if f.name == "config" {
				spec = "*" + spec
			}
			switch {
			case f.isBool:
			case f.file:
				spec += ":file:_files"
			case f.values != nil:
				spec += ":" + f.name + ":(" + strings.Join(f.values, " ") + ")"
			default:
				spec += ":" + f.name + ": "
			}
			fmt.Fprintf(w, " \\\n        '%s'", spec)
		}
		switch {
		case len(c.args) > 0 && c.args[0] == "FILE":
			fmt.Fprint(w, " \\\n        '1:file:_files'")
		case len(c.args) > 0:
			fmt.Fprintf(w, " \\\n        '1:arg:(%s)'", strings.Join(c.args, " "))
		}
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, "  esac\n}\nif [ \"$funcstack[1]\" = \"_otlpgw\" ]; then\n  _otlpgw \"$@\"\nelse\n  compdef _otlpgw otlpgw\nfi\n")
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func writeFishCompletion(w io.Writer) {
	top, second := topWords()
	fmt.Fprint(w, "# fish completion for otlpgw. Install: otlpgw completion fish > ~/.config/fish/completions/otlpgw.fish\ncomplete -c otlpgw -f\n")
	for _, t := range top {
		desc := "show a command's help"
		for _, c := range commands {
			if first, _, two := strings.Cut(c.name, " "); first == t {
				desc = c.summary
				if two {
					desc = "see: otlpgw " + c.name + " --help"
				}
				break
			}
		}
		fmt.Fprintf(w, "complete -c otlpgw -n __fish_use_subcommand -a %s -d %s\n", t, fishQuote(desc))
	}
	for _, first := range sortedKeys(second) {
		for _, sub := range second[first] {
			fmt.Fprintf(w, "complete -c otlpgw -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %s -d %s\n", first, sub, sub, fishQuote(findCommand(first+" "+sub).summary))
		}
	}
	for _, c := range commands {
		cond := "__fish_seen_subcommand_from " + c.name
		if first, sub, two := strings.Cut(c.name, " "); two {
			cond = "__fish_seen_subcommand_from " + first + "; and __fish_seen_subcommand_from " + sub
		}
		for _, f := range commandFlags(c) {
			line := fmt.Sprintf("complete -c otlpgw -n '%s' -l %s", cond, f.name)
			switch {
			case f.isBool:
			case f.file:
				line += " -r -F"
			case f.values != nil:
				line += " -x -a " + fishQuote(strings.Join(f.values, " "))
			default:
				line += " -x"
			}
			fmt.Fprintf(w, "%s -d %s\n", line, fishQuote(f.usage))
		}
		switch {
		case len(c.args) > 0 && c.args[0] == "FILE":
			fmt.Fprintf(w, "complete -c otlpgw -n '%s' -F\n", cond)
		case len(c.args) > 0:
			fmt.Fprintf(w, "complete -c otlpgw -n '%s' -a %s\n", cond, fishQuote(strings.Join(c.args, " ")))
		}
	}
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
