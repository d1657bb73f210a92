package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the harness. None of them is a sleep: each bounds a poll or a
// wait that returns as soon as its condition holds.
const (
	// joinTimeout bounds a fresh cluster's wait for every node to be ready
	// and to agree on its masters.
	joinTimeout = 30 * time.Second
	// stopTimeout is how long a node may take to exit after SIGTERM before
	// it is dumped (SIGQUIT) and killed: the daemon's own bounds, a
	// master's hand-over (15 s) and the HTTP server's shutdown (10 s), and
	// a margin.
	stopTimeout = 30 * time.Second
	// failoverTimeout bounds the election of a new master, and its sync of
	// every key, after a master dies.
	failoverTimeout = 15 * time.Second
	// logTail is how many lines of each node's log a failing test prints
	// (DISTSTORE_TEST_LOG_TAIL overrides it).
	logTail = 40
)

// httpPort is the port every node serves HTTP on.
const httpPort = 8181

// maxNodes is the number of loopback aliases the tests may use.
const maxNodes = 10

// nodeAddr is the loopback alias of node i (1-based): 127.0.2.i.
func nodeAddr(i int) string { return fmt.Sprintf("127.0.2.%d", i) }

// node is one diststored process, which may be started and stopped several
// times over a test; its data directory survives restarts.
type node struct {
	t       testing.TB
	idx     int    // 1-based
	addr    string // 127.0.2.idx
	dataDir string
	logPath string
	args    []string // extra flags
	// daemon is the diststored binary the node starts: daemonPath when
	// empty. A test may change it between a stop and the next start.
	daemon string
	token  string // client token the harness's requests carry, "" for none
	// lan and netnsPID are set for a node of a lan: it runs in the network
	// namespace of the process netnsPID (see lan_test.go).
	lan      *lan
	netnsPID int

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been reaped
	waitErr error         // cmd.Wait's result, valid once done is closed
	stopped bool          // the test stopped or killed it on purpose
	exited  time.Time     // when cmd was reaped, valid once done is closed
	starts  int
}

// cluster is a set of nodes started by one test.
type cluster struct {
	t     testing.TB
	nodes []*node
}

// nodeOption changes a node's flags before it starts.
type nodeOption func(n *node)

// withDaemon makes the node start the diststored binary at path instead
// of daemonPath (a previous release's, to upgrade from).
func withDaemon(path string) nodeOption {
	return func(n *node) { n.daemon = path }
}

// withArgs adds flags to the node's command line.
func withArgs(args ...string) nodeOption {
	return func(n *node) { n.args = append(n.args, args...) }
}

// startCluster starts nodes 127.0.2.1..n and waits until all of them are
// ready and agree on their masters (two of them once n >= 2).
func startCluster(t testing.TB, n int, opts ...nodeOption) *cluster {
	t.Helper()
	c := newCluster(t, n, opts...)
	start := time.Now()
	for _, nd := range c.nodes {
		nd.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	t.Logf("cluster of %d ready in %s, masters %v", n, time.Since(start).Round(time.Millisecond), masters)
	return c
}

// newCluster prepares n nodes without starting them; its cleanup stops every
// node, checks each one exited as expected, and dumps the logs if the test
// failed.
func newCluster(t testing.TB, n int, opts ...nodeOption) *cluster {
	t.Helper()
	if n < 1 || n > maxNodes {
		t.Fatalf("cluster of %d nodes: want 1..%d", n, maxNodes)
	}
	if daemonPath == "" {
		t.Fatal("daemon not built: TestMain did not run in the namespace")
	}
	c := &cluster{t: t}
	base := t.TempDir()
	for i := 1; i <= n; i++ {
		dir := filepath.Join(base, fmt.Sprintf("node%d", i))
		nd := &node{
			t:       t,
			idx:     i,
			addr:    nodeAddr(i),
			dataDir: filepath.Join(dir, "data"),
			logPath: filepath.Join(dir, "diststored.log"),
		}
		if err := os.MkdirAll(nd.dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, o := range opts {
			o(nd)
		}
		c.nodes = append(c.nodes, nd)
	}
	// Cleanups run last-in first-out: stop everything, then dump the logs
	// (so they include the shutdown).
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs(t)
		}
	})
	t.Cleanup(func() {
		c.shutdown(t)
		httpClient.CloseIdleConnections()
	})
	return c
}

// node returns node i (1-based).
func (c *cluster) node(i int) *node { return c.nodes[i-1] }

// byAddr returns the node with the given address, or fails the test.
func (c *cluster) byAddr(t testing.TB, addr string) *node {
	t.Helper()
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	t.Fatalf("no node has address %q (cluster of %d)", addr, len(c.nodes))
	return nil
}

// running returns the nodes whose process is alive.
func (c *cluster) running() []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.alive() {
			out = append(out, n)
		}
	}
	return out
}

// nonMasters returns the running nodes not in masters.
func (c *cluster) nonMasters(masters []string) []*node {
	var out []*node
	for _, n := range c.running() {
		if !slices.Contains(masters, n.addr) {
			out = append(out, n)
		}
	}
	return out
}

