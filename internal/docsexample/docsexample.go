package docsexample

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Files are the Markdown files whose examples run, relative to the module
// root, in the order they run; a pattern's files run in sorted order.
var Files = []string{"README.md", "docs/*.md", "packaging/debian/README.md"}

// Marker starts a block's marker comment.
const Marker = "<!-- docs-test:"

// Block is one ```sh block of a Markdown file.
type Block struct {
	File    string // relative to the module root
	Line    int    // 1-based line of the opening fence
	NotRun  string // the reason it does not run, "" if it runs
	Package bool   // run by the Debian package test, not the integration one
	Cmds    []Cmd
	Problem string // why the block is malformed, "" if it is not
}

// Cmd is one command of a block with what it must do.
type Cmd struct {
	Line   int    // 1-based line in the file where the command starts
	Text   string // the command, continuation lines joined with newlines
	Exit   int    // expected exit status
	Out    string // expected standard output (trimmed), if HasOut; … is any text
	HasOut bool
}

// Name is the block's file and line, file:line.
func (b Block) Name() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

var (
	// trailingComment is a shell comment at the end of a line: a # after
	// white space. The expectation is read from the last one.
	trailingComment = regexp.MustCompile(`(?:^|\s)#\s?([^#]*)$`)
	exitExpect      = regexp.MustCompile(`^exit (\d+)\b`)
	markerRe        = regexp.MustCompile(`^<!-- docs-test: (.*?)\s*-->$`)
)

// Parse returns the shell blocks of a Markdown file's text, and those of
// other languages that carry a marker (as malformed).
func Parse(file string, text []byte) []Block {
	var blocks []Block
	lines := strings.Split(string(text), "\n")
	prev := "" // the last non-blank line outside a block
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(trimmed, "```") {
			if trimmed != "" {
				prev = trimmed
			}
			continue
		}
		lang := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		marker := ""
		if strings.HasPrefix(prev, Marker) {
			marker = prev
		}
		prev = ""
		b := Block{File: file, Line: start + 1}
		switch lang {
		case "sh":
		case "bash", "shell", "console", "zsh", "shell-session":
			b.Problem = fmt.Sprintf("a shell block fenced as %q: fence it as sh so that it runs", lang)
			blocks = append(blocks, b)
			continue
		default:
			if marker != "" {
				b.Problem = fmt.Sprintf("docs-test marker before a %q block, which never runs", lang)
				blocks = append(blocks, b)
			}
			continue
		}
		if i >= len(lines) {
			b.Problem = "block not closed"
			blocks = append(blocks, b)
			break
		}
		if marker != "" {
			b.NotRun, b.Package, b.Problem = parseMarker(marker)
		}
		b.Cmds = parseCmds(body, start+2)
		blocks = append(blocks, b)
	}
	return blocks
}

// parseMarker reads a marker line: a block not run and why, a block of the
// package test, or a problem.
func parseMarker(marker string) (notRun string, pkg bool, problem string) {
	m := markerRe.FindStringSubmatch(marker)
	if m == nil {
		return "", false, fmt.Sprintf("unknown marker %q: want <!-- docs-test: not run: REASON --> or <!-- docs-test: package -->", marker)
	}
	if m[1] == "package" {
		return "", true, ""
	}
	reason, ok := strings.CutPrefix(m[1], "not run:")
	reason = strings.TrimSpace(reason)
	switch {
	case !ok:
		return "", false, fmt.Sprintf("unknown marker %q: want <!-- docs-test: not run: REASON --> or <!-- docs-test: package -->", marker)
	case reason == "":
		return "", false, "a block not run must say why: <!-- docs-test: not run: REASON -->"
	}
	return reason, false, ""
}

