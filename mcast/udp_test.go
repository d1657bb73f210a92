package mcast

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// udpWait bounds every wait for a datagram in these tests.
const udpWait = 3 * time.Second

// testGroup returns a group address and a port no other test on this host
// is likely to use: the port is a free ephemeral one.
func testGroup(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	return netip.AddrPortFrom(netip.MustParseAddr("239.255.41.84"), uint16(c.LocalAddr().(*net.UDPAddr).Port))
}

// udpNodes starts n transports on 127.0.2.1..n sharing one group, joined
// on the interface InterfaceFor finds (lo), and closes them at cleanup. It
// fails the test, never skips it, where a transport cannot listen or
// multicast does not loop back on lo: these tests need both, and one that
// can pass by skipping tests nothing.
func udpNodes(t *testing.T, n int) []Transport {
	t.Helper()
	group := testGroup(t)
	ts := make([]Transport, n)
	for i := range ts {
		addr := netip.AddrFrom4([4]byte{127, 0, 2, byte(i + 1)})
		tr, err := ListenUDP(UDPConfig{Addr: addr, Group: group, QueueLen: 64})
		if err != nil {
			t.Fatalf("ListenUDP on %v, group %v: %v (these tests need the 127.0.0.0/8 addresses on lo and multicast on lo)", addr, group, err)
		}
		ts[i] = tr
		t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	}
	// Probe: the first node must hear itself, or multicast does not loop
	// back on lo and every test below would fail for that reason alone.
	require.NoError(t, ts[0].Multicast([]byte("probe")))
	if _, ok := recvUntil(ts[0], time.Now().Add(udpWait), func(p Packet) bool { return string(p.Data) == "probe" }); !ok {
		t.Fatalf("multicast on loopback is missing: %v did not receive its own datagram to %v within %v (is multicast looped back on lo?)", ts[0].LocalAddr(), group, udpWait)
	}
	for _, tr := range ts[1:] { // discard the probe elsewhere
		recvUntil(tr, time.Now().Add(udpWait), func(p Packet) bool { return string(p.Data) == "probe" })
	}
	return ts
}

// recvUntil reads tr until a packet satisfies match or the deadline passes.
func recvUntil(tr Transport, deadline time.Time, match func(Packet) bool) (Packet, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case p, ok := <-tr.Packets():
			if !ok {
				return Packet{}, false
			}
			if match(p) {
				return p, true
			}
		case <-timer.C:
			return Packet{}, false
		}
	}
}

// collect reads tr until it has want packets, then for a short grace
// period more, to reveal duplicates; it stops at the deadline regardless.
func collect(tr Transport, want int, deadline time.Time) []Packet {
	const grace = 200 * time.Millisecond
	var ps []Packet
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case p, ok := <-tr.Packets():
			if !ok {
				return ps
			}
			ps = append(ps, p)
			if len(ps) == want {
				timer.Reset(grace)
			}
		case <-timer.C:
			return ps
		}
	}
}

func TestUDP_MulticastAndUnicast(t *testing.T) {
	const n = 3
	ts := udpNodes(t, n)
	from := make(map[netip.AddrPort]int) // LocalAddr → node index
	sent := make([]uint64, n)            // Stats().Sent before the test, the probe counted
	for i, tr := range ts {
		from[tr.LocalAddr()] = i
		sent[i] = tr.Stats().Sent
	}

	// Every node multicasts once and unicasts once to every node, itself
	// included.
	for i, tr := range ts {
		require.NoError(t, tr.Multicast(fmt.Appendf(nil, "m%d", i)))
		for j, to := range ts {
			require.NoError(t, tr.Unicast(to.LocalAddr(), fmt.Appendf(nil, "u%d>%d", i, j)))
		}
	}

	deadline := time.Now().Add(udpWait)
	dups := 0
	for j, tr := range ts {
		ps := collect(tr, 2*n, deadline)
		group := make(map[string]int)
		uni := make(map[string]int)
		for _, p := range ps {
			i, ours := from[p.From]
			if !ours {
				continue // another process's datagram on this group
			}
			if p.Group {
				assert.Equal(t, fmt.Sprintf("m%d", i), string(p.Data), "node %d: group datagram from node %d", j, i)
				group[string(p.Data)]++
			} else {
				assert.Equal(t, fmt.Sprintf("u%d>%d", i, j), string(p.Data), "node %d: unicast meant for another node", j)
				uni[string(p.Data)]++
			}
		}
		for i := range n {
			m, u := fmt.Sprintf("m%d", i), fmt.Sprintf("u%d>%d", i, j)
			assert.Positive(t, group[m], "node %d missed multicast %q", j, m)
			assert.Equal(t, 1, uni[u], "node %d: copies of unicast %q", j, u)
			if group[m] > 1 {
				dups += group[m] - 1
				t.Logf("node %d received multicast %q %d times", j, m, group[m])
			}
		}
		assert.Equal(t, sent[j]+n+1, tr.Stats().Sent, "node %d", j)
	}
	// Duplicates are tolerated (receivers must cope), but reported: on Linux
	// loopback none have been seen, with or without lo's MULTICAST flag.
	t.Logf("%d nodes, %d multicasts: %d duplicate copies", n, n, dups)
}