// requireAlive fails the test if a node that the test did not stop has
// exited.
func (c *cluster) requireAlive(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.mu.Lock()
		started, stopped, done := n.cmd != nil, n.stopped, n.done
		n.mu.Unlock()
		if !started || stopped {
			continue
		}
		select {
		case <-done:
			t.Fatalf("node %s exited unexpectedly: %v", n.addr, n.exitErr())
		default:
		}
	}
}

// shutdown stops every running node with SIGTERM (all at once), kills those
// that do not exit in time, and reports nodes that exited on their own or
// not cleanly.
func (c *cluster) shutdown(t testing.TB) {
	t.Helper()
	type victim struct {
		n          *node
		unexpected bool
	}
	var vs []victim
	for _, n := range c.nodes {
		n.mu.Lock()
		cmd, stopped, done := n.cmd, n.stopped, n.done
		n.mu.Unlock()
		if cmd == nil || stopped {
			continue
		}
		select {
		case <-done:
			vs = append(vs, victim{n, true})
			continue
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		vs = append(vs, victim{n, false})
	}
	stopStart := time.Now()
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for _, v := range vs {
		n := v.n
		n.mu.Lock()
		n.stopped = true
		cmd, done := n.cmd, n.done
		n.mu.Unlock()
		if v.unexpected {
			t.Errorf("node %s exited before cleanup, unexpectedly: %v", n.addr, n.exitErr())
			continue
		}
		select {
		case <-done:
		case <-deadline.C:
			// Fire again for the remaining nodes.
			deadline.Reset(0)
		}
		select {
		case <-done:
			if err := n.exitErr(); err != nil {
				t.Errorf("node %s: after SIGTERM want exit status 0, got %v", n.addr, err)
			}
			n.mu.Lock()
			took := n.exited.Sub(stopStart)
			n.mu.Unlock()
			if took > 2*time.Second {
				t.Logf("node %s took %s to exit after SIGTERM", n.addr, took.Round(time.Millisecond))
			}
		default:
			t.Errorf("node %s did not exit within %s of SIGTERM; killing it", n.addr, stopTimeout)
			_ = cmd.Process.Kill()
			select {
			case <-done:
			case <-time.After(stopTimeout):
				t.Errorf("node %s (pid %d) not reaped within %s of SIGKILL", n.addr, cmd.Process.Pid, stopTimeout)
			}
		}
	}
	// Invariant: every process this cluster started has been reaped.
	for _, n := range c.nodes {
		n.mu.Lock()
		cmd, done := n.cmd, n.done
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-done:
		default:
			t.Errorf("node %s (pid %d) still running after cleanup", n.addr, cmd.Process.Pid)
		}
	}
}

// dumpLogs prints the tail of every node's log.
func (c *cluster) dumpLogs(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.logPath)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				t.Logf("node %s: reading log: %v", n.addr, err)
			}
			continue
		}
		tail := logTail
		if v, err := strconv.Atoi(os.Getenv(envLogTail)); err == nil && v > 0 {
			tail = v
		}
		t.Logf("---- node %s: last %d lines of %s ----\n%s", n.addr, tail, n.logPath, lastLines(b, tail))
	}
}

// start launches the node's process; its stderr and stdout are appended to
// the node's log file.
func (n *node) start(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			t.Fatalf("node %s: start while already running", n.addr)
		}
	}
	n.starts++
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// An explicit, empty config file: a diststored.cfg that an operator
	// (or the package test) left in /etc must not change the test.
	cfg := filepath.Join(filepath.Dir(n.dataDir), "diststored.cfg")
	if err := os.WriteFile(cfg, []byte("[diststored]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--config", cfg,
		"--bind", n.addr,
		"--http-port", fmt.Sprint(httpPort),
		"--data-dir", n.dataDir,
		"--multicast-timeout", "1s",
	}, n.args...)
	if lvl := os.Getenv(envLogLevel); lvl != "" {
		args = append(args, "--log-level", lvl)
	}
	fmt.Fprintf(logf, "==== harness: start #%d: %s %s\n", n.starts, n.binary(), strings.Join(args, " "))

	cmd := n.command(args)
	cmd.Dir = filepath.Dir(n.dataDir)
	cmd.Env = daemonEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the test binary dies, its daemons die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("node %s: starting %s: %v", n.addr, n.binary(), err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.waitErr, n.stopped = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.waitErr, n.exited = err, time.Now()
		n.mu.Unlock()
		close(done)
	}()
}

// binary is the diststored binary the node starts.
func (n *node) binary() string {
	if n.daemon != "" {
		return n.daemon
	}
	return daemonPath
}

// daemonEnv is this process's environment without DISTSTORE_* variables,
// so that only the flags configure the daemon.
func daemonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISTSTORE_") {
			env = append(env, kv)
		}
	}
	return env
}

