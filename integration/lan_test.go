package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A lan is a network that can be split for real: each node runs in a
// network namespace of its own, linked by a veth pair to a bridge in the
// test's namespace. All nodes start on one bridge, so multicast and HTTP
// flow between them as on one segment; split moves some nodes' links to a
// second bridge, and from then on no packet, unicast or multicast, crosses
// between the two sides (the test's namespace does not forward). The test
// itself stays on both bridges and reaches every node.
//
// Every address is in 127.0.4.0/24: node i is 127.0.4.i; both bridges
// carry the test's address lanHub and one MAC address, so that a node that
// changes sides still has the test as a neighbour. Loopback addresses on a
// veth need route_localnet in every namespace involved, and a node
// namespace routes 127.0.4.0/24 to its link instead of to lo; the test's
// namespace routes each node to its bridge through table lanTable,
// consulted before the local table (see netnsSetup).
const (
	lanPrefix = "127.0.4."
	lanHub    = "127.0.4.254" // the test's address on both bridges
	lanMAC    = "02:00:7f:00:04:fe"
	lanTable  = "104"
	lanLink   = "dsnet" // the node's end of its veth pair, in its namespace
)

// lanBridges are the bridges of a lan: side A (every node at first), then
// side B.
var lanBridges = [2]string{"dsbr0", "dsbr1"}

// lan is the network of one test.
type lan struct {
	t testing.TB
}

// lanTools are the commands a lan needs; a test that uses one fails, naming
// the missing tool, when one is absent.
var lanTools = []string{"ip", "unshare", "nsenter", "curl", "sleep"}

// newLAN creates the two bridges; cleanup removes them.
func newLAN(t testing.TB) *lan {
	t.Helper()
	for _, tool := range lanTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the split test needs %s in PATH (apt-get install iproute2 util-linux curl coreutils): %v", tool, err)
		}
	}
	l := &lan{t: t}
	for _, br := range lanBridges {
		mustRun(t, "ip", "link", "add", br, "address", lanMAC, "type", "bridge", "mcast_snooping", "0")
		t.Cleanup(func() { _ = run("ip", "link", "del", br) })
		writeSysctl(t, "net/ipv4/conf/"+br+"/route_localnet", "1")
		mustRun(t, "ip", "addr", "add", lanHub+"/24", "dev", br)
		mustRun(t, "ip", "link", "set", br, "up")
	}
	writeSysctl(t, "net/ipv4/conf/all/route_localnet", "1")
	t.Cleanup(func() { _ = run("ip", "route", "flush", "table", lanTable) })
	return l
}

// lanNode makes node i a node of l: its address is 127.0.4.i, in a network
// namespace of its own (held by a process the harness starts and stops by
// its PID), linked to bridge A. Pass it to newCluster.
func (l *lan) node() nodeOption {
	return func(n *node) {
		t := l.t
		n.addr = lanPrefix + strconv.Itoa(n.idx)
		n.lan = l
		holder := exec.Command("unshare", "-n", "sleep", "infinity")
		holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := holder.Start(); err != nil {
			t.Fatalf("node %s: starting its namespace: %v", n.addr, err)
		}
		n.netnsPID = holder.Process.Pid
		t.Cleanup(func() {
			_ = holder.Process.Kill()
			_ = holder.Wait()
		})
		// unshare creates the namespace, then execs sleep: wait for it.
		self, err := os.Readlink("/proc/self/ns/net")
		require.NoError(t, err)
		eventually(t, 5*time.Second, func() error {
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", n.netnsPID))
			if err != nil || ns == self {
				return fmt.Errorf("node %s: namespace not created yet (%v)", n.addr, err)
			}
			return nil
		})
		hub := n.hubLink()
		mustRun(t, "ip", "link", "add", hub, "type", "veth", "peer", "name", lanLink, "netns", strconv.Itoa(n.netnsPID))
		mustRun(t, "ip", "link", "set", hub, "master", lanBridges[0], "up")
		mustRun(t, "ip", "route", "add", n.addr+"/32", "dev", lanBridges[0], "src", lanHub, "table", lanTable)
		// Inside: lo up, the link up with the node's address, 127.0.4.0/24
		// reached through the link rather than lo, multicast on the link.
		mustRun(t, "nsenter", "-t", strconv.Itoa(n.netnsPID), "-n", "sh", "-ec", strings.Join([]string{
			"ip link set lo up",
			"ip link set " + lanLink + " up",
			"ip addr add " + n.addr + "/24 dev " + lanLink,
			"echo 1 >/proc/sys/net/ipv4/conf/all/route_localnet",
			"echo 1 >/proc/sys/net/ipv4/conf/" + lanLink + "/route_localnet",
			"ip route del local 127.0.0.0/8 dev lo table local",
			"ip route add 224.0.0.0/4 dev " + lanLink,
		}, " && "))
	}
}

// hubLink is the name of the node's veth end on the bridges.
func (n *node) hubLink() string { return "dsh" + strconv.Itoa(n.idx) }

// split moves the nodes of side to bridge B: from then on they reach each
// other and the test, and nothing of the rest. heal moves them back; it is
// also called at cleanup.
func (l *lan) split(side []*node) (heal func()) {
	t := l.t
	t.Helper()
	move := func(to int) {
		for _, n := range side {
			mustRun(t, "ip", "link", "set", n.hubLink(), "master", lanBridges[to])
			mustRun(t, "ip", "route", "replace", n.addr+"/32", "dev", lanBridges[to], "src", lanHub, "table", lanTable)
		}
	}
	move(1)
	healed := false
	heal = func() {
		if !healed {
			healed = true
			move(0)
		}
	}
	t.Cleanup(heal)
	return heal
}

// reach reports whether from can open an HTTP connection to to and get its
// /status, from inside from's namespace.
func (from *node) reach(to *node) error {
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(from.netnsPID), "-n",
		"curl", "-sS", "-o", "/dev/null", "--max-time", "1", to.baseURL()+"/status").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s → %s: %v: %s", from.addr, to.addr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// command returns the command that runs the daemon with args: in the
// node's own namespace when it has one.
func (n *node) command(args []string) *exec.Cmd {
	if n.netnsPID == 0 {
		return exec.Command(n.binary(), args...)
	}
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(n.netnsPID), "-n", "--", n.binary()}, args...)...)
}

// clientSrc is the address the fault clients connect from: the node's own
// on loopback (so an iptables rule can tell the node's traffic apart), the
// test's own on a lan.
func (n *node) clientSrc() string {
	if n.lan != nil {
		return ""
	}
	return n.addr
}

// run runs a command and returns its error with its output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if err := run(name, args...); err != nil {
		t.Fatal(err)
	}
}

// writeSysctl writes value to /proc/sys/<key> of this namespace.
func writeSysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
		t.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}
