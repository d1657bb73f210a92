package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/clusterkey"
)

// A cluster with a cluster key: it works as one without, it hears no
// one without the key, and its key rotates without a restart.

// withKeyFile gives each node its own cluster key file, holding keys, so
// that a test can rotate the key node by node.
func withKeyFile(t testing.TB, keys ...string) nodeOption {
	return func(n *node) {
		p := n.keyFile()
		writeKeyFile(t, p, keys...)
		n.args = append(n.args, "--cluster-key-file", p)
	}
}

// keyFile is where withKeyFile keeps node n's key file.
func (n *node) keyFile() string { return filepath.Join(filepath.Dir(n.dataDir), "cluster.key") }

func writeKeyFile(t testing.TB, path string, keys ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(keys, "\n")+"\n"), 0o600))
}

// metric returns the value of the sample of name whose labels include
// every labels pair ("reason", "sealed_unsealed"), 0 if there is none.
func metric(t testing.TB, n *node, name string, labels ...string) float64 {
	t.Helper()
	r := do(t, n, "GET", "/metrics", nil, nil)
	require.True(t, r.ok(), "node %s: GET /metrics: %v", n.addr, r)
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, "metric line %q", line)
		return v
	}
	return 0
}

// droppedUnsealed is how many unsealed datagrams node n dropped.
func droppedUnsealed(t testing.TB, n *node) float64 {
	return metric(t, n, "diststore_multicast_datagrams_dropped_total", "reason", "sealed_unsealed")
}

func TestClusterKey_SealedClusterWorksAndHearsNoOneElse(t *testing.T) {
	k1 := clusterkey.NewKey()
	c := newCluster(t, 4, withKeyFile(t, k1))
	keyed := c.nodes[:3]
	for _, n := range keyed {
		n.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, keyed...)
	for _, n := range keyed {
		assert.True(t, status(t, n).Secure, "node %s says it is secure", n.addr)
	}

	// Reads resolve through sealed whohas and signed fetches: a
	// non-master reads what was written through another node.
	others := c.nonMasters(masters)
	var reader *node
	for _, n := range others {
		if n.idx <= 3 {
			reader = n
		}
	}
	require.NotNil(t, reader)
	requirePut(t, c.byAddr(t, masters[0]), "sealed", "v1")
	r := get(t, reader, "sealed")
	require.Equal(t, 200, r.code, "non-master %s reads a key it never held: %v", reader.addr, r)
	assert.Equal(t, "v1", string(r.body))
	assert.Equal(t, "peer", r.header.Get("X-Diststore-Source"))

	// A node without the key: the others drop what it sends (it counts)
	// and never list it.
	before := droppedUnsealed(t, c.node(1))
	stranger := c.node(4)
	stranger.args = nil // no key file
	stranger.start(t)
	eventually(t, 10*time.Second, func() error {
		if d := droppedUnsealed(t, c.node(1)) - before; d < 5 {
			return fmt.Errorf("node 1 dropped %.0f unsealed datagrams since the stranger started, want 5", d)
		}
		return nil
	})
	for _, n := range keyed {
		st := status(t, n)
		assert.False(t, st.hasMember(stranger.addr), "keyed node %s lists the keyless node", n.addr)
		assert.Equal(t, masters, sortedAddrs(st.Masters), "node %s kept its masters", n.addr)
	}
	assert.False(t, status(t, stranger).hasMember(c.node(1).addr), "the keyless node hears no keyed node")

	// Node-to-node routes refuse the test, which has no key.
	for _, req := range []struct{ method, path string }{{"POST", "/local/forged"}, {"GET", "/dump"}, {"GET", "/digest"}} {
		r := do(t, c.node(1), req.method, req.path, []byte("x"), map[string]string{"X-Diststore-Version": "ffffffffffffffff-ffffffff"})
		assert.Equal(t, 401, r.code, "%s %s without the key: %v", req.method, req.path, r)
	}
	assert.Equal(t, 404, get(t, c.node(1), "forged").code)
}

