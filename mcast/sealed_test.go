package mcast_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/mcast"
)

var testGroup = netip.MustParseAddrPort("239.255.41.83:4983")

func ring(t *testing.T, keys ...byte) *clusterkey.Ring {
	t.Helper()
	var ks [][clusterkey.KeySize]byte
	for _, b := range keys {
		var k [clusterkey.KeySize]byte
		k[0] = b
		ks = append(ks, k)
	}
	r, err := clusterkey.New(ks, clusterkey.Options{})
	require.NoError(t, err)
	return r
}

func sealed(t *testing.T, n *mcast.MemNetwork, addr string, r *clusterkey.Ring) mcast.Transport {
	t.Helper()
	tr := mcast.Sealed(n.Join(netip.MustParseAddr(addr)), r, testGroup, clusterkey.Reason)
	t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	return tr
}

// next waits for tr's next datagram, or fails.
func next(t *testing.T, tr mcast.Transport) mcast.Packet {
	t.Helper()
	select {
	case p := <-tr.Packets():
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("%v: no datagram", tr.LocalAddr())
		return mcast.Packet{}
	}
}

// settled waits until tr has counted want datagrams received or dropped
// in all, then returns its stats.
func settled(t *testing.T, tr mcast.Transport, want uint64) mcast.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := tr.Stats()
		got := st.Received
		for _, n := range st.Dropped {
			got += n
		}
		if got >= want || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSealed_DeliversOnlyWhatOpens(t *testing.T) {
	n := mcast.NewMemNetwork()
	a := sealed(t, n, "127.0.2.1", ring(t, 1))
	b := sealed(t, n, "127.0.2.2", ring(t, 1))
	rotating := sealed(t, n, "127.0.2.3", ring(t, 2, 1)) // seals with 2, opens 1 too
	plain := n.Join(netip.MustParseAddr("127.0.2.9"))
	t.Cleanup(func() { plain.Close() })

	msg := []byte("hb 1 127.0.2.1 0 1 - - 0")
	require.NoError(t, a.Multicast(msg))
	for _, tr := range []mcast.Transport{a, b, rotating} {
		p := next(t, tr)
		assert.Equal(t, msg, p.Data, "%v", tr.LocalAddr())
		assert.True(t, p.Group)
	}
	raw := next(t, plain)
	assert.NotContains(t, string(raw.Data), "127.0.2.1", "on the wire it is sealed")

	// A node without the key, a forger: nothing it sends is delivered.
	require.NoError(t, plain.Multicast(msg))
	require.NoError(t, plain.Unicast(b.LocalAddr(), msg))
	// A replay of a's datagram, and one sealed with a key b lacks.
	require.NoError(t, plain.Unicast(b.LocalAddr(), raw.Data))
	require.NoError(t, rotating.Unicast(b.LocalAddr(), []byte("gotkey k 127.0.2.3")))
	// a's own multicast came back to b once already; after that: 1+4.
	st := settled(t, b, 5)
	assert.Equal(t, uint64(1), st.Received)
	assert.Equal(t, map[string]uint64{"sealed_unsealed": 2, "sealed_replay": 1, "sealed_bad_seal": 1}, st.Dropped)
	assert.Empty(t, queuedPackets(b))

	// But rotating, which holds both keys, hears b.
	require.NoError(t, b.Unicast(rotating.LocalAddr(), []byte("gotkey k 127.0.2.2")))
	assert.Equal(t, "gotkey k 127.0.2.2", string(next(t, rotating).Data))
}

func queuedPackets(tr mcast.Transport) []mcast.Packet {
	var ps []mcast.Packet
	for {
		select {
		case p := <-tr.Packets():
			ps = append(ps, p)
		default:
			return ps
		}
	}
}

func TestSealed_OtherGroupDoesNotOpen(t *testing.T) {
	n := mcast.NewMemNetwork()
	r := ring(t, 1)
	a := sealed(t, n, "127.0.2.1", r)
	other := mcast.Sealed(n.Join(netip.MustParseAddr("127.0.2.2")), ring(t, 1),
		netip.MustParseAddrPort("239.255.41.83:4984"), clusterkey.Reason)
	t.Cleanup(func() { other.Close() })
	require.NoError(t, a.Unicast(other.LocalAddr(), []byte("hb")))
	st := settled(t, other, 1)
	assert.Equal(t, uint64(1), st.Dropped["sealed_bad_seal"], "same key, another group's port")
}

func TestSealed_SizeLimit(t *testing.T) {
	assert.LessOrEqual(t, clusterkey.Overhead, mcast.SealOverhead)
	n := mcast.NewMemNetwork()
	a := sealed(t, n, "127.0.2.1", ring(t, 1))
	b := sealed(t, n, "127.0.2.2", ring(t, 1))
	max := strings.Repeat("x", mcast.MaxDatagram-mcast.SealOverhead)
	require.NoError(t, a.Unicast(b.LocalAddr(), []byte(max)))
	assert.Equal(t, max, string(next(t, b).Data))
	assert.ErrorIs(t, a.Unicast(b.LocalAddr(), []byte(max+"x")), mcast.ErrTooLarge)
	assert.ErrorIs(t, a.Multicast([]byte(max+"x")), mcast.ErrTooLarge)
}

func TestSealed_CloseEndsPackets(t *testing.T) {
	n := mcast.NewMemNetwork()
	tr := mcast.Sealed(n.Join(netip.MustParseAddr("127.0.2.1")), ring(t, 1), testGroup, clusterkey.Reason)
	require.NoError(t, tr.Close())
	_, open := <-tr.Packets()
	assert.False(t, open)
	assert.NoError(t, tr.Close(), "twice")
}
