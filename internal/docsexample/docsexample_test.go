package docsexample

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse_Commands(t *testing.T) {
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
		"```\n"
	blocks := Parse("x.md", []byte(md))
	want := []Cmd{
		{Line: 4, Text: "diststore get greeting   # → hello", Out: "hello", HasOut: true},
		{Line: 7, Text: "diststore get nope       # exit 1", Exit: 1},
		{Line: 8, Text: "curl -X POST \\\n  http://x/  # → stored on …", Out: "stored on …", HasOut: true},
		{Line: 10, Text: "diststore list           # every key"},
		{Line: 11, Text: "diststore get x  # exit 2 → bad key", Exit: 2, Out: "bad key", HasOut: true},
	}
	if len(blocks) != 1 {
		t.Fatalf("got %d blocks, want 1: %+v", len(blocks), blocks)
	}
	b := blocks[0]
	if b.Name() != "x.md:3" || b.NotRun != "" || b.Package || b.Problem != "" || !slices.Equal(b.Cmds, want) {
		t.Errorf("got %+v, want x.md:3 with %+v", b, want)
	}
}

func TestParse_Markers(t *testing.T) {
	for _, tc := range []struct {
		name, md    string
		notRun      string
		pkg         bool
		wantProblem string // "" for none
		none        bool   // no block at all
	}{
		{name: "plain", md: "```sh\ntrue\n```\n"},
		{name: "not run", md: "<!-- docs-test: not run: needs three hosts -->\n\n```sh\nsudo true\n```\n", notRun: "needs three hosts"},
		{name: "package", md: "<!-- docs-test: package -->\n```sh\nsudo true\n```\n", pkg: true},
		{name: "package, spaces", md: "<!-- docs-test: package   -->\n```sh\ntrue\n```\n", pkg: true},
		{name: "marker of an earlier paragraph", md: "<!-- docs-test: package -->\nText.\n```sh\ntrue\n```\n"},
		{name: "no reason", md: "<!-- docs-test: not run: -->\n```sh\ntrue\n```\n", wantProblem: "must say why"},
		{name: "unknown", md: "<!-- docs-test: sometimes -->\n```sh\ntrue\n```\n", wantProblem: "unknown marker"},
		{name: "package with more", md: "<!-- docs-test: package: as root -->\n```sh\ntrue\n```\n", wantProblem: "unknown marker"},
		{name: "no colon", md: "<!-- docs-test:package -->\n```sh\ntrue\n```\n", wantProblem: "unknown marker"},
		{name: "bash fence", md: "```bash\ntrue\n```\n", wantProblem: "fence it as sh"},
		{name: "console fence", md: "<!-- docs-test: package -->\n```console\n$ true\n```\n", wantProblem: "fence it as sh"},
		{name: "marker before ini", md: "<!-- docs-test: package -->\n```ini\n[diststored]\n```\n", wantProblem: `before a "ini" block`},
		{name: "ini", md: "```ini\n[diststored]\n```\n", none: true},
		{name: "unclosed", md: "```sh\nunclosed\n", wantProblem: "not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks := Parse("x.md", []byte(tc.md))
			if tc.none {
				if len(blocks) != 0 {
					t.Fatalf("got %+v, want no block", blocks)
				}
				return
			}
			if len(blocks) != 1 {
				t.Fatalf("got %d blocks, want 1: %+v", len(blocks), blocks)
			}
			b := blocks[0]
			if tc.wantProblem != "" {
				if !strings.Contains(b.Problem, tc.wantProblem) {
					t.Errorf("problem %q, want one saying %q", b.Problem, tc.wantProblem)
				}
				return
			}
			if b.Problem != "" || b.NotRun != tc.notRun || b.Package != tc.pkg {
				t.Errorf("got %+v, want not run %q, package %v, no problem", b, tc.notRun, tc.pkg)
			}
		})
	}
}

func TestOutputMatches(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		match     bool
	}{
		{"hello", "hello", true},
		{"hello", "hell", false},
		{"stored on 127.0.2.1, 127.0.2.2", "stored on …", true},
		{"backup of 127.0.2.1:8181 written to a.db: 5 keys", "backup of 127.0.2.… written to a.db: …", true},
		{"backup of 127.0.2.1:8181 written to b.db: 5 keys", "backup of 127.0.2.… written to a.db: …", false},
		{"secure:  cluster key", "secure:  cluster key", true},
		{"secure:  no cluster key: any host on the LAN can join", "secure:  cluster key", false},
		{"abc", "…c", true},
		{"abc", "…b", false},
		{"ab", "a…b…", true},
		{"a", "a…a", false},
	} {
		if got := OutputMatches(tc.got, tc.want); got != tc.match {
			t.Errorf("OutputMatches(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.match)
		}
	}
}

// TestBlock_ScriptCheck runs a block's script with bash: it stops at the
// first command whose exit status is not expected, and Check reports each
// command that did not do what it should.
func TestBlock_ScriptCheck(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found in PATH (apt-get install bash)")
	}
	b := Parse("x.md", []byte("```sh\n"+
		"x=hello; echo $x   # → hello\n"+
		"echo $x world      # → hel… w…d\n"+
		"false              # exit 1\n"+
		"echo wrong         # → right\n"+
		"false\n"+
		"echo never\n"+
		"```\n"))[0]
	dir := t.TempDir()
	out, err := exec.Command("bash", "-o", "pipefail", "-c", b.Script(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "5.rc")); err == nil {
		t.Errorf("the command after the failed one ran")
	}
	var got []string
	for _, p := range b.Check(dir) {
		lines := strings.SplitN(p, "\n", 3)
		got = append(got, lines[0]+" | "+lines[1])
	}
	want := []string{
		`x.md:5: echo wrong         # → right | output is not "right"`,
		"x.md:6: false | exit status 1, want 0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%q\nwant:\n%q", got, want)
	}
}

// TestReadFiles reads the project's own documentation: every file is
// there, in order, and no block is malformed.
func TestReadFiles(t *testing.T) {
	blocks, err := ReadFiles("../..", Files)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, b := range blocks {
		if b.Problem != "" {
			t.Errorf("%s: %s", b.Name(), b.Problem)
		}
		if len(files) == 0 || files[len(files)-1] != b.File {
			files = append(files, b.File)
		}
	}
	if len(files) < 2 || files[0] != "README.md" || files[len(files)-1] != "packaging/debian/README.md" {
		t.Errorf("blocks of %q, want README.md first and packaging/debian/README.md last", files)
	}
	if _, err := ReadFiles(t.TempDir(), Files); err == nil || !strings.Contains(err.Error(), "README.md: missing") {
		t.Errorf("ReadFiles of an empty directory: %v, want README.md missing", err)
	}
}
