//go:build debpackage

// Package debian_test checks the Debian package: test-install.sh builds it
// and a version-bumped rebuild, runs lintian, and inside a private network
// and PID namespace installs, upgrades and purges it with supervisord not
// running (the install says how to start the node), then with supervisord
// running installs it, uses the node it starts, reinstalls, upgrades,
// switches the host to systemd, removes and purges it. No install or
// upgrade may print an error.
//
// It changes the machine (installs and purges a package), so it is built
// only with -tags debpackage, as make test and make test-deb build it:
// a plain go test ./... has no such test rather than one that skips.
package debian_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// testTimeout bounds the whole script; it takes about two minutes.
const testTimeout = 7 * time.Minute

func TestDebPackage_InstallUsePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the package test installs and purges the diststore package: it needs root")
	}
	for _, cmd := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("the package test needs a Debian system: %s not found", cmd)
		}
	}

	timeout := testTimeout
	if d, ok := t.Deadline(); ok && time.Until(d)-30*time.Second < timeout {
		timeout = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, "bash", "test-install.sh")
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
		t.Fatalf("test-install.sh did not finish within %v", timeout)
	}
	if err != nil {
		t.Fatalf("test-install.sh: %v", err)
	}
	t.Logf("test-install.sh passed in %v", time.Since(start).Round(time.Second))
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
