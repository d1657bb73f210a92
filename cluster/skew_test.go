package cluster

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// future is a version a year ahead of now.
func future() store.Version {
	return store.Version{Clock: uint64(time.Now().Add(365*24*time.Hour).UnixMilli()) << 16, Node: 9}
}

func TestReplicate_RefusesAVersionFromTheFuture(t *testing.T) {
	s := newStepper(t, "127.0.2.1")
	s.now = time.Now()
	s.advance(2 * s.n.cfg.HeartbeatInterval) // alone: master
	require.True(t, s.n.isMaster())

	_, err := s.n.Replicate("k", store.Entry{Value: []byte("frozen"), Version: future()}, 0)
	require.ErrorIs(t, err, store.ErrClockSkew)
	_, ok := s.n.GetLocal("k")
	assert.False(t, ok, "nothing stored")

	// The clock did not move: a later write still wins.
	v := s.n.clock.Next()
	assert.Less(t, v.Clock>>16, uint64(time.Now().Add(s.n.cfg.MaxClockSkew+time.Second).UnixMilli()))
	_, err = s.n.Replicate("k", store.Entry{Value: []byte("now"), Version: v}, 0)
	require.NoError(t, err)
	e, ok := s.n.GetLocal("k")
	require.True(t, ok)
	assert.Equal(t, "now", string(e.Value))
}

func TestInvalidate_FromTheFutureIsRefused(t *testing.T) {
	s := newStepper(t, "127.0.2.3")
	s.now = time.Now()
	// A non-master with a cached copy.
	s.n.own.pair = election.Pair{Epoch: 1, Masters: []netip.Addr{netip.MustParseAddr("127.0.2.1")}}
	s.n.publish()
	s.n.cache.put("k", store.Entry{Value: []byte("v"), Version: s.n.clock.Next()})

	f := future()
	s.hear("127.0.2.1", mcast.Message{Kind: mcast.Invalidate, Key: "k", Addr: netip.MustParseAddr("127.0.2.1"),
		Version: mcast.Stamp{Clock: f.Clock, Node: f.Node}})
	_, ok := s.n.GetLocal("k")
	assert.True(t, ok, "the copy is kept")
	assert.Equal(t, uint64(1), s.n.Status().Counters.Refused)
	assert.Less(t, s.n.clock.Next().Clock, f.Clock, "the clock did not move")
}

func TestNew_RepairsVersionsFromTheFuture(t *testing.T) {
	st := store.NewMemory()
	_, _, err := st.Put("k", store.Entry{Value: []byte("old"), Version: future()})
	require.NoError(t, err)
	tr := mcast.NewMemNetwork().Join(netip.MustParseAddr("127.0.2.1"))
	t.Cleanup(func() { _ = tr.Close() })
	n, err := New(Config{Addr: netip.MustParseAddr("127.0.2.1"), Peers: noPeers{}}, tr, st)
	require.NoError(t, err)

	e, ok := st.Get("k")
	require.True(t, ok, "the value is kept")
	assert.Equal(t, "old", string(e.Value))
	assert.NoError(t, n.clock.Check(e.Version), "re-versioned within the skew")
	assert.True(t, n.clock.Next().Newer(e.Version), "the next write wins")
}
