package integration

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/clusterkey"
)

// ---- Networks without multicast: --join (issue 13) ----

// dropMulticast drops every multicast datagram in and out of a lan node's
// namespace with iptables; it must come after l.node() among the options.
func dropMulticast(t testing.TB) nodeOption {
	return func(n *node) {
		if n.netnsPID == 0 {
			t.Fatal("dropMulticast needs a lan node: pass it after l.node()")
		}
		mustRun(t, "nsenter", "-t", strconv.Itoa(n.netnsPID), "-n", "sh", "-ec",
			"iptables -A OUTPUT -d 224.0.0.0/4 -j DROP && iptables -A INPUT -d 224.0.0.0/4 -j DROP")
	}
}

// dropRule matches the packet count of a DROP rule in iptables -L -v -x -n.
var dropRule = regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s+DROP\b.*224\.0\.0\.0/4`)

// multicastDropped returns how many multicast datagrams n's namespace
// dropped on the way out.
func multicastDropped(t testing.TB, n *node) int {
	t.Helper()
	out, err := runOutput("nsenter", "-t", strconv.Itoa(n.netnsPID), "-n", "iptables", "-L", "OUTPUT", "-v", "-x", "-n")
	require.NoError(t, err)
	m := dropRule.FindStringSubmatch(out)
	require.NotNil(t, m, "no DROP rule in %s's OUTPUT chain: %s", n.addr, out)
	c, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return c
}

// foundBy returns how n says it found each of its members.
func foundBy(t testing.TB, n *node) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range status(t, n).Members {
		if m.Addr != n.addr {
			out[m.Addr] = m.Found
		}
	}
	return out
}

// TestJoin_NoMulticast: on a network that carries no multicast (every
// node's namespace drops 224.0.0.0/4), nodes that only multicast stay
// alone; given each other's addresses with --join they form one cluster,
// elect, replicate, resolve misses through the masters and fail over.
// Two of them keep the group on (it goes nowhere), two turn it off.
func TestJoin_NoMulticast(t *testing.T) {
	for _, tool := range []string{"iptables"} {
		if _, err := runOutput("sh", "-c", "command -v "+tool); err != nil {
			t.Fatalf("this test needs %s in PATH (apt-get install iptables)", tool)
		}
	}
	l := newLAN(t)
	c := newCluster(t, 4, faultArgs(), l.node(), dropMulticast(t))

	// The group is unusable: two nodes with nothing but multicast send
	// heartbeats to it (the drop rule counts them) and never hear each
	// other.
	a, b := c.node(1), c.node(2)
	a.start(t)
	b.start(t)
	eventually(t, joinTimeout, func() error {
		for _, n := range []*node{a, b} {
			if d := multicastDropped(t, n); d < 6 {
				return fmt.Errorf("node %s: %d multicast datagrams dropped so far", n.addr, d)
			}
			if r, err := n.do("GET", "/readyz", nil, nil); err != nil || r.code != 200 {
				return fmt.Errorf("node %s not ready: %v %v", n.addr, r, err)
			}
		}
		return nil
	})
	for _, n := range []*node{a, b} {
		assert.Empty(t, foundBy(t, n), "node %s heard another node through a group that carries nothing", n.addr)
	}
	a.stop(t)
	b.stop(t)

	// With --join: nodes 1 and 2 keep the group (useless here), 3 and 4
	// turn it off; each is told of one other node only.
	a.args = append(a.args, "--join", c.node(2).addr)
	b.args = append(b.args, "--join", c.node(1).addr+":4984")
	for _, i := range []int{3, 4} {
		c.node(i).args = append(c.node(i).args, "--join", c.node(1).addr, "--multicast=false")
	}
	start := time.Now()
	for _, n := range c.nodes {
		n.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	t.Logf("FIGURE join: 4 nodes without multicast agree on %v %s after start", masters, time.Since(start).Round(time.Millisecond))
	for _, n := range c.nodes {
		for m, how := range foundBy(t, n) {
			assert.Contains(t, []string{api.FoundJoin, api.FoundGossip}, how, "node %s found %s", n.addr, m)
		}
	}
	require.NoError(t, pairSynced(c, masters))

	// Replicate and resolve a miss: written through one node that is not
	// a master, read through another, which asks the masters over HTTP.
	others := c.nonMasters(masters)
	require.Len(t, others, 2)
	w := ackedWrite(t, others[0], "join/k", "v1")
	for _, m := range masters {
		ob := observe(c.byAddr(t, m), "join/k", true)
		assert.Equal(t, 200, ob.code, "master %s holds the write", m)
		assert.Equal(t, w.value, ob.value)
	}
	ob := observe(others[1], "join/k", false)
	require.Equal(t, 200, ob.code, "miss on %s: %v", others[1].addr, ob.err)
	assert.Equal(t, "v1", ob.value)
	ob = observe(others[1], "join/absent", false)
	assert.Equal(t, 404, ob.code, "a key nobody holds: %v", ob.err)

	// Fail over: kill a master; the survivor elects a replacement that
	// syncs, and the key is read on every node left.
	lost := c.byAddr(t, masters[0])
	lost.kill(t)
	killed := time.Now()
	var left []*node
	for _, n := range c.nodes {
		if n != lost {
			left = append(left, n)
		}
	}
	var after []string
	eventually(t, failoverTimeout+joinTimeout/2, func() error {
		ms, err := converged(left)
		if err != nil {
			return err
		}
		if err := pairSynced(c, ms); err != nil {
			return err
		}
		after = ms
		return nil
	})
	t.Logf("FIGURE join: master %s killed, %v synced %s later", lost.addr, after, time.Since(killed).Round(time.Millisecond))
	assert.NotContains(t, after, lost.addr)
	for _, n := range left {
		ob := observe(n, "join/k", false)
		assert.Equal(t, 200, ob.code, "node %s after failover: %v", n.addr, ob.err)
		assert.Equal(t, "v1", ob.value, "node %s after failover", n.addr)
	}
	// Multicast was really tried, and really dropped, all along.
	assert.Positive(t, multicastDropped(t, c.node(2)))
}

// TestJoin_Mixed: three nodes hear each other on the group; two more
// have no multicast and join through one of them. They form one cluster,
// and each node says how it found each member.
func TestJoin_Mixed(t *testing.T) {
	c := newCluster(t, 5)
	// The group's nodes take unicast members only with --join (which may
	// name themselves); the others have no group at all.
	for i := 1; i <= 3; i++ {
		c.node(i).args = append(c.node(i).args, "--join", c.node(1).addr)
	}
	c.node(4).args = append(c.node(4).args, "--join", c.node(1).addr, "--multicast=false")
	c.node(5).args = append(c.node(5).args, "--join", c.node(2).addr, "--multicast=false")
	for _, n := range c.nodes {
		n.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	require.NoError(t, pairSynced(c, masters))

	f2 := foundBy(t, c.node(2))
	assert.Equal(t, api.FoundGroup, f2[c.node(3).addr], "node 2 hears node 3 on the group")
	assert.Equal(t, api.FoundJoin, f2[c.node(5).addr], "node 5 joined through node 2")
	f4 := foundBy(t, c.node(4))
	for m, how := range f4 {
		assert.NotEqual(t, api.FoundGroup, how, "node 4, without the group, found %s on it", m)
	}

	// diststore status shows it too.
	out, stderr, code := runCLI(t, c.node(2), "", "status")
	require.Equal(t, 0, code, stderr)
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.node(5).addr) + `\s+\S+\s+\d+\s+join\s*$`)
	assert.Regexp(t, row, out, "diststore status on node 2 says node 5 joined")

	w := ackedWrite(t, c.node(5), "mixed/k", "from a node without the group")
	for _, n := range c.nodes {
		ob := observe(n, "mixed/k", false)
		assert.Equal(t, 200, ob.code, "node %s: %v", n.addr, ob.err)
		assert.Equal(t, w.value, ob.value, "node %s", n.addr)
	}
}

// runOutput runs a command and returns its standard output.
func runOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// TestJoin_ClusterKey: the cluster key seals unicast membership as it
// seals the group's: keyed nodes without multicast join by address; a node
// without the key that is told their addresses is dropped, never listed.
func TestJoin_ClusterKey(t *testing.T) {
	c := newCluster(t, 4, withArgs("--multicast=false"), withKeyFile(t, clusterkey.NewKey()))
	for _, n := range c.nodes {
		n.args = append(n.args, "--join", c.node(1).addr)
	}
	c.node(1).args = append(c.node(1).args, "--join", c.node(2).addr)
	keyed := c.nodes[:3]
	for _, n := range keyed {
		n.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, keyed...)
	require.NoError(t, pairSynced(c, masters))

	before := droppedUnsealed(t, c.node(1))
	stranger := c.node(4)
	stranger.args = []string{"--multicast=false", "--join", c.node(1).addr}
	stranger.start(t)
	eventually(t, 10*time.Second, func() error {
		if d := droppedUnsealed(t, c.node(1)) - before; d < 5 {
			return fmt.Errorf("node 1 dropped %.0f unsealed datagrams since the stranger started, want 5", d)
		}
		return nil
	})
	for _, n := range keyed {
		assert.False(t, status(t, n).hasMember(stranger.addr), "keyed node %s lists the keyless node", n.addr)
	}
	assert.Empty(t, foundBy(t, stranger), "the keyless node hears no keyed node")
}
