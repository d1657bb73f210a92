package cluster

import (
	"math"
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
	net *mcast.MemNetwork // the node's network, for other sockets on it
}

// stepStart is a stepped node's fake time when it is built.
var stepStart = time.Unix(1_700_000_000, 0)

func newStepper(t *testing.T, self string) *stepper {
	t.Helper()
	return newStepperOver(t, self, noPeers{}, store.NewMemory())
}

// newStepperOver is newStepper with the node's requests going to peers
// and its durable store st, as after a restart over a data dir.
func newStepperOver(t *testing.T, self string, peers Peers, st store.Store) *stepper {
	t.Helper()
	mn := mcast.NewMemNetwork()
	tr := mn.Join(netip.MustParseAddr(self))
	t.Cleanup(func() { _ = tr.Close() })
	n, err := New(Config{Addr: netip.MustParseAddr(self), Peers: peers}, tr, st)
	require.NoError(t, err)
	s := &stepper{t: t, n: n, now: stepStart, net: mn}
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

// cluster3 is a stepper at 127.0.2.3 in a settled cluster of three whose
// masters are 127.0.2.1 and 127.0.2.2 at epoch 5.
func cluster3(t *testing.T) (*stepper, election.Pair) {
	s := newStepper(t, "127.0.2.3")
	pair := election.Pair{Epoch: 5, Masters: addrs("127.0.2.1", "127.0.2.2")}
	s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, pair))
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, pair))
	require.Equal(t, pair, s.n.Masters())
	return s, pair
}

func TestMembership_HostileHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name string
		from string
		pair election.Pair
	}{
		{"sole master at the top epoch", "127.0.2.9", election.Pair{Epoch: math.MaxUint64, Masters: addrs("127.0.2.9")}},
		{"sole master past the bound", "127.0.2.9", election.Pair{Epoch: 5 + epochJumpBound + 1, Masters: addrs("127.0.2.9")}},
		{"a member named with the forger, past the bound", "127.0.2.9", election.Pair{Epoch: 1000, Masters: addrs("127.0.2.1", "127.0.2.9")}},
		{"a non-member named", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.9", "127.0.2.77")}},
		{"the same node twice", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.9", "127.0.2.9")}},
		{"sole master one step up", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.9")}},
		{"two live members one step up, from a stranger", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}},
		{"a healthy master swapped for the forger", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.1", "127.0.2.9")}},
		{"the same masters one step up", "127.0.2.9", election.Pair{Epoch: 6, Masters: addrs("127.0.2.1", "127.0.2.2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, pair := cluster3(t)
			for range 10 { // repeated, as an attacker would
				s.hear(tc.from, heartbeat(tc.from, 0, true, tc.pair))
			}
			assert.Equal(t, pair, s.n.Masters(), "the pair did not change")
			assert.Positive(t, s.n.Status().Counters.Refused)
		})
	}

	t.Run("a member's word replaces a master only once it is silent", func(t *testing.T) {
		s, pair := cluster3(t)
		next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.1", "127.0.2.3")}
		s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, next))
		assert.Equal(t, pair, s.n.Masters(), "127.0.2.2 is still heard: a writer's failure is not enough")
		for range 3 {
			s.advance(s.n.cfg.HeartbeatInterval)
			s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, next))
		}
		assert.Equal(t, next, s.n.Masters(), "silent for two intervals, it is replaced")
	})
	t.Run("a silent master replaced by a stranger's word", func(t *testing.T) {
		s, _ := cluster3(t)
		next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.1", "127.0.2.9")}
		s.hear("127.0.2.9", heartbeat("127.0.2.9", 0, false, election.Pair{}))
		// 127.0.2.2 goes silent; 127.0.2.1 and the newcomer go on.
		for range 3 {
			s.advance(s.n.cfg.HeartbeatInterval)
			s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, election.Pair{Epoch: 5, Masters: addrs("127.0.2.1", "127.0.2.2")}))
		}
		s.hear("127.0.2.9", heartbeat("127.0.2.9", 0, false, next))
		assert.Equal(t, next, s.n.Masters(), "a master silent for two intervals may be replaced")
	})
	t.Run("a healed split: the other side's pair, held by its masters", func(t *testing.T) {
		s, _ := cluster3(t)
		s.hear("127.0.2.7", heartbeat("127.0.2.7", 10, false, election.Pair{}))
		s.hear("127.0.2.8", heartbeat("127.0.2.8", 10, false, election.Pair{}))
		other := election.Pair{Epoch: 9, Masters: addrs("127.0.2.7", "127.0.2.8")}
		s.hear("127.0.2.7", heartbeat("127.0.2.7", 10, true, other))
		assert.Equal(t, uint64(5), s.n.Masters().Epoch, "one of its masters is not enough to drop healthy ones")
		s.hear("127.0.2.8", heartbeat("127.0.2.8", 10, true, other))
		assert.Equal(t, other, s.n.Masters(), "both are")
	})
	t.Run("a lone master after a heal joins the full pair", func(t *testing.T) {
		// 127.0.2.3 was cut off alone and made itself master; the others
		// kept their pair at a lower epoch.
		s := newStepper(t, "127.0.2.3")
		s.advance(2 * s.n.cfg.HeartbeatInterval)
		require.Equal(t, addrs("127.0.2.3"), s.n.Masters().Masters)
		for i := uint64(s.n.Masters().Epoch); i < 9; i++ {
			s.n.inLoop(func() { s.n.adopt(election.Pair{Epoch: i + 1, Masters: addrs("127.0.2.3")}, "test") })
		}
		theirs := election.Pair{Epoch: 2, Masters: addrs("127.0.2.1", "127.0.2.2")}
		s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, theirs))
		s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, theirs))
		s.advance(s.n.cfg.HeartbeatInterval)
		assert.Equal(t, theirs, s.n.Masters(), "it gives way to the pair both its masters hold")
	})
	t.Run("a big step held by two members", func(t *testing.T) {
		s, _ := cluster3(t)
		next := election.Pair{Epoch: 500, Masters: addrs("127.0.2.1", "127.0.2.2")}
		s.hear("127.0.2.1", heartbeat("127.0.2.1", 10, true, next))
		assert.Equal(t, uint64(5), s.n.Masters().Epoch, "one member is not enough")
		s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
		assert.Equal(t, next, s.n.Masters(), "two are")
	})
}

