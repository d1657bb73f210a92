package cluster

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// TestNode_ElectedWhileChecking_ServesItsData: a node that began checking
// its data against the masters (reads skip it meanwhile) and is elected
// master before the check ends must serve that data again. It once kept
// skipping it and answered "not found" for every key as a master.
func TestNode_ElectedWhileChecking_ServesItsData(t *testing.T) {
	self := netip.MustParseAddr("127.0.2.1")
	other := netip.MustParseAddr("127.0.2.2")
	st := store.NewMemory()
	_, _, err := st.Put("k", store.Entry{Value: []byte("v"), Version: store.Version{Clock: 1, Node: 1}})
	require.NoError(t, err)
	tr := mcast.NewMemNetwork().Join(self)
	t.Cleanup(func() { _ = tr.Close() })
	n, err := New(Config{Addr: self, Peers: noPeers{}}, tr, st)
	require.NoError(t, err)

	// The node is not started: the test is its membership loop.
	n.own.members[other] = &member{} // a master that has not said it is synced
	n.own.pair = election.Pair{Epoch: 1, Masters: []netip.Addr{other}}
	n.publish()
	require.ErrorIs(t, n.demote(n.Masters()), errNoSyncedMaster)
	_, ok := n.GetLocal("k")
	require.False(t, ok, "unchecked data is not served while the check waits")

	n.adopt(election.Pair{Epoch: 2, Masters: []netip.Addr{self, other}}, "test")
	n.publish()
	e, ok := n.GetLocal("k")
	assert.True(t, ok, "a master serves what it holds")
	assert.Equal(t, "v", string(e.Value))
}

// noPeers is the Peers of a node that must make no request: any call
// panics (its embedded interface is nil).
type noPeers struct{ Peers }
