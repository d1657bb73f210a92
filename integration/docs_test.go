package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The documentation's shell examples, run as a user would run them.
//
// Every ```sh block of README.md, docs/*.md and packaging/debian/README.md
// runs, in the order of the files and of the blocks in each, against one
// cluster of three nodes on 127.0.2.1-3, HTTP port 8181 (the demo's), in
// this package's private network namespace. The state carries over from
// block to block: a key stored in one block is there in the next.
//
// A block is one bash process (bash -o pipefail, stdin /dev/null, its own
// empty working directory; diststore and diststored on PATH;
// DISTSTORE_BIND=127.0.2.1, so that the CLI's "local node" is node 1 as
// on that node's host). Each command of it (a line, with its backslash
// continuations) runs in turn, with set -e semantics per line: the block
// stops at the first command whose exit status is not the one expected.
// With pipefail, a pipeline into a reader that stops early (grep -q,
// head) can fail by SIGPIPE at random: examples read all (grep -c, tail).
// A command's expectations are in its trailing comment:
//
//	diststore get greeting         # → hello
//	diststore get no-such-key      # exit 1
//	curl -X POST … /greeting       # → stored on …
//
// "exit N" at the start of the comment: the exit status (default 0).
// "→ TEXT" anywhere in it: standard output, with the surrounding white
// space trimmed, is TEXT, where each "…" stands for any text. Any other
// comment is prose and expects nothing but exit status 0.
//
// A block that cannot run here (it installs a package, needs root, three
// machines or a real eth0) is marked by the line before its fence:
//
//	<!-- docs-test: not run: needs three hosts -->
//
// A marker without a reason, an unknown marker, or a shell block fenced
// as bash, shell or console (not sh) fails the test, so every shell block
// either runs or says why not.

// docFiles are the Markdown files whose examples run, relative to the
// module root; docs/*.md is added in order.
var docFiles = []string{"README.md", "docs/*.md", "packaging/debian/README.md"}

// Bounds of the docs test.
const (
	// docBlockTimeout bounds one block; its processes are killed after it.
	docBlockTimeout = 60 * time.Second
	// docMarker starts a block's marker comment.
	docMarker = "<!-- docs-test:"
)

// docBlock is one ```sh block of a Markdown file.
type docBlock struct {
	file    string // relative to the module root
	line    int    // 1-based line of the opening fence
	notRun  string // the reason it does not run, "" if it runs
	cmds    []docCmd
	badNote string // why the block is malformed, "" if it is not
}

// docCmd is one command of a block with what it must do.
type docCmd struct {
	line   int    // 1-based line in the file where the command starts
	text   string // the command, continuation lines joined with newlines
	exit   int    // expected exit status
	out    string // expected standard output (trimmed), if hasOut; … is any text
	hasOut bool
}

func (b docBlock) name() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var (
	// trailingComment is a shell comment at the end of a line: a # after
	// white space. The expectation is read from the last one.
	trailingComment = regexp.MustCompile(`(?:^|\s)#\s?([^#]*)$`)
	exitExpect      = regexp.MustCompile(`^exit (\d+)\b`)
	markerRe        = regexp.MustCompile(`^<!-- docs-test: (.*?)\s*-->$`)
)

// parseDocBlocks returns the shell blocks of a Markdown file's text.
func parseDocBlocks(file string, text []byte) []docBlock {
	var blocks []docBlock
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
		if strings.HasPrefix(prev, docMarker) {
			marker = prev
		}
		prev = ""
		b := docBlock{file: file, line: start + 1}
		switch lang {
		case "sh":
		case "bash", "shell", "console", "zsh", "shell-session":
			b.badNote = fmt.Sprintf("a shell block fenced as %q: fence it as sh so that it runs", lang)
			blocks = append(blocks, b)
			continue
		default:
			if marker != "" {
				b.badNote = fmt.Sprintf("docs-test marker before a %q block, which never runs", lang)
				blocks = append(blocks, b)
			}
			continue
		}
		if i >= len(lines) {
			b.badNote = "block not closed"
			blocks = append(blocks, b)
			break
		}
		if marker != "" {
			m := markerRe.FindStringSubmatch(marker)
			reason, ok := "", false
			if m != nil {
				reason, ok = strings.CutPrefix(m[1], "not run:")
			}
			reason = strings.TrimSpace(reason)
			switch {
			case !ok:
				b.badNote = fmt.Sprintf("unknown marker %q: want <!-- docs-test: not run: REASON -->", marker)
			case reason == "":
				b.badNote = "a block not run must say why: <!-- docs-test: not run: REASON -->"
			default:
				b.notRun = reason
			}
		}
		b.cmds = parseDocCmds(body, start+2)
		blocks = append(blocks, b)
	}
	return blocks
}