// alive reports whether the node's process is running.
func (n *node) alive() bool {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// exitErr is the process's wait error (nil for exit status 0).
func (n *node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waitErr
}

// signalAndWait sends sig and waits up to timeout for the process to exit;
// it reports whether it did.
func (n *node) signalAndWait(t testing.TB, sig syscall.Signal, timeout time.Duration) bool {
	t.Helper()
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.stopped = true
	n.mu.Unlock()
	if cmd == nil {
		t.Fatalf("node %s: never started", n.addr)
	}
	select {
	case <-done:
		t.Fatalf("node %s: already exited (%v) before %v", n.addr, n.exitErr(), sig)
	default:
	}
	_ = cmd.Process.Signal(sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// stop sends SIGTERM and expects the node to exit with status 0 in time.
func (n *node) stop(t testing.TB) {
	t.Helper()
	if !n.signalAndWait(t, syscall.SIGTERM, stopTimeout) {
		// SIGQUIT: the Go runtime writes every goroutine's stack to the
		// node's log before it exits, so the log shows what hung.
		t.Errorf("node %s did not exit within %s of SIGTERM; its goroutines are in its log (SIGQUIT)", n.addr, stopTimeout)
		if !n.signalAndWait(t, syscall.SIGQUIT, 5*time.Second) {
			n.kill(t)
		}
		return
	}
	if err := n.exitErr(); err != nil {
		t.Errorf("node %s: after SIGTERM want exit status 0, got %v", n.addr, err)
	}
	httpClient.CloseIdleConnections()
}

// kill sends SIGKILL and waits for the process to be reaped.
func (n *node) kill(t testing.TB) {
	t.Helper()
	if !n.signalAndWait(t, syscall.SIGKILL, stopTimeout) {
		t.Fatalf("node %s: not reaped within %s of SIGKILL", n.addr, stopTimeout)
	}
	httpClient.CloseIdleConnections()
}

// restart stops the node with SIGTERM and starts it again on the same data
// directory. It does not wait for the node to be ready.
func (n *node) restart(t testing.TB) {
	t.Helper()
	n.stop(t)
	n.start(t)
}

// eventually calls f until it returns nil, failing the test with f's last
// error if that does not happen within timeout. It polls with a short,
// growing interval.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	interval := 20 * time.Millisecond
	tries := 0
	for {
		tries++
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s (%d tries): last error: %v", timeout, tries, err)
		}
		timer := time.NewTimer(min(interval, time.Until(deadline)+time.Millisecond))
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			t.Fatalf("test context done while waiting: last error: %v", err)
		}
		interval = min(interval*2, 250*time.Millisecond)
	}
}

// waitConverged waits until every given node is ready, lists every other
// given node among its members, and all of them name the same masters (see
// converged). It returns the masters, sorted by address.
func (c *cluster) waitConverged(t testing.TB, timeout time.Duration, nodes ...*node) []string {
	t.Helper()
	var masters []string
	eventually(t, timeout, func() error {
		c.requireAlive(t)
		var err error
		masters, err = converged(nodes)
		return err
	})
	return masters
}

// converged checks once that every given node is ready, lists every other
// given node among its members, and that all of them name the same masters:
// two (one in a single-node cluster), all among the given nodes. It returns
// the masters, sorted by address.
func converged(nodes []*node) ([]string, error) {
	var masters []string
	var first *node
	want := min(2, len(nodes))
	for _, n := range nodes {
		r, err := n.do("GET", "/readyz", nil, nil)
		if err != nil {
			return nil, fmt.Errorf("node %s /readyz: %w", n.addr, err)
		}
		if r.code != 200 {
			return nil, fmt.Errorf("node %s /readyz: %v", n.addr, r)
		}
		st, err := n.status()
		if err != nil {
			return nil, err
		}
		for _, m := range nodes {
			if !st.hasMember(m.addr) {
				return nil, fmt.Errorf("node %s does not list %s among its members %v", n.addr, m.addr, st.memberAddrs())
			}
		}
		got := sortedAddrs(st.Masters)
		if len(got) != want {
			return nil, fmt.Errorf("node %s names %d masters %v, want %d", n.addr, len(got), st.Masters, want)
		}
		for _, m := range got {
			if !slices.ContainsFunc(nodes, func(x *node) bool { return x.addr == m }) {
				return nil, fmt.Errorf("node %s names master %s, which is not one of the running nodes", n.addr, m)
			}
		}
		if first == nil {
			first, masters = n, got
		} else if !slices.Equal(got, masters) {
			return nil, fmt.Errorf("masters disagree: %s says %v, %s says %v", first.addr, masters, n.addr, got)
		}
	}
	return masters, nil
}

// pid is the process id of the node's current process, or 0 if it was never
// started.
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// signal sends sig (e.g. SIGSTOP, SIGCONT) to the node's running process
// without marking it stopped: the node is expected to live on.
func (n *node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if !n.alive() {
		t.Fatalf("node %s: %v to a node that is not running", n.addr, sig)
	}
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("node %s (pid %d): %v: %v", n.addr, cmd.Process.Pid, sig, err)
	}
}
