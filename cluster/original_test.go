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
