package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
)

// The UDP side, spoken from a raw socket: the original's messages still get
// their answers, and garbage sent to the group harms no one.

// group is the default multicast group and port of diststored.
var group = &net.UDPAddr{IP: net.IPv4(239, 255, 41, 83), Port: 4983}

// probeAddr is the test's own address for raw UDP: a loopback alias no node
// uses, inside the namespace.
const probeAddr = "127.0.2.200"

// udpProbe is a UDP socket bound to probeAddr that sends to the group over
// lo and receives unicast answers.
type udpProbe struct {
	conn *net.UDPConn
	port int
}

func newUDPProbe(t testing.TB) *udpProbe {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(probeAddr)})
	require.NoError(t, err, "binding %s", probeAddr)
	t.Cleanup(func() { conn.Close() })
	lo, err := loopbackInterface()
	require.NoError(t, err)
	pc := ipv4.NewPacketConn(conn)
	require.NoError(t, pc.SetMulticastInterface(lo), "IP_MULTICAST_IF %s", lo.Name)
	require.NoError(t, pc.SetMulticastTTL(1))
	require.NoError(t, pc.SetMulticastLoopback(true))
	return &udpProbe{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port}
}

// loopbackInterface returns lo, the one interface of the namespace.
func loopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("no loopback interface")
}

// send writes one datagram to the group.
func (p *udpProbe) send(t testing.TB, b []byte) {
	t.Helper()
	_, err := p.conn.WriteToUDP(b, group)
	require.NoError(t, err, "sending %d bytes to %s", len(b), group)
}

// datagram is one message received by the probe.
type datagram struct {
	from *net.UDPAddr
	text string
}

// collect reads datagrams until none arrives for quiet, or until limit has
// passed since the call, whichever comes first.
func (p *udpProbe) collect(t testing.TB, quiet, limit time.Duration) []datagram {
	t.Helper()
	var out []datagram
	end := time.Now().Add(limit)
	buf := make([]byte, 65536)
	for time.Now().Before(end) {
		dl := time.Now().Add(quiet)
		if dl.After(end) {
			dl = end
		}
		require.NoError(t, p.conn.SetReadDeadline(dl))
		n, from, err := p.conn.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		out = append(out, datagram{from: from, text: string(buf[:n])})
	}
	return out
}

