package mcast

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memNodes joins one transport per address and closes them at cleanup,
// checking that nothing was dropped for a full queue.
func memNodes(t testing.TB, n *MemNetwork, addrs ...netip.Addr) []Transport {
	t.Helper()
	ts := make([]Transport, len(addrs))
	for i, a := range addrs {
		ts[i] = n.Join(a)
		tr := ts[i]
		t.Cleanup(func() {
			assert.Zero(t, tr.Stats().Dropped[DropQueueFull], "%v dropped datagrams", tr.LocalAddr())
			assert.NoError(t, tr.Close())
		})
	}
	return ts
}

// queued returns the packets waiting on tr, without blocking: MemNetwork
// delivers before Multicast and Unicast return.
func queued(tr Transport) []Packet {
	var ps []Packet
	for {
		select {
		case p := <-tr.Packets():
			ps = append(ps, p)
		default:
			return ps
		}
	}
}

func TestMemNetwork_Multicast(t *testing.T) {
	n := NewMemNetwork()
	ts := memNodes(t, n, ip1, ip2, ip3)
	require.NoError(t, ts[0].Multicast([]byte("hello")))
	for _, tr := range ts { // the sender included
		ps := queued(tr)
		require.Len(t, ps, 1, "%v", tr.LocalAddr())
		assert.Equal(t, Packet{From: ts[0].LocalAddr(), Data: []byte("hello"), Group: true}, ps[0])
	}
	assert.Equal(t, uint64(1), ts[0].Stats().Sent)
	assert.Equal(t, uint64(1), ts[2].Stats().Received)
}

func TestMemNetwork_Unicast_Exact(t *testing.T) {
	n := NewMemNetwork()
	// Two nodes share ip2: only the one whose port matches gets the answer.
	ts := memNodes(t, n, ip1, ip2, ip2)
	require.NotEqual(t, ts[1].LocalAddr(), ts[2].LocalAddr())
	require.NoError(t, ts[0].Unicast(ts[2].LocalAddr(), []byte("answer")))
	assert.Empty(t, queued(ts[0]))
	assert.Empty(t, queued(ts[1]))
	assert.Equal(t, []Packet{{From: ts[0].LocalAddr(), Data: []byte("answer")}}, queued(ts[2]))

	// Unknown destinations vanish silently, as on a real network.
	require.NoError(t, ts[0].Unicast(netip.AddrPortFrom(ip3, 1), []byte("lost")))
	for _, tr := range ts {
		assert.Empty(t, queued(tr))
	}
}

func TestMemNetwork_DataIsCopied(t *testing.T) {
	n := NewMemNetwork()
	ts := memNodes(t, n, ip1, ip2)
	b := []byte("abc")
	require.NoError(t, ts[0].Multicast(b))
	b[0] = 'X'
	p1, p2 := queued(ts[0])[0], queued(ts[1])[0]
	p1.Data[1] = 'Y'
	assert.Equal(t, "abc", string(p2.Data))
}

func TestMemNetwork_Loss(t *testing.T) {
	n := NewMemNetwork()
	ts := memNodes(t, n, ip1, ip2)
	n.SetLoss(0.5)
	const sent = 1000
	for range sent {
		require.NoError(t, ts[0].Unicast(ts[1].LocalAddr(), []byte("x")))
		queued(ts[1]) // keep the queue from filling
	}
	got := ts[1].Stats().Received
	assert.InDelta(t, sent/2, got, sent/10, "received %d of %d at 50%% loss", got, sent)

	n.SetLoss(1)
	require.NoError(t, ts[0].Multicast([]byte("x")))
	assert.Empty(t, queued(ts[0]))
	assert.Empty(t, queued(ts[1]))

	n.SetLoss(0)
	require.NoError(t, ts[0].Multicast([]byte("x")))
	assert.Len(t, queued(ts[1]), 1)
}

