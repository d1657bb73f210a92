//go:build debpackage

// Package debian_test checks the Debian package: test-install.sh builds it
// and a version-bumped rebuild, runs lintian, and inside a private network
// and PID namespace installs, upgrades and purges it with supervisord not
// running (the install says how to start the node), then with supervisord
// running installs it, uses the node it starts, reinstalls, upgrades,
// switches the host to systemd, removes and purges it. No install or
// upgrade may print an error.
//
// The documentation's examples that need the installed package (marked
// <!-- docs-test: package --> in README.md and packaging/debian/README.md,
// see internal/docsexample) run in it too: once the package is installed
// and supervisord runs the node, test-install.sh runs each with bash, in
// document order, as root (sudo, if not installed, is a function that runs
// the command), in a directory holding the .deb the example installs.
// Each file's examples start from the package as installed: its settings
// restored, no key file, the node restarted. This test checks what each
// command printed and returned, and fails if a marked example did not run.
//
// It changes the machine (installs and purges a package), so it is built
// only with -tags debpackage, as make test and make test-deb build it:
// a plain go test ./... has no such test rather than one that skips.
package debian_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diststore/diststore/internal/docsexample"
)

// testTimeout bounds the whole script; it takes about two minutes.
const testTimeout = 7 * time.Minute

// docBlockTimeout bounds one documentation example in test-install.sh
// (an apt install, a restart of the node); it is killed after it.
const docBlockTimeout = 90 * time.Second

// docPrelude comes before each example's commands: the test runs as root,
// and where sudo is not installed, sudo is a function that runs the
// command, so the examples run as an operator would type them.
const docPrelude = `if ! command -v sudo >/dev/null 2>&1; then sudo() { "$@"; }; fi
`

func TestDebPackage_InstallUsePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the package test installs and purges the diststore package: it needs root")
	}
	for _, cmd := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("the package test needs a Debian system: %s not found", cmd)
		}
	}

	blocks, docsDir := writeDocBlocks(t)

	timeout := testTimeout
	if d, ok := t.Deadline(); ok && time.Until(d)-30*time.Second < timeout {
		timeout = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, "bash", "test-install.sh")
	// The examples must not find a node through the caller's settings.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISTSTORE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "DISTSTORE_DOCS_BLOCKS="+docsDir,
		"DISTSTORE_DOCS_BLOCK_TIMEOUT="+strconv.Itoa(int(docBlockTimeout/time.Second)))
	// Its own process group, so a timeout stops the script and everything
	// it started (supervisord runs in the foreground, in that group). The
	// script's trap then purges the package.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	out := lineLogger(t)
	cmd.Stdout, cmd.Stderr = out, out

	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers, if any
	}
	out.Close()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("test-install.sh did not finish within %v", timeout)
	} else if err != nil {
		t.Errorf("test-install.sh: %v", err)
	}
	checkDocBlocks(t, blocks, docsDir)
	if !t.Failed() {
		t.Logf("test-install.sh passed in %v", time.Since(start).Round(time.Second))
	}
}

// writeDocBlocks writes the documentation's package examples for
// test-install.sh: directory N (from 0, in document order) holds the
// block's name, its file and its script, which records each command's
// results in N/results and, when every command returned what it should,
// creates N/results/complete. It fails on a malformed block, which the
// integration docs test reports too.
func writeDocBlocks(t *testing.T) ([]docsexample.Block, string) {
	t.Helper()
	all, err := docsexample.ReadFiles("../..", docsexample.Files)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docsexample.Block
	for _, b := range all {
		if b.Problem != "" {
			t.Errorf("%s: %s", b.Name(), b.Problem)
		}
		if b.Package && b.Problem == "" {
			blocks = append(blocks, b)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(blocks) == 0 {
		t.Fatal("no documentation example is marked <!-- docs-test: package -->: the ones that need the package are in README.md and packaging/debian/README.md")
	}
	dir := t.TempDir()
	for i, b := range blocks {
		bdir := filepath.Join(dir, strconv.Itoa(i))
		results := filepath.Join(bdir, "results")
		if err := os.MkdirAll(results, 0o755); err != nil {
			t.Fatal(err)
		}
		script := docPrelude + b.Script(results) + fmt.Sprintf(": >%q\n", filepath.Join(results, "complete"))
		for name, text := range map[string]string{"name": b.Name(), "file": b.File, "script": script} {
			if err := os.WriteFile(filepath.Join(bdir, name), []byte(text+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return blocks, dir
}

// checkDocBlocks checks what test-install.sh recorded of each package
// example: that it ran, within its deadline, and that each command
// returned and printed what the documentation says.
func checkDocBlocks(t *testing.T, blocks []docsexample.Block, dir string) {
	t.Helper()
	ran := 0
	for i, b := range blocks {
		bdir := filepath.Join(dir, strconv.Itoa(i))
		exitText, err := os.ReadFile(filepath.Join(bdir, "exit"))
		if err != nil {
			t.Errorf("%s: marked <!-- docs-test: package --> but not run by the package test", b.Name())
			continue
		}
		ran++
		switch rc := strings.TrimSpace(string(exitText)); rc {
		case "0":
		case "124", "137":
			t.Errorf("%s: did not finish within %v", b.Name(), docBlockTimeout)
		default:
			t.Errorf("%s: bash exited %s", b.Name(), rc)
		}
		for _, problem := range b.Check(filepath.Join(bdir, "results")) {
			t.Errorf("%s", problem)
		}
	}
	t.Logf("documentation examples: %d of %d blocks marked package ran here", ran, len(blocks))
}

// lineLogger returns a writer that logs each line written to it with t.Log,
// so the script's output is streamed into the test log (live with -v).
func lineLogger(t *testing.T) io.WriteCloser {
	t.Helper()
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return closer{w, done}
}

type closer struct {
	*io.PipeWriter
	done chan struct{}
}

func (c closer) Close() error {
	err := c.PipeWriter.Close()
	<-c.done
	return err
}
