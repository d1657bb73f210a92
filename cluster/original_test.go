package cluster

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// Stepped tests of a node sharing the group with nodes of the original
// pydiststore (original.go).

// sniffer is a socket on the stepped node's network that records what
// the node sends it, as an original's answer socket would.
type sniffer struct {
	t  *testing.T
	tr mcast.Transport
}

func newSniffer(t *testing.T, s *stepper, addr string) *sniffer {
	t.Helper()
	tr := s.net.Join(netip.MustParseAddr(addr))
	t.Cleanup(func() { _ = tr.Close() })
	return &sniffer{t: t, tr: tr}
}

// received returns the datagrams that reached the sniffer within d, sent
// to the group if group, else to it.
func (f *sniffer) received(d time.Duration, group bool) []string {
	var out []string
	deadline := time.After(d)
	for {
		select {
		case p := <-f.tr.Packets():
			if p.Group == group {
				out = append(out, string(p.Data))
			}
		case <-deadline:
			return out
		}
	}
}

// hearFrom delivers a datagram from the given source on the group socket
// (group) or the unicast one.
func (s *stepper) hearFrom(from string, group bool, m mcast.Message) {
	s.t.Helper()
	b, err := m.Encode()
	require.NoError(s.t, err)
	s.n.handlePacket(mcast.Packet{From: netip.MustParseAddrPort(from), Data: b, Group: group})
}

func TestOriginal_NoKeyOnlyToMembers(t *testing.T) {
	s, _ := syncedMaster(t)
	orig := newSniffer(t, s, "127.0.2.21")
	ask := mcast.Message{Kind: mcast.WhoHas, Key: "nobody-has-it", Addr: netip.MustParseAddr("127.0.2.21"), Port: orig.tr.LocalAddr().Port()}
	// The original asks from a fresh socket, for answers on another.
	s.hearFrom("127.0.2.21:51000", true, ask)
	assert.Empty(t, orig.received(50*time.Millisecond, false), "an original asker gets no nokey: it would take it as the answer")

	member := newSniffer(t, s, "127.0.2.3")
	ask = mcast.Message{Kind: mcast.WhoHas, Key: "nobody-has-it", Addr: netip.MustParseAddr("127.0.2.3"), Port: member.tr.LocalAddr().Port()}
	s.hearFrom(member.tr.LocalAddr().String(), true, ask)
	got := member.received(50*time.Millisecond, false)
	require.Len(t, got, 1, "a member asker gets nokey from a synced master")
	assert.Contains(t, got[0], "nokey 1 nobody-has-it")
}

// syncedMaster is a stepped node 127.0.2.1, synced master of the pair
// {.1, .2} with member .3.
func syncedMaster(t *testing.T) (*stepper, election.Pair) {
	t.Helper()
	s := newStepper(t, "127.0.2.1")
	pair := election.Pair{Epoch: 5, Masters: addrs("127.0.2.1", "127.0.2.2")}
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, pair))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, pair))
	require.Equal(t, pair, s.n.Masters())
	current, _ := s.n.markSynced(pair)
	require.True(t, current)
	require.True(t, s.n.view.Load().authoritative(s.n.self))
	return s, pair
}