func TestMembership_ChannelsAndSources(t *testing.T) {
	s, pair := cluster3(t)
	b, err := heartbeat("127.0.2.1", 10, true, election.Pair{Epoch: 6, Masters: addrs("127.0.2.1", "127.0.2.9")}).Encode()
	require.NoError(t, err)
	// A heartbeat sent by unicast to this node's unicast socket.
	s.n.handlePacket(mcast.Packet{From: netip.MustParseAddrPort("127.0.2.1:40000"), Data: b})
	assert.Equal(t, pair, s.n.Masters(), "a heartbeat only counts from the group")

	// A bye with a master's address from another port.
	bye, err := mcast.Message{Kind: mcast.Bye, Addr: netip.MustParseAddr("127.0.2.1")}.Encode()
	require.NoError(t, err)
	s.n.handlePacket(mcast.Packet{From: netip.MustParseAddrPort("127.0.2.1:40001"), Data: bye, Group: true})
	assert.Contains(t, s.n.view.Load().members, netip.MustParseAddr("127.0.2.1"), "a spoofed bye is refused")
	// From its own port, it leaves.
	s.n.handlePacket(mcast.Packet{From: netip.MustParseAddrPort("127.0.2.1:40000"), Data: bye, Group: true})
	assert.NotContains(t, s.n.view.Load().members, netip.MustParseAddr("127.0.2.1"))
}

func TestMembership_WhoHasAnswersOnlyToKnownAddresses(t *testing.T) {
	s, _ := cluster3(t)
	// A copy no master holds: always offered (no fan-out draw).
	s.n.cache.add("k", store.Entry{Value: []byte("v"), Version: s.n.clock.Next()}, true)
	ask := func(from netip.AddrPort, replyTo netip.AddrPort) {
		b, err := mcast.Message{Kind: mcast.WhoHas, Key: "k", Addr: replyTo.Addr(), Port: replyTo.Port()}.Encode()
		require.NoError(t, err)
		s.n.handlePacket(mcast.Packet{From: from, Data: b, Group: true})
	}
	sent := func() uint64 { return s.n.tr.Stats().Sent }
	before := sent()
	// Naming a member's address with another port: a reflection attempt.
	ask(netip.MustParseAddrPort("127.0.2.9:5000"), netip.MustParseAddrPort("127.0.2.1:9999"))
	assert.Equal(t, before, sent(), "no answer to a member's address at a port that is not its own")
	// Its own source: answered (and, an asker that sends no heartbeat, the
	// group is asked for key counts once, to learn whether it is an
	// original node).
	ask(netip.MustParseAddrPort("127.0.2.9:5000"), netip.MustParseAddrPort("127.0.2.9:5000"))
	assert.Equal(t, before+2, sent())
	// Another port of its own address: answered, as the original asks
	// from one socket and reads answers on another.
	ask(netip.MustParseAddrPort("127.0.2.9:5000"), netip.MustParseAddrPort("127.0.2.9:5001"))
	assert.Equal(t, before+3, sent())
	// A flood from one source is cut at the burst.
	before = sent()
	for range int(answerBurst) + 500 {
		ask(netip.MustParseAddrPort("127.0.2.9:5000"), netip.MustParseAddrPort("127.0.2.9:5000"))
	}
	assert.LessOrEqual(t, sent()-before, uint64(answerBurst))
}
