package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diststore/diststore/internal/docsexample"
)

// The documentation's shell examples, run as a user would run them.
//
// Every ```sh block of docsexample.Files (README.md, docs/*.md and
// packaging/debian/README.md) runs, in the order of the files and of the
// blocks in each, against one cluster of three nodes on 127.0.2.1-3, HTTP
// port 8181 (the demo's), in this package's private network namespace.
// The state carries over from block to block: a key stored in one block is
// there in the next. How a block's commands and their expectations
// (# → TEXT, # exit N) are read, and its markers, is package docsexample.
//
// A block is one bash process (bash -o pipefail, stdin /dev/null, its own
// empty working directory; diststore and diststored on PATH;
// DISTSTORE_BIND=127.0.2.1, so that the CLI's "local node" is node 1 as
// on that node's host). With pipefail, a pipeline into a reader that stops
// early (grep -q, head) can fail by SIGPIPE at random: examples read all
// (grep -c, tail).
//
// A block that cannot run here is marked by the line before its fence:
// <!-- docs-test: not run: REASON --> (three machines, a real eth0, the
// host's firewall), or <!-- docs-test: package --> when it needs the
// installed Debian package and root: the package test
// (packaging/debian, -tags debpackage) runs those, and fails if one did
// not run. A malformed block (a marker without a reason, an unknown
// marker, a shell block fenced as bash, shell or console, not sh) fails
// the test, so every shell block either runs or says why not.

// docBlockTimeout bounds one block; its processes are killed after it.
const docBlockTimeout = 60 * time.Second

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
	blocks, err := docsexample.ReadFiles(root, docsexample.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Problem != "" {
			t.Errorf("%s: %s", b.Name(), b.Problem)
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
	ran, notRun, pkg := 0, 0, 0
	for _, b := range blocks {
		if b.NotRun != "" {
			notRun++
			continue
		}
		if b.Package {
			pkg++
			continue
		}
		ran++
		t.Run(b.Name(), func(t *testing.T) {
			if !runDocBlock(t, b, env) {
				c.requireAlive(t)
			}
		})
	}
	t.Logf("documentation examples: %d blocks ran, %d marked not run", ran, notRun)
	for _, b := range blocks {
		if b.NotRun != "" {
			t.Logf("  not run: %s: %s", b.Name(), b.NotRun)
		}
	}
	t.Logf("documentation examples: %d blocks run by the package test (packaging/debian, -tags debpackage)", pkg)
	for _, b := range blocks {
		if b.Package {
			t.Logf("  run by the package test: %s", b.Name())
		}
	}
}

// runDocBlock runs one block in a bash process group of its own, killed
// when the block ends or after docBlockTimeout, and checks each command.
// It reports whether every command ran as expected.
func runDocBlock(t *testing.T, b docsexample.Block, env []string) bool {
	t.Helper()
	work, results := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), docBlockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-o", "pipefail", "-c", b.Script(results))
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
		t.Errorf("%s: did not finish within %s", b.Name(), docBlockTimeout)
	} else if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("%s: bash: %v", b.Name(), err)
		} else {
			t.Errorf("%s: bash exited %d: %s", b.Name(), exit.ExitCode(), shellErr.String())
		}
	}
	ok := !t.Failed()
	for _, problem := range b.Check(results) {
		t.Errorf("%s", problem)
		ok = false
	}
	return ok
}