func TestUDP_Oversize(t *testing.T) {
	ts := udpNodes(t, 1)
	tr := ts[0]
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 2, 9)}, net.UDPAddrFromAddrPort(tr.LocalAddr()))
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Write(make([]byte, MaxDatagram+1))
	require.NoError(t, err)
	_, err = c.Write(make([]byte, MaxDatagram)) // the limit itself passes
	require.NoError(t, err)

	p, ok := recvUntil(tr, time.Now().Add(udpWait), func(p Packet) bool { return !p.Group })
	require.True(t, ok, "no unicast datagram within %v", udpWait)
	assert.Len(t, p.Data, MaxDatagram)
	assert.Equal(t, netip.MustParseAddr("127.0.2.9"), p.From.Addr())
	// Both datagrams came in order on one socket, so the drop is counted.
	assert.Equal(t, uint64(1), tr.Stats().Dropped[DropOversize])

	assert.ErrorIs(t, tr.Multicast(make([]byte, MaxDatagram+1)), ErrTooLarge)
	assert.ErrorIs(t, tr.Unicast(tr.LocalAddr(), make([]byte, MaxDatagram+1)), ErrTooLarge)
}

func TestUDP_Close(t *testing.T) {
	ts := udpNodes(t, 1)
	tr := ts[0]
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close()) // idempotent
	_, err := recvUntil(tr, time.Now().Add(udpWait), func(Packet) bool { return true })
	assert.False(t, err, "Packets is closed after Close")
	assert.ErrorIs(t, tr.Multicast([]byte("x")), net.ErrClosed)
	assert.ErrorIs(t, tr.Unicast(tr.LocalAddr(), []byte("x")), net.ErrClosed)
}

// TestUDP_FixedUnicastPort: answers arrive on the configured port, which a
// firewall can allow, and a second node on the same address and port is
// refused with a hint instead of sharing it.
func TestUDP_FixedUnicastPort(t *testing.T) {
	addr := netip.MustParseAddr("127.0.2.9")
	free, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	require.NoError(t, err)
	port := uint16(free.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, free.Close())

	group := testGroup(t)
	tr, err := ListenUDP(UDPConfig{Addr: addr, UnicastPort: port, Group: group})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	assert.Equal(t, netip.AddrPortFrom(addr, port), tr.LocalAddr())

	// A datagram sent to that port arrives as unicast.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 2, 8)})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.WriteToUDPAddrPort([]byte("to-the-fixed-port"), netip.AddrPortFrom(addr, port))
	require.NoError(t, err)
	p, ok := recvUntil(tr, time.Now().Add(udpWait), func(p Packet) bool { return string(p.Data) == "to-the-fixed-port" })
	require.True(t, ok, "no datagram on the fixed unicast port")
	assert.False(t, p.Group)

	_, err = ListenUDP(UDPConfig{Addr: addr, UnicastPort: port, Group: group})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another node on this address")
}

func TestListenUDP_BadConfig(t *testing.T) {
	for name, cfg := range map[string]UDPConfig{
		"NoAddr":       {},
		"IPv6Addr":     {Addr: netip.IPv6Loopback()},
		"UnicastGroup": {Addr: ip1, Group: netip.MustParseAddrPort("127.0.0.1:4983")},
		"NoGroupPort":  {Addr: ip1, Group: netip.MustParseAddrPort("239.255.41.83:0")},
		"NegativeTTL":  {Addr: ip1, TTL: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ListenUDP(cfg)
			assert.Error(t, err)
		})
	}
}

func TestInterfaceFor(t *testing.T) {
	ifi, err := InterfaceFor(netip.MustParseAddr("127.0.2.5"))
	require.NoError(t, err)
	assert.NotZero(t, ifi.Flags&net.FlagLoopback, "127.0.2.5 maps to %s, not a loopback interface", ifi.Name)

	_, err = InterfaceFor(netip.MustParseAddr("203.0.113.77")) // TEST-NET-3, on no interface
	assert.ErrorContains(t, err, "no interface")
}