// TestCluster_WireCompatWhohasKeycount speaks the original's queries from a
// raw socket: every holder of a key answers "whohas <key> <ip> <port>" with
// "gotkey <key> <ip>", and every node answers "keycount <ip> <port>" with
// "keycount <ip> <count>", both by unicast to ip:port. --answer-fanout at
// least the cluster's size makes every holder answer, as the original did
// (by default the masters answer and other holders only sometimes).
func TestCluster_WireCompatWhohasKeycount(t *testing.T) {
	c := startCluster(t, 3, withArgs("--answer-fanout", "3"))
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	writer := c.nonMasters(masters)[0]
	const key = "wire-key"
	requirePut(t, writer, key, "v")
	holders := sortedAddrs(append([]string{writer.addr}, masters...))

	p := newUDPProbe(t)
	// UDP may drop a query or an answer, so a query is repeated (at most a
	// few times) until every expected node has answered once.
	t.Run("whohas", func(t *testing.T) {
		answered := map[string]bool{}
		eventually(t, 10*time.Second, func() error {
			p.send(t, fmt.Appendf(nil, "whohas %s %s %d", key, probeAddr, p.port))
			// Answers come within the multicast timeout (1s).
			for _, d := range p.collect(t, 1200*time.Millisecond, 3*time.Second) {
				f := strings.Fields(d.text)
				if len(f) < 3 || f[0] != "gotkey" {
					t.Logf("other datagram from %s: %q", d.from, d.text)
					continue
				}
				assert.Equal(t, key, f[1], "gotkey from %s: %q", d.from, d.text)
				assert.Equal(t, d.from.IP.String(), f[2], "gotkey names the address it came from: %q", d.text)
				assert.Contains(t, holders, f[2], "a node that does not hold %s answered gotkey", key)
				answered[f[2]] = true
			}
			for _, h := range holders {
				if !answered[h] {
					return fmt.Errorf("holder %s has not answered whohas %s (holders: writer %s and masters %v)", h, key, writer.addr, masters)
				}
			}
			return nil
		})
	})
	// A key no one holds, asked by a node that sends no heartbeat (the
	// original pydiststore, which takes the first datagram after its
	// whohas as the answer and cannot read "nokey"): no node answers.
	t.Run("whohas_missing", func(t *testing.T) {
		const missing = "wire-no-such-key"
		for _, n := range c.nodes {
			if slices.Contains(masters, n.addr) {
				require.True(t, status(t, n).Synced, "master %s is not synced, and only a synced master could answer for a key it lacks", n.addr)
			}
		}
		for range 3 {
			p.send(t, fmt.Appendf(nil, "whohas %s %s %d", missing, probeAddr, p.port))
			for _, d := range p.collect(t, 1200*time.Millisecond, 3*time.Second) {
				assert.NotContains(t, d.text, missing, "an answer from %s to a whohas for a key no one holds, asked by a non-member", d.from)
			}
		}
	})
	t.Run("keycount", func(t *testing.T) {
		want := map[string]int{}
		for _, n := range c.nodes {
			want[n.addr] = status(t, n).Keys
		}
		got := map[string]int{}
		eventually(t, 10*time.Second, func() error {
			p.send(t, fmt.Appendf(nil, "keycount %s %d", probeAddr, p.port))
			for _, d := range p.collect(t, 1200*time.Millisecond, 3*time.Second) {
				f := strings.Fields(d.text)
				if len(f) < 3 || f[0] != "keycount" {
					t.Logf("other datagram from %s: %q", d.from, d.text)
					continue
				}
				count, err := strconv.Atoi(f[2])
				if assert.NoError(t, err, "keycount answer %q", d.text) {
					got[f[1]] = count
				}
			}
			if len(got) < len(want) {
				return fmt.Errorf("keycount answers so far: %v; want one from each of %d nodes", got, len(want))
			}
			return nil
		})
		assert.Equal(t, want, got, "keycount answers vs /status keys")
	})
}

// garbage returns the datagrams TestCluster_GarbageDatagramsIgnored sends.
// None names an address outside the namespace's 127.0.2.x.
func garbage(rng *rand.Rand) [][]byte {
	var out [][]byte
	for range 8 {
		b := make([]byte, 1+rng.IntN(600))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		out = append(out, b)
	}
	texts := []string{
		"",
		" ",
		"\n",
		// truncated or malformed known messages
		"whohas",
		"whohas ",
		"whohas k",
		"whohas k " + probeAddr,
		"whohas k " + probeAddr + " notaport",
		"whohas k " + probeAddr + " 99999",
		"whohas k " + probeAddr + " -1",
		"whohas k not-an-ip 4983",
		"whohas k 127.0.2.999 4983",
		"whohas  k   " + probeAddr + "  1 extra fields",
		"gotkey",
		"gotkey k",
		"gotkey k not-an-ip",
		"gotkey garbage-before " + probeAddr, // unsolicited answer
		"keycount",
		"keycount x y",
		"keycount " + probeAddr,
		"keycount " + probeAddr + " -5",
		"keycount " + probeAddr + " 99999999999999999999999",
		"keycount x y\nkeycount x y",
		"masterlost",
		"masterlost x",
		"masterlost x y",
		"hb",
		"hb 1",
		"hb 1 garbage",
		"hb 1 " + probeAddr + " x y z",
		"hb 99 " + probeAddr,
		"hb x y z",
		"nokey",
		"nokey 1",
		"nokey 1 x y",
		"bye",
		"bye 1",
		"bye 1 not-an-ip",
		"bye 42 " + probeAddr,
		// unknown kinds
		"hello world",
		"HB 1",
		"WHOHAS k " + probeAddr + " 1",
		"\x00\x00\x00\x00",
		"\xff\xfe\xfd\xfc",
		"whohas \xff\xfe " + probeAddr + " 1",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		// oversize
		strings.Repeat("A", 2000),
		"whohas " + strings.Repeat("k", 2000) + " " + probeAddr + " 1",
		"hb 1 " + strings.Repeat("x", 2000),
		"keycount " + strings.Repeat("9", 2000) + " 1",
		strings.Repeat("whohas k ", 1000),
		strings.Repeat("B", 9000),
	}
	for _, s := range texts {
		out = append(out, []byte(s))
	}
	return out
}