func TestMemNetwork_Partition(t *testing.T) {
	n := NewMemNetwork()
	ip4 := netip.MustParseAddr("127.0.2.4")
	ts := memNodes(t, n, ip1, ip2, ip3, ip4)
	n.Partition([]netip.Addr{ip1, ip2}, []netip.Addr{ip3}) // ip4 is unnamed: its own side

	require.NoError(t, ts[0].Multicast([]byte("m")))
	assert.Len(t, queued(ts[0]), 1)
	assert.Len(t, queued(ts[1]), 1)
	assert.Empty(t, queued(ts[2]))
	assert.Empty(t, queued(ts[3]))

	require.NoError(t, ts[2].Unicast(ts[0].LocalAddr(), []byte("u")))
	assert.Empty(t, queued(ts[0]))
	require.NoError(t, ts[3].Unicast(ts[2].LocalAddr(), []byte("u")))
	assert.Empty(t, queued(ts[2]))

	n.Partition() // heal
	require.NoError(t, ts[2].Unicast(ts[0].LocalAddr(), []byte("u")))
	assert.Len(t, queued(ts[0]), 1)
}

func TestMemNetwork_QueueFull(t *testing.T) {
	n := NewMemNetwork()
	a, b := n.Join(ip1), n.Join(ip2)
	defer a.Close()
	defer b.Close()
	for range memQueueLen + 5 {
		require.NoError(t, a.Unicast(b.LocalAddr(), []byte("x")))
	}
	s := b.Stats()
	assert.Equal(t, uint64(memQueueLen), s.Received)
	assert.Equal(t, uint64(5), s.Dropped[DropQueueFull])
}

func TestMemNetwork_Close(t *testing.T) {
	n := NewMemNetwork()
	a, b := n.Join(ip1), n.Join(ip2)
	defer b.Close()
	require.NoError(t, a.Close())
	require.NoError(t, a.Close()) // idempotent
	_, open := <-a.Packets()
	assert.False(t, open, "Packets is closed after Close")
	assert.ErrorIs(t, a.Multicast([]byte("x")), net.ErrClosed)
	assert.ErrorIs(t, a.Unicast(b.LocalAddr(), []byte("x")), net.ErrClosed)

	// A closed node no longer receives, and sending to it is harmless.
	require.NoError(t, b.Multicast([]byte("x")))
	require.NoError(t, b.Unicast(netip.AddrPortFrom(ip1, a.LocalAddr().Port()), []byte("x")))
	assert.Len(t, queued(b), 1)
}

func TestMemNetwork_TooLarge(t *testing.T) {
	n := NewMemNetwork()
	ts := memNodes(t, n, ip1)
	err := ts[0].Multicast(make([]byte, MaxDatagram+1))
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.NoError(t, ts[0].Multicast(make([]byte, MaxDatagram)))
}

func TestMemNetwork_ConcurrentClose(t *testing.T) {
	// Run with -race: deliveries racing Close must neither panic on a
	// closed channel nor race.
	n := NewMemNetwork()
	a, b := n.Join(ip1), n.Join(ip2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			_ = a.Multicast([]byte("x"))
		}
	}()
	for range b.Packets() {
		b.Close() // Close from the consumer while a keeps sending
	}
	<-done
	a.Close()
}

func TestMemNetwork_JoinNoGroup(t *testing.T) {
	n := NewMemNetwork()
	ts := memNodes(t, n, ip1, ip2)
	ng := n.JoinNoGroup(ip3)
	t.Cleanup(func() { assert.NoError(t, ng.Close()) })

	// A group node's multicast does not reach the node without the group.
	require.NoError(t, ts[0].Multicast([]byte("hello")))
	assert.Empty(t, queued(ng))
	require.Len(t, queued(ts[1]), 1)
	// It cannot multicast itself.
	require.ErrorIs(t, ng.Multicast([]byte("hello")), ErrNoGroup)
	assert.Empty(t, queued(ts[1]))
	// Unicast both ways works.
	require.NoError(t, ng.Unicast(ts[1].LocalAddr(), []byte("to group node")))
	require.NoError(t, ts[1].Unicast(ng.LocalAddr(), []byte("to no-group node")))
	assert.Equal(t, []Packet{{From: ng.LocalAddr(), Data: []byte("to group node")}}, filterData(queued(ts[1]), "to group node"))
	assert.Equal(t, []Packet{{From: ts[1].LocalAddr(), Data: []byte("to no-group node")}}, queued(ng))
}

func filterData(ps []Packet, data string) []Packet {
	var out []Packet
	for _, p := range ps {
		if string(p.Data) == data {
			out = append(out, p)
		}
	}
	return out
}