func TestOriginal_SightedThenKnown(t *testing.T) {
	s, _ := syncedMaster(t)
	orig := newSniffer(t, s, "127.0.2.21")
	group := newSniffer(t, s, "127.0.2.99") // hears the node's multicasts
	// The original elects: a keycount query from a fresh socket, answers
	// to another port.
	s.hearFrom("127.0.2.21:51000", true, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.21"), N: uint64(orig.tr.LocalAddr().Port())})
	got := orig.received(50*time.Millisecond, false)
	require.Len(t, got, 1, "the original's keycount query is answered at the port it names")
	assert.Equal(t, "keycount 127.0.2.1 0", got[0])
	sent := group.received(50*time.Millisecond, true)
	assert.Contains(t, sent, "keycount 127.0.2.1 "+strconv.Itoa(int(s.n.tr.LocalAddr().Port())), "an unknown asker makes the node ask for key counts at once")
	assert.Empty(t, s.n.view.Load().originals, "not an original before it answers")

	// Its answer makes it known, with its count.
	s.hearFrom("127.0.2.21:51001", false, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.21"), N: 7})
	require.Contains(t, s.n.view.Load().originals, netip.MustParseAddr("127.0.2.21"))
	assert.Equal(t, uint64(7), s.n.view.Load().originals[netip.MustParseAddr("127.0.2.21")].keys)
	st := s.n.Status()
	require.NotNil(t, st.Migration)
	assert.Equal(t, 1, st.Migration.Originals)
}

// knowOriginal makes the stepped node know original addr with keys keys:
// its own query, then the answer.
func knowOriginal(t *testing.T, s *stepper, addr string, keys uint64) {
	t.Helper()
	s.n.askOriginals()
	s.hearFrom(addr+":51001", false, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr(addr), N: keys})
	require.Contains(t, s.n.view.Load().originals, netip.MustParseAddr(addr))
}

func TestOriginal_KeyCountAnswers(t *testing.T) {
	s, pair := syncedMaster(t)
	orig := newSniffer(t, s, "127.0.2.21")
	query := func(from string) []string {
		s.hearFrom(from, true, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.21"), N: uint64(orig.tr.LocalAddr().Port())})
		return orig.received(50*time.Millisecond, false)
	}
	// No original known: the true count.
	assert.Equal(t, []string{"keycount 127.0.2.1 0"}, query("127.0.2.21:51000"))
	// Originals known: a synced master ranks above its own count and all
	// of theirs together, so that the originals forward their writes to it.
	knowOriginal(t, s, "127.0.2.21", 40)
	knowOriginal(t, s, "127.0.2.22", 70)
	assert.Equal(t, []string{"keycount 127.0.2.1 111"}, query("127.0.2.21:51002"))
	assert.Equal(t, pair, s.n.Masters(), "original nodes are not candidates")
	for range 3 {
		s.advance(s.n.cfg.HeartbeatInterval)
	}
	assert.Equal(t, pair, s.n.Masters(), "original nodes are not candidates")

	// A member's query is not answered: members know counts from heartbeats.
	member := newSniffer(t, s, "127.0.2.3")
	s.hearFrom("127.0.2.3:40000", true, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.3"), N: uint64(member.tr.LocalAddr().Port())})
	assert.Empty(t, member.received(50*time.Millisecond, false))
}

func TestOriginal_ForgedKeyCountAnswers(t *testing.T) {
	s, pair := syncedMaster(t)
	s.n.own.askedAt = s.now.Add(-time.Minute) // the last query is long past
	refused := s.n.Status().Counters.Refused
	answer := func(from, addr string, keys uint64) {
		s.hearFrom(from, false, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr(addr), N: keys})
	}
	answer("127.0.2.66:5000", "127.0.2.66", 1000)
	assert.Empty(t, s.n.view.Load().originals, "an answer nobody asked for")
	s.n.askOriginals()
	answer("127.0.2.66:5000", "127.0.2.67", 1000)
	assert.Empty(t, s.n.view.Load().originals, "an answer naming another address than its source")
	assert.Equal(t, refused+2, s.n.Status().Counters.Refused, "the unsolicited and the misnamed answer")
	s.hear("127.0.2.66", mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.66"), N: 1000})
	assert.Empty(t, s.n.view.Load().originals, "on the group a keycount is a query, never an answer")

	// A forger that answers a real query with a huge count is listed as
	// an original node; it elects no one and is handed nothing.
	s.n.askOriginals()
	answer("127.0.2.66:5000", "127.0.2.66", 1<<40)
	require.Contains(t, s.n.view.Load().originals, netip.MustParseAddr("127.0.2.66"))
	s.advance(s.n.cfg.HeartbeatInterval)
	assert.Equal(t, pair, s.n.Masters())
	assert.NotContains(t, s.n.view.Load().members, netip.MustParseAddr("127.0.2.66"))
	// It is forgotten once it stops answering.
	for range 40 {
		s.advance(s.n.cfg.OriginalInterval / 2)
		s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, pair))
		s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, pair))
	}
	assert.Empty(t, s.n.view.Load().originals)
	assert.Equal(t, pair, s.n.Masters())
}

func TestOriginal_SteersUntilElected(t *testing.T) {
	s, pair := syncedMaster(t)
	group := newSniffer(t, s, "127.0.2.99")
	knowOriginal(t, s, "127.0.2.21", 5)
	masterlost := func() int {
		n := 0
		for _, d := range group.received(20*time.Millisecond, true) {
			if d == "masterlost 127.0.2.1 127.0.2.21" {
				n++
			}
		}
		return n
	}
	s.advance(s.n.cfg.HeartbeatInterval)
	assert.Equal(t, 1, masterlost(), "the first master asks the originals to elect again")
	s.advance(s.n.cfg.HeartbeatInterval)
	assert.Zero(t, masterlost(), "not at every tick")
	// The original elects: its keycount query, answered by this master.
	orig := newSniffer(t, s, "127.0.2.21")
	s.hearFrom("127.0.2.21:51000", true, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.21"), N: uint64(orig.tr.LocalAddr().Port())})
	require.Len(t, orig.received(20*time.Millisecond, false), 1)
	for range 4 * steerInterval {
		s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, pair))
		s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, pair))
		s.advance(s.n.cfg.FailureTimeout / 2)
		s.n.askOriginals() // and the original answers: it stays known
		s.hearFrom("127.0.2.21:51001", false, mcast.Message{Kind: mcast.KeyCount, Addr: netip.MustParseAddr("127.0.2.21"), N: 5})
	}
	assert.Zero(t, masterlost(), "an original that elected this pair is not asked again")
	assert.Equal(t, pair, s.n.Masters())
}

// A non-member's whohas or masterlost is answered as the original reads
// it, and no datagram but gotkey goes to it.
func TestOriginal_GotKeyEchoesTheAskersToken(t *testing.T) {
	s, _ := syncedMaster(t)
	_, _, err := s.n.durable.Put("café", store.Entry{Value: []byte("v"), Version: s.n.clock.Next()})
	require.NoError(t, err)
	orig := newSniffer(t, s, "127.0.2.21")
	for _, tok := range []string{"caf%C3%A9", "caf%c3%a9", "café"} {
		s.hearFrom("127.0.2.21:51000", true, mcast.Message{Kind: mcast.WhoHas, Key: tok, Addr: netip.MustParseAddr("127.0.2.21"), Port: orig.tr.LocalAddr().Port()})
		assert.Equal(t, []string{"gotkey " + tok + " 127.0.2.1"}, orig.received(20*time.Millisecond, false))
	}
}