// TestCluster_GarbageDatagramsIgnored sends garbage to the multicast group;
// the cluster keeps serving reads and writes, every node stays alive, and
// every node's multicast listener still answers.
func TestCluster_GarbageDatagramsIgnored(t *testing.T) {
	c := startCluster(t, 4)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	require.Len(t, others, 2)

	// Before.
	requirePut(t, others[0], "before", "b")
	r := get(t, others[1], "before")
	require.Equal(t, 200, r.code, "before the garbage: %v", r)

	seed := uint64(time.Now().UnixNano())
	t.Logf("random garbage seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x64697374))
	dgs := garbage(rng)
	p := newUDPProbe(t)
	for range 3 {
		for _, d := range dgs {
			p.send(t, d)
		}
	}
	t.Logf("sent %d datagrams from %s to %s; %s", 3*len(dgs), probeAddr, group, udpStats())

	// After. The garbage was queued before anything below, so a listener
	// that died on it cannot answer.
	c.requireAlive(t)
	// Every node's multicast listener still answers keycount. UDP is
	// lossy: the burst may overflow a node's receive buffer (the kernel
	// drops, see RcvbufErrors) and with it a query sent right after, so ask
	// again until every node has answered once. A dead listener never does.
	answered := map[string]bool{}
	eventually(t, 10*time.Second, func() error {
		p.send(t, fmt.Appendf(nil, "keycount %s %d", probeAddr, p.port))
		for _, d := range p.collect(t, 1200*time.Millisecond, 3*time.Second) {
			if f := strings.Fields(d.text); len(f) == 3 && f[0] == "keycount" && f[1] == d.from.IP.String() {
				answered[f[1]] = true
			}
		}
		var silent []string
		for _, n := range c.nodes {
			if !answered[n.addr] {
				silent = append(silent, n.addr)
			}
		}
		if len(silent) > 0 {
			return fmt.Errorf("no keycount answer yet from %v (is their multicast listener alive?); %s", silent, udpStats())
		}
		return nil
	})
	t.Logf("every node answered keycount after the garbage; %s", udpStats())

	// Misses still resolve between the non-masters by whohas (masters
	// answer a miss themselves), both ways, and replicated writes still
	// work. A key stored with POST /local is found once the reader has
	// heard the holder's heartbeat saying it holds such keys.
	for i, holder := range others {
		reader := others[1-i]
		key := "after-local-" + holder.addr
		r := putLocal(t, holder, key, "x")
		require.True(t, r.ok(), "node %s POST /local/%s: %v", holder.addr, key, r)
		eventually(t, 5*time.Second, func() error {
			if r := get(t, reader, key); r.code != 200 {
				return fmt.Errorf("node %s cannot find %s, held only by %s: %v", reader.addr, key, holder.addr, r)
			}
			return nil
		})
	}
	requirePut(t, others[1], "after", "a")
	for _, n := range c.nodes {
		r := get(t, n, "after")
		assert.Equal(t, 200, r.code, "node %s GET /get/after: %v", n.addr, r)
		r = get(t, n, "before")
		assert.Equal(t, 200, r.code, "node %s GET /get/before: %v", n.addr, r)
		r = do(t, n, "GET", "/healthz", nil, nil)
		assert.Equal(t, 200, r.code, "node %s /healthz: %v", n.addr, r)
	}
	got := c.waitConverged(t, joinTimeout, c.nodes...)
	assert.Equal(t, masters, got, "masters after the garbage")
	c.requireAlive(t)
}

// udpStats returns the namespace's UDP counters from /proc/net/snmp
// (RcvbufErrors counts datagrams the kernel dropped on a full socket).
func udpStats() string {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return "no UDP counters: " + err.Error()
	}
	var names, values []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Udp:" {
			if names == nil {
				names = f[1:]
			} else {
				values = f[1:]
			}
		}
	}
	var out []string
	for i := range min(len(names), len(values)) {
		switch names[i] {
		case "InDatagrams", "InErrors", "RcvbufErrors", "MemErrors":
			out = append(out, names[i]+"="+values[i])
		}
	}
	return "UDP " + strings.Join(out, " ")
}