// parseDocCmds splits a block's lines (the first is line first of the
// file) into commands and reads their expectations.
func parseDocCmds(body []string, first int) []docCmd {
	var cmds []docCmd
	for j := 0; j < len(body); j++ {
		t := strings.TrimSpace(body[j])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := docCmd{line: first + j}
		text := body[j]
		for strings.HasSuffix(strings.TrimRight(body[j], " \t"), `\`) && j+1 < len(body) {
			j++
			text += "\n" + body[j]
		}
		c.text = text
		last := body[j]
		if m := trailingComment.FindStringSubmatch(last); m != nil {
			note := strings.TrimSpace(m[1])
			if e := exitExpect.FindStringSubmatch(note); e != nil {
				c.exit, _ = strconv.Atoi(e[1])
			}
			if _, out, ok := strings.Cut(note, "→"); ok {
				c.out, c.hasOut = strings.TrimSpace(out), true
			}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// script is the bash program that runs the block's commands one by one,
// each command's output and exit status in dir/N.out, N.err, N.rc; it
// stops after the first command whose status is not the expected one.
func (b docBlock) script(dir string) string {
	var s strings.Builder
	s.WriteString("exec </dev/null\n")
	for i, c := range b.cmds {
		p := filepath.Join(dir, strconv.Itoa(i))
		fmt.Fprintf(&s, "{ %s\n} >%q 2>%q\n", c.text, p+".out", p+".err")
		fmt.Fprintf(&s, "__rc=$?; echo $__rc >%q; [ $__rc = %d ] || exit 0\n", p+".rc", c.exit)
	}
	return s.String()
}

// check compares command i's recorded result with its expectations; ran
// is false when the block stopped before it.
func (c docCmd) check(dir string, i int) (ran bool, problem string) {
	p := filepath.Join(dir, strconv.Itoa(i))
	rcText, err := os.ReadFile(p + ".rc")
	if err != nil {
		return false, ""
	}
	out, _ := os.ReadFile(p + ".out")
	errOut, _ := os.ReadFile(p + ".err")
	rc, _ := strconv.Atoi(strings.TrimSpace(string(rcText)))
	got := strings.TrimSpace(string(out))
	show := func() string {
		return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", lastLines(out, 10), lastLines(errOut, 10))
	}
	switch {
	case rc != c.exit:
		return true, fmt.Sprintf("exit status %d, want %d\n%s", rc, c.exit, show())
	case c.hasOut && !outputMatches(got, c.out):
		return true, fmt.Sprintf("output is not %q\n%s", c.out, show())
	}
	return true, ""
}

// outputMatches reports whether got is want, where each "…" of want
// stands for any text (none included).
func outputMatches(got, want string) bool {
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

// readDocBlocks reads the blocks of every file of docFiles under root.
func readDocBlocks(t *testing.T, root string) []docBlock {
	t.Helper()
	var blocks []docBlock
	for _, pat := range docFiles {
		files, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 && !strings.Contains(pat, "*") {
			t.Fatalf("%s: missing", pat)
		}
		slices.Sort(files)
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, f)
			blocks = append(blocks, parseDocBlocks(rel, text)...)
		}
	}
	return blocks
}

// TestDocs_ExamplesRun runs the documentation's shell examples against a
// cluster of three, as described above.
func TestDocs_ExamplesRun(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the documentation's examples need %s, not found in PATH (apt-get install %s)", tool, tool)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	blocks := readDocBlocks(t, root)
	for _, b := range blocks {
		if b.badNote != "" {
			t.Errorf("%s: %s", b.name(), b.badNote)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// diststore and diststored on PATH, in a directory of their own.
	bin := t.TempDir()
	for name, src := range map[string]string{"diststore": clientPath, "diststored": daemonPath} {
		if err := os.Symlink(src, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := append(daemonEnv(), "DISTSTORE_BIND="+nodeAddr(1))
	for i, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + bin + string(os.PathListSeparator) + p
		}
	}

	c := startCluster(t, 3)
	ran, notRun := 0, 0
	for _, b := range blocks {
		if b.notRun != "" {
			notRun++
			continue
		}
		ran++
		t.Run(b.name(), func(t *testing.T) {
			if !runDocBlock(t, b, env) {
				c.requireAlive(t)
			}
		})
	}
	t.Logf("documentation examples: %d blocks ran, %d marked not run", ran, notRun)
	for _, b := range blocks {
		if b.notRun != "" {
			t.Logf("  not run: %s: %s", b.name(), b.notRun)
		}
	}
}

// runDocBlock runs one block in a bash process group of its own, killed
// when the block ends or after docBlockTimeout, and checks each command.
// It reports whether every command ran as expected.
func runDocBlock(t *testing.T, b docBlock, env []string) bool {
	t.Helper()
	work, results := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), docBlockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-o", "pipefail", "-c", b.script(results))
	cmd.Dir = work
	cmd.Env = env
	var shellErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &shellErr, &shellErr
	// Its own process group, killed as a whole (by the group's PID, which
	// is bash's): a command that leaves a process behind does not outlive
	// its block.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when none is left
	}
	if ctx.Err() != nil {
		t.Errorf("%s: did not finish within %s", b.name(), docBlockTimeout)
	} else if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("%s: bash: %v", b.name(), err)
		} else {
			t.Errorf("%s: bash exited %d: %s", b.name(), exit.ExitCode(), shellErr.String())
		}
	}
	ok := !t.Failed()
	for i, c := range b.cmds {
		ran, problem := c.check(results, i)
		if !ran {
			break
		}
		if problem != "" {
			t.Errorf("%s:%d: %s\n%s", b.file, c.line, firstLine(c.text), problem)
			ok = false
		}
	}
	return ok
}

// firstLine is the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestDocs_Parse checks how blocks and their expectations are read.
func TestDocs_Parse(t *testing.T) {
	md := "Text.\n\n" +
		"```sh\n" +
		"diststore get greeting   # → hello\n" +
		"# a comment alone\n" +
		"\n" +
		"diststore get nope       # exit 1\n" +
		"curl -X POST \\\n" +
		"  http://x/  # → stored on …\n" +
		"diststore list           # every key\n" +
		"diststore get x  # exit 2 → bad key\n" +
		"```\n" +
		"\n<!-- docs-test: not run: needs three hosts -->\n\n" +
		"```sh\nsudo true\n```\n" +
		"<!-- docs-test: not run: -->\n```sh\ntrue\n```\n" +
		"<!-- docs-test: sometimes -->\n```sh\ntrue\n```\n" +
		"```bash\ntrue\n```\n" +
		"```ini\n[diststored]\n```\n" +
		"```sh\nunclosed\n"
	blocks := parseDocBlocks("x.md", []byte(md))
	if len(blocks) != 6 {
		t.Fatalf("got %d blocks, want 6: %+v", len(blocks), blocks)
	}
	want := []docCmd{
		{line: 4, text: "diststore get greeting   # → hello", out: "hello", hasOut: true},
		{line: 7, text: "diststore get nope       # exit 1", exit: 1},
		{line: 8, text: "curl -X POST \\\n  http://x/  # → stored on …", out: "stored on …", hasOut: true},
		{line: 10, text: "diststore list           # every key"},
		{line: 11, text: "diststore get x  # exit 2 → bad key", exit: 2, out: "bad key", hasOut: true},
	}
	b := blocks[0]
	if b.line != 3 || b.notRun != "" || b.badNote != "" || !slices.Equal(b.cmds, want) {
		t.Errorf("block 1: got %+v, want line 3 with %+v", b, want)
	}
	if b := blocks[1]; b.notRun != "needs three hosts" || b.badNote != "" {
		t.Errorf("block 2: got %+v, want not run, needs three hosts", b)
	}
	for i, wantBad := range []string{"must say why", "unknown marker", "fence it as sh", "not closed"} {
		if b := blocks[i+2]; !strings.Contains(b.badNote, wantBad) {
			t.Errorf("block %d: got %+v, want a problem saying %q", i+3, b, wantBad)
		}
	}
}

// TestDocs_OutputMatches checks the "…" of an expected output.
func TestDocs_OutputMatches(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		match     bool
	}{
		{"hello", "hello", true},
		{"hello", "hell", false},
		{"stored on 127.0.2.1, 127.0.2.2", "stored on …", true},
		{"backup of 127.0.2.1:8181 written to a.db: 5 keys", "backup of 127.0.2.… written to a.db: …", true},
		{"backup of 127.0.2.1:8181 written to b.db: 5 keys", "backup of 127.0.2.… written to a.db: …", false},
		{"abc", "…c", true},
		{"abc", "…b", false},
		{"ab", "a…b…", true},
		{"a", "a…a", false},
	} {
		if got := outputMatches(tc.got, tc.want); got != tc.match {
			t.Errorf("outputMatches(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.match)
		}
	}
}

// TestDocs_Script checks that a block's script stops at the first command
// whose exit status is not expected, and that results are checked.
func TestDocs_Script(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found in PATH (apt-get install bash)")
	}
	b := parseDocBlocks("x.md", []byte("```sh\n"+
		"x=hello; echo $x   # → hello\n"+
		"echo $x world      # → hel… w…d\n"+
		"false              # exit 1\n"+
		"echo wrong         # → right\n"+
		"false\n"+
		"echo never\n"+
		"```\n"))[0]
	dir := t.TempDir()
	out, err := exec.Command("bash", "-o", "pipefail", "-c", b.script(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v: %s", err, out)
	}
	var problems []string
	ranCount := 0
	for i, c := range b.cmds {
		ran, problem := c.check(dir, i)
		if !ran {
			break
		}
		ranCount++
		if problem != "" {
			problems = append(problems, firstLine(problem))
		}
	}
	wantProblems := []string{`output is not "right"`, "exit status 1, want 0"}
	if ranCount != 5 || !slices.Equal(problems, wantProblems) {
		t.Errorf("ran %d commands with problems %q; want 5 with %q", ranCount, problems, wantProblems)
	}
}