// parseCmds splits a block's lines (the first is line first of the file)
// into commands and reads their expectations.
func parseCmds(body []string, first int) []Cmd {
	var cmds []Cmd
	for j := 0; j < len(body); j++ {
		t := strings.TrimSpace(body[j])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := Cmd{Line: first + j}
		text := body[j]
		for strings.HasSuffix(strings.TrimRight(body[j], " \t"), `\`) && j+1 < len(body) {
			j++
			text += "\n" + body[j]
		}
		c.Text = text
		last := body[j]
		if m := trailingComment.FindStringSubmatch(last); m != nil {
			note := strings.TrimSpace(m[1])
			if e := exitExpect.FindStringSubmatch(note); e != nil {
				c.Exit, _ = strconv.Atoi(e[1]) // \d+ that does not fit: 0, and the check says so
			}
			if _, out, ok := strings.Cut(note, "→"); ok {
				c.Out, c.HasOut = strings.TrimSpace(out), true
			}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// ReadFiles reads the blocks of every file of patterns (Files, usually)
// under root, in order. A pattern without a wildcard must name a file.
func ReadFiles(root string, patterns []string) ([]Block, error) {
	var blocks []Block
	for _, pat := range patterns {
		files, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return nil, fmt.Errorf("documentation files %s: %w", pat, err)
		}
		if len(files) == 0 && !strings.Contains(pat, "*") {
			return nil, fmt.Errorf("documentation file %s: missing", pat)
		}
		slices.Sort(files)
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("documentation file: %w", err)
			}
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return nil, fmt.Errorf("documentation file %s: %w", f, err)
			}
			blocks = append(blocks, Parse(rel, text)...)
		}
	}
	return blocks, nil
}

// Script is the bash program that runs the block's commands one by one,
// each command's output and exit status in dir/N.out, N.err, N.rc; it
// stops, with status 0, after the first command whose status is not the
// expected one. Run it with bash -o pipefail.
func (b Block) Script(dir string) string {
	var s strings.Builder
	s.WriteString("exec </dev/null\n")
	for i, c := range b.Cmds {
		p := filepath.Join(dir, strconv.Itoa(i))
		fmt.Fprintf(&s, "{ %s\n} >%q 2>%q\n", c.Text, p+".out", p+".err")
		fmt.Fprintf(&s, "__rc=$?; echo $__rc >%q; [ $__rc = %d ] || exit 0\n", p+".rc", c.Exit)
	}
	return s.String()
}

// Check compares command i's result, recorded in dir by the block's
// Script, with its expectations; ran is false when the block stopped
// before it.
func (c Cmd) Check(dir string, i int) (ran bool, problem string) {
	p := filepath.Join(dir, strconv.Itoa(i))
	rcText, err := os.ReadFile(p + ".rc")
	if err != nil {
		return false, ""
	}
	out, _ := os.ReadFile(p + ".out")
	errOut, _ := os.ReadFile(p + ".err")
	rc, err := strconv.Atoi(strings.TrimSpace(string(rcText)))
	if err != nil {
		rc = -1
	}
	got := strings.TrimSpace(string(out))
	show := func() string {
		return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", lastLines(out, 10), lastLines(errOut, 10))
	}
	switch {
	case rc != c.Exit:
		return true, fmt.Sprintf("exit status %d, want %d\n%s", rc, c.Exit, show())
	case c.HasOut && !OutputMatches(got, c.Out):
		return true, fmt.Sprintf("output is not %q\n%s", c.Out, show())
	}
	return true, ""
}

// Check compares the results of the block's commands, recorded in dir by
// its Script, with their expectations: one problem per command that did
// not do what it should, each naming the file, line and command. Commands
// after the block stopped are not checked; the one it stopped at has a
// problem.
func (b Block) Check(dir string) []string {
	var problems []string
	for i, c := range b.Cmds {
		ran, problem := c.Check(dir, i)
		if !ran {
			break
		}
		if problem != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: %s\n%s", b.File, c.Line, FirstLine(c.Text), problem))
		}
	}
	return problems
}

// OutputMatches reports whether got is want, where each "…" of want
// stands for any text (none included).
func OutputMatches(got, want string) bool {
	parts := strings.Split(want, "…")
	if len(parts) == 1 {
		return got == want
	}
	rest, ok := strings.CutPrefix(got, parts[0])
	if !ok {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

// FirstLine is the first line of s.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// lastLines is the last n lines of b.
func lastLines(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
