package integration

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Environment variables the harness reads. All of them start with
// DISTSTORE_, so startNode strips them from the daemons' environment.
const (
	// envInNetns is "1" in the re-executed test binary running inside the
	// private network namespace.
	envInNetns = "DISTSTORE_IN_NETNS"
	// envDaemon names a prebuilt diststored binary; when unset, TestMain
	// builds one.
	envDaemon = "DISTSTORE_TEST_DAEMON"
	// envLogLevel, when set, is passed to every node as --log-level (e.g.
	// debug, to read more in a failing test's log dump).
	envLogLevel = "DISTSTORE_TEST_LOG_LEVEL"
	// envLogTail, when set, is how many lines of each node's log a failing
	// test prints (default logTail).
	envLogTail = "DISTSTORE_TEST_LOG_TAIL"
)

// netnsSetup prepares the fresh namespace's loopback for multicast, then
// execs the test binary ("$0") with its arguments.
//
// It also moves the local routing table after table lanTable (104), so
// that a lan's nodes (127.0.4.0/24, on bridges) are reached through their
// links rather than lo; the table is empty unless a lan test runs.
const netnsSetup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo` +
	` && ip rule add pref 100 lookup local && ip rule del pref 0 lookup local` +
	` && ip rule add pref 10 to 127.0.4.0/24 lookup 104`

// daemonPath is the diststored binary every test starts, clientPath the
// diststore CLI; set by TestMain.
var daemonPath, clientPath string

func TestMain(m *testing.M) {
	if os.Getenv(envInNetns) != "1" {
		os.Exit(reexecInNetns())
	}
	os.Exit(runInNetns(m))
}

// reexecInNetns runs this test binary again, with the same arguments, inside
// a new user and network namespace, and returns the exit code to use.
func reexecInNetns() int {
	for _, tool := range []string{"unshare", "ip", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			return cannotRun(fmt.Sprintf("%s not found in PATH (apt-get install util-linux iproute2)", tool))
		}
	}
	// Probe first, so that a missing privilege is one line naming it and
	// not a failure that looks like the tests' own.
	probe := exec.Command("unshare", "-rn", "sh", "-c", netnsSetup+` && exec true`)
	if out, err := probe.CombinedOutput(); err != nil {
		return cannotRun(fmt.Sprintf("cannot create a private network namespace with `unshare -rn` (%v): %s",
			err, strings.TrimSpace(string(out))))
	}

	// Build outside the namespace: it has no network, and the module cache
	// may still lack the daemon's dependencies.
	bin, cleanup, err := ensureDaemon()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer cleanup()
	// The upgrade test builds the previous release inside the namespace,
	// offline: fetch the modules it needs while there is a network.
	if err := prefetchPrevRelease(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v (TestUpgrade_RollingFromPreviousRelease will fail)\n", err)
	}

	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	args := append([]string{"-rn", "sh", "-c", netnsSetup + ` && exec "$0" "$@"`, self}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), envInNetns+"=1", envDaemon+"="+bin)
	// If this process dies, so does the child (unshare execs sh, which
	// execs the test binary, so it is the same process).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: starting unshare: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			return exitCode(err)
		}
	}
}

// exitCode maps the child's Wait error to this process's exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		if c := ee.ExitCode(); c > 0 {
			return c
		}
	}
	fmt.Fprintf(os.Stderr, "integration: test binary in namespace: %v\n", err)
	return 1
}

// cannotRun says in one line why the integration tests cannot run here
// and returns the exit code of a failure: they never pass by not running.
func cannotRun(reason string) int {
	fmt.Fprintf(os.Stderr, "integration tests cannot run: %s\n", reason)
	return 1
}

// runInNetns checks that this process really is in a private namespace, makes
// sure the daemon is built, and runs the tests.
func runInNetns(m *testing.M) int {
	if err := checkPrivateNetns(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: refusing to run: %v\n", err)
		return 1
	}
	bin, cleanup, err := ensureDaemon()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer cleanup()
	daemonPath = bin
	cli, cleanupCLI, err := buildCLI()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer cleanupCLI()
	clientPath = cli
	return m.Run()
}

// checkPrivateNetns makes sure the only interface is loopback, so no packet a
// test sends can leave the machine, and that lo carries multicast.
func checkPrivateNetns() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	sawLo := false
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("%s=1 but interface %q is not loopback: not a private network namespace", envInNetns, ifc.Name)
		}
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 {
			return fmt.Errorf("loopback %q is not up with multicast (flags %v)", ifc.Name, ifc.Flags)
		}
		sawLo = true
	}
	if !sawLo {
		return errors.New("no loopback interface")
	}
	return nil
}

// ensureDaemon returns the diststored binary named by DISTSTORE_TEST_DAEMON,
// or builds one from the module's ./cmd/diststored into a temporary
// directory that cleanup removes.
func ensureDaemon() (path string, cleanup func(), err error) {
	if p := os.Getenv(envDaemon); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", nil, fmt.Errorf("%s=%s: %w", envDaemon, p, err)
		}
		return p, func() {}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "diststore-integration-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, "diststored")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/diststored")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building the daemon failed (go build ./cmd/diststored in %s): %v\n%s", root, err, out)
	}
	return path, cleanup, nil
}

// buildCLI builds the diststore client from ./cmd/diststore into a
// temporary directory that cleanup removes.
func buildCLI() (path string, cleanup func(), err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "diststore-integration-cli-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, "diststore")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/diststore")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building the client failed (go build ./cmd/diststore in %s): %v\n%s", root, err, out)
	}
	return path, cleanup, nil
}

// moduleRoot is the directory of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	// go test runs the binary in the package directory: the module root is
	// its parent.
	wd, werr := os.Getwd()
	if werr != nil {
		return "", werr
	}
	root := filepath.Dir(wd)
	if _, serr := os.Stat(filepath.Join(root, "go.mod")); serr != nil {
		return "", fmt.Errorf("cannot find the module root (go env GOMOD: %v; %s: %v)", err, root, serr)
	}
	return root, nil
}

// lastLines returns at most n trailing lines of b.
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
