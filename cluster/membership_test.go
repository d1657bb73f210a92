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

// stepper drives one node's membership loop by hand: the node is built but
// not started, the test's goroutine is its loop, and its clock is fake.
type stepper struct {
	t   *testing.T
	n   *Node
	now time.Time
}

func newStepper(t *testing.T, self string) *stepper {
	t.Helper()
	tr := mcast.NewMemNetwork().Join(netip.MustParseAddr(self))
	t.Cleanup(func() { _ = tr.Close() })
	n, err := New(Config{Addr: netip.MustParseAddr(self)}, tr, store.NewMemory())
	require.NoError(t, err)
	s := &stepper{t: t, n: n, now: time.Unix(1_700_000_000, 0)}
	n.now = func() time.Time { return s.now }
	n.own.bootUntil = s.now.Add(2 * n.cfg.HeartbeatInterval)
	n.own.lastTick = s.now
	return s
}

// advance moves the fake clock by d and runs one tick.
func (s *stepper) advance(d time.Duration) {
	s.now = s.now.Add(d)
	s.n.tick()
}

// hear delivers a datagram from addr's unicast port on the group socket.
func (s *stepper) hear(addr string, m mcast.Message) {
	s.t.Helper()
	b, err := m.Encode()
	require.NoError(s.t, err)
	s.n.handlePacket(mcast.Packet{From: netip.AddrPortFrom(netip.MustParseAddr(addr), 40000), Data: b, Group: true})
}

// heartbeat is addr's heartbeat holding pair (none: no pair yet).
func heartbeat(addr string, keys uint64, synced bool, pair election.Pair) mcast.Message {
	m := mcast.Message{Kind: mcast.Heartbeat, Addr: netip.MustParseAddr(addr), N: keys, Epoch: pair.Epoch, Masters: pair.Masters}
	if synced {
		m.Flags |= mcast.FlagSynced
	}
	return m
}

func addrs(as ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestMembership_Stepped_ElectExpireReplace(t *testing.T) {
	s := newStepper(t, "127.0.2.1")
	v0 := s.n.view.Load()
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 0, false, election.Pair{}))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, election.Pair{}))
	v := s.n.view.Load()
	assert.Len(t, v.members, 2, "both members are in the published view")
	assert.Empty(t, v.pair.Masters, "no election during the bootstrap window")
	assert.False(t, s.n.Ready())

	// The bootstrap window ends: the lowest addresses of an empty cluster,
	// proposed by the lowest of them, this node.
	s.advance(2 * s.n.cfg.HeartbeatInterval)
	v = s.n.view.Load()
	assert.Equal(t, addrs("127.0.2.1", "127.0.2.2"), v.pair.Masters)
	assert.Equal(t, uint64(1), v.pair.Epoch)
	assert.True(t, s.n.Ready())
	select {
	case <-v0.changed:
	default:
		t.Fatal("the first view's changed channel was not closed when the pair changed")
	}
	assert.False(t, v.authoritative(s.n.self), "a new master is not synced until its sync says so")

	// Silence from 127.0.2.2 (a master) beyond the failure timeout, while
	// 127.0.2.3 keeps talking: it is expired and replaced.
	pair := v.pair
	for elapsed := time.Duration(0); elapsed <= s.n.cfg.FailureTimeout; elapsed += s.n.cfg.HeartbeatInterval {
		s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, pair))
		s.advance(s.n.cfg.HeartbeatInterval)
	}
	v = s.n.view.Load()
	assert.NotContains(t, v.members, netip.MustParseAddr("127.0.2.2"))
	assert.Equal(t, addrs("127.0.2.1", "127.0.2.3"), v.pair.Masters)
	assert.Equal(t, uint64(2), v.pair.Epoch)
}

func TestMembership_Stepped_BetterPairIsAdoptedAndReadersWake(t *testing.T) {
	s := newStepper(t, "127.0.2.5")
	s.advance(2 * s.n.cfg.HeartbeatInterval) // alone: its own master
	v := s.n.view.Load()
	require.Equal(t, addrs("127.0.2.5"), v.pair.Masters)
	require.True(t, s.n.isMaster())

	// Two nodes with a newer pair that does not include this one.
	theirs := election.Pair{Epoch: 7, Masters: addrs("127.0.2.1", "127.0.2.2")}
	s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, theirs))
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, theirs))
	w := s.n.view.Load()
	assert.Equal(t, theirs.Masters, w.pair.Masters)
	assert.Equal(t, uint64(7), w.pair.Epoch)
	assert.False(t, s.n.isMaster())
	assert.Equal(t, addrs("127.0.2.1", "127.0.2.2"), w.syncedMasters(s.n.self))
	select {
	case <-v.changed:
	default:
		t.Fatal("a reader waiting on the old view was not woken")
	}

	// An older pair in a later heartbeat changes nothing.
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, election.Pair{Epoch: 3, Masters: addrs("127.0.2.3")}))
	assert.Equal(t, uint64(7), s.n.Masters().Epoch)

	// A master that leaves with bye is gone at once; this node is not the
	// proposer of the replacement (127.0.2.2 is), so the pair stays.
	bye := mcast.Message{Kind: mcast.Bye, Addr: netip.MustParseAddr("127.0.2.1")}
	s.hear("127.0.2.1", bye)
	assert.NotContains(t, s.n.view.Load().members, netip.MustParseAddr("127.0.2.1"))
}

func TestMembership_Stepped_SpoofedHeartbeatRefused(t *testing.T) {
	s := newStepper(t, "127.0.2.1")
	m := heartbeat("127.0.2.9", 0, true, election.Pair{Epoch: 99, Masters: addrs("127.0.2.9")})
	b, err := m.Encode()
	require.NoError(t, err)
	// It names 127.0.2.9 but comes from 127.0.2.8.
	s.n.handlePacket(mcast.Packet{From: netip.MustParseAddrPort("127.0.2.8:40000"), Data: b, Group: true})
	assert.Empty(t, s.n.view.Load().members)
	assert.Empty(t, s.n.Masters().Masters)
	assert.Equal(t, uint64(1), s.n.Status().Counters.Refused)
}

func TestMembership_MarkSynced_OnlyForTheCurrentPair(t *testing.T) {
	s := newStepper(t, "127.0.2.1")
	s.advance(2 * s.n.cfg.HeartbeatInterval)
	pair := s.n.Masters()
	current, first := s.n.markSynced(election.Pair{Epoch: pair.Epoch + 1, Masters: pair.Masters})
	assert.False(t, current, "a sync of another pair")
	assert.False(t, s.n.view.Load().synced)
	current, first = s.n.markSynced(pair)
	assert.True(t, current)
	assert.True(t, first)
	assert.True(t, s.n.view.Load().authoritative(s.n.self))
	_, first = s.n.markSynced(pair)
	assert.False(t, first, "the second sync of a pair is not the first")
}