func TestClusterKey_RotationWithoutRestart(t *testing.T) {
	k1, k2 := clusterkey.NewKey(), clusterkey.NewKey()
	c := startCluster(t, 3, withKeyFile(t, k1))
	pids := map[*node]int{}
	for _, n := range c.nodes {
		pids[n] = n.pid()
	}
	step := 0
	// rotate writes keys to every node's file, sends SIGHUP to each, then
	// proves the cluster still works: each node logged the reload, a new
	// key written through one node is read through every other.
	rotate := func(keys ...string) {
		t.Helper()
		step++
		for _, n := range c.nodes {
			writeKeyFile(t, n.keyFile(), keys...)
			n.signal(t, syscall.SIGHUP)
		}
		for _, n := range c.nodes {
			const want = "cluster key reloaded"
			eventually(t, 10*time.Second, func() error {
				if got := countInLog(t, n, want); got < step {
					return fmt.Errorf("node %s logged %q %d times, want %d", n.addr, want, got, step)
				}
				return nil
			})
		}
		key := fmt.Sprintf("rotated-%d", step)
		requirePut(t, c.node(1), key, key)
		for _, n := range c.nodes[1:] {
			r := get(t, n, key)
			require.Equal(t, 200, r.code, "step %d: node %s reads %s: %v", step, n.addr, key, r)
		}
		c.waitConverged(t, 10*time.Second, c.nodes...)
	}
	rotate(k1, k2) // the new key everywhere
	rotate(k2, k1) // used to send everywhere
	rotate(k2)     // the old one gone

	// A broken file is refused; the node keeps its key and its place.
	writeKeyFile(t, c.node(2).keyFile(), "not a key")
	c.node(2).signal(t, syscall.SIGHUP)
	eventually(t, 10*time.Second, func() error {
		if countInLog(t, c.node(2), "cluster key not reloaded") < 1 {
			return fmt.Errorf("node 2 did not log the refused reload")
		}
		return nil
	})
	requirePut(t, c.node(3), "after-bad-file", "v")
	assert.Equal(t, 200, get(t, c.node(2), "after-bad-file").code)
	for _, n := range c.nodes {
		assert.Equal(t, pids[n], n.pid(), "node %s was not restarted", n.addr)
		assert.True(t, n.alive())
	}
}

// countInLog counts the lines of node n's log that contain s.
func countInLog(t testing.TB, n *node, s string) int {
	t.Helper()
	b, err := os.ReadFile(n.logPath)
	require.NoError(t, err)
	return strings.Count(string(b), s)
}

func TestClusterKey_ClientTokens(t *testing.T) {
	const ro, rw = "read-only-token-for-the-test", "read-write-token-for-the-test"
	key := clusterkey.NewKey()
	withTokens := func(n *node) {
		p := filepath.Join(filepath.Dir(n.dataDir), "tokens")
		writeKeyFile(t, p, "ro "+ro, "rw "+rw)
		n.args = append(n.args, "--client-token-file", p)
		n.token = rw // the harness's own requests (status, puts)
	}
	c := startCluster(t, 3, withKeyFile(t, key), withTokens)
	masters := c.waitConverged(t, 10*time.Second, c.nodes...)
	reader := c.nonMasters(masters)[0]
	st := status(t, reader)
	assert.True(t, st.Secure && st.ClientTokens, "status: secure %v, client tokens %v", st.Secure, st.ClientTokens)

	none := map[string]string{"Authorization": ""}
	readOnly := map[string]string{"Authorization": "Bearer " + ro}
	assert.Equal(t, 401, do(t, c.node(1), "PUT", "/tok", []byte("v"), none).code, "a write without a token")
	assert.Equal(t, 403, do(t, c.node(1), "PUT", "/tok", []byte("v"), readOnly).code, "a write with a read-only token")
	assert.Equal(t, 401, do(t, reader, "GET", "/get/tok", nil, none).code, "a read without a token")
	assert.Equal(t, 200, do(t, reader, "GET", "/healthz", nil, none).code, "health needs none")

	// A write with the read-write token; a read with the read-only one on
	// a node that must fetch it: the node's own fetch proves the key, and
	// needs no token.
	requirePut(t, c.byAddr(t, masters[0]), "tok", "v")
	r := do(t, reader, "GET", "/get/tok", nil, readOnly)
	require.Equal(t, 200, r.code, "%v", r)
	assert.Equal(t, "v", r.body)
	assert.Equal(t, "peer", r.header.Get("X-Diststore-Source"))
	assert.Equal(t, 404, do(t, reader, "GET", "/get/never-written", nil, readOnly).code)
}
