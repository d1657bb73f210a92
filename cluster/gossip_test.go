package cluster_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/mcast"
)

// memberFound returns how n found member a, and whether it is a member.
func memberFound(n *testNode, a netip.Addr) (string, bool) {
	for _, m := range n.Status().Members {
		if m.Addr == a.String() && m.Addr != n.Addr().String() {
			return m.Found, true
		}
	}
	return "", false
}

// TestGossip_NoGroup: nodes on a network without multicast, each told
// only of node 1 (node 1 of node 2), form one cluster: they elect a pair
// that every node holds, replicate, resolve misses through the masters,
// and fail over when a master is lost.
func TestGossip_NoGroup(t *testing.T) {
	c := newTestCluster(t)
	const size = 6
	c.joinBy(1, true, 2)
	for i := 2; i <= size; i++ {
		c.joinBy(i, true, 1)
	}
	nodes := c.startN(size)
	masters := c.waitAgreed()

	// Every master knows every other node: they hear from each.
	for _, m := range masters {
		mn := c.node(m)
		for i := 1; i <= size; i++ {
			if addr(i) == m {
				continue
			}
			found, ok := memberFound(mn, addr(i))
			require.True(t, ok, "master %s does not know %s", m, addr(i))
			assert.Contains(t, []string{api.FoundJoin, api.FoundGossip}, found)
		}
	}
	// A node that was given no address of a master found it by gossip
	// (or the master contacted it first: join), never by the group.
	for _, n := range nodes {
		for _, m := range n.Status().Members {
			assert.NotEqual(t, api.FoundGroup, m.Found, "%s found %s on a group that does not exist", n.Addr(), m.Addr)
		}
	}

	// Writes reach the masters; a miss elsewhere is resolved through them.
	var writer, reader *testNode
	for _, n := range nodes {
		if slices.Contains(masters, n.Addr()) {
			continue
		}
		if writer == nil {
			writer = n
		} else if reader == nil {
			reader = n
		}
	}
	_, err := writer.Put(ctx(t), "k", []byte("v1"))
	require.NoError(t, err)
	e, src, err := reader.Get(ctx(t), "k")
	require.NoError(t, err)
	assert.Equal(t, "v1", string(e.Value))
	assert.Equal(t, cluster.SourcePeer, src)
	_, _, err = reader.Get(ctx(t), "absent")
	require.ErrorIs(t, err, cluster.ErrNotFound)

	// A rewrite invalidates the reader's copy, though the writer may not
	// know the reader: the first master relays the invalidation.
	_, err = writer.Put(ctx(t), "k", []byte("v2"))
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() error {
		e, _, err := reader.Get(ctx(t), "k")
		if err != nil || string(e.Value) != "v2" {
			return fmt.Errorf("reader has %q, %v", e.Value, err)
		}
		return nil
	})

	// Lose a master: the survivor elects a replacement that syncs, and
	// the key is still read everywhere.
	lost := masters[0]
	for i := 1; i <= size; i++ {
		if addr(i) == lost {
			c.crash(i)
		}
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range c.live() {
			if p := n.Masters(); p.Has(lost) || len(p.Masters) != 2 {
				return fmt.Errorf("%s holds %v", n.Addr(), p)
			}
		}
		return nil
	})
	after := c.waitAgreed()
	assert.NotContains(t, after, lost)
	for _, n := range c.live() {
		e, _, err := n.Get(ctx(t), "k")
		require.NoError(t, err, "%s", n.Addr())
		assert.Equal(t, "v2", string(e.Value))
	}
}

// TestGossip_Mixed: nodes on the group and nodes that only join by
// unicast form one cluster; each says how it found the others.
func TestGossip_Mixed(t *testing.T) {
	c := newTestCluster(t)
	// The group's nodes take unicast too: they have a seed (node 1).
	for i := 1; i <= 3; i++ {
		c.joinBy(i, false, 1)
	}
	c.joinBy(4, true, 1)
	c.joinBy(5, true, 2)
	nodes := c.startN(5)
	masters := c.waitAgreed()
	require.Len(t, masters, 2)

	n2 := c.node(addr(2))
	found, ok := memberFound(n2, addr(3))
	require.True(t, ok)
	assert.Equal(t, api.FoundGroup, found, "node 2 hears node 3 on the group")
	found, ok = memberFound(n2, addr(5))
	require.True(t, ok)
	assert.Equal(t, api.FoundJoin, found, "node 5 joined through node 2")

	_, err := nodes[3].Put(ctx(t), "mixed", []byte("v"))
	require.NoError(t, err)
	for _, n := range nodes {
		e, _, err := n.Get(ctx(t), "mixed")
		require.NoError(t, err, "%s", n.Addr())
		assert.Equal(t, "v", string(e.Value))
	}
}

// TestGossip_GroupOnlyRefusesUnicastHeartbeats: a node that neither
// joins nor leaves the group keeps today's rule: heartbeats come from the
// group socket only, so a unicast one makes no member.
func TestGossip_GroupOnlyRefusesUnicastHeartbeats(t *testing.T) {
	c := newTestCluster(t)
	n := c.start(1)
	raw := c.net.JoinNoGroup(addr(9))
	t.Cleanup(func() { _ = raw.Close() })
	b, err := mcast.Message{Kind: mcast.Heartbeat, Addr: addr(9), N: 1}.Encode()
	require.NoError(t, err)
	before := n.Status().Counters.Refused
	require.NoError(t, raw.Unicast(n.tr.LocalAddr(), b))
	eventually(t, time.Second, func() error {
		if n.Status().Counters.Refused == before {
			return fmt.Errorf("not refused yet")
		}
		return nil
	})
	_, ok := memberFound(n, addr(9))
	assert.False(t, ok)
}

// TestGossip_ListedIsOnlyACandidate: a members list makes its addresses
// nodes to contact, never members: a listed node that does not answer
// with its own heartbeat is contacted but never counted. A list from a
// node that is not a member is refused.
func TestGossip_ListedIsOnlyACandidate(t *testing.T) {
	c := newTestCluster(t)
	c.joinBy(1, true, 9)
	n := c.start(1)
	// Node 9, a seed of node 1, speaks by hand.
	seed := c.net.JoinNoGroup(addr(9))
	t.Cleanup(func() { _ = seed.Close() })
	c.joins[1] = joinPlan{noGroup: true}
	silent := c.net.JoinNoGroup(addr(8)) // listed, never answers
	t.Cleanup(func() { _ = silent.Close() })

	send := func(m mcast.Message) {
		t.Helper()
		b, err := m.Encode()
		require.NoError(t, err)
		require.NoError(t, seed.Unicast(n.tr.LocalAddr(), b))
	}
	list := mcast.Message{Kind: mcast.Members, Addr: addr(9), Listed: []netip.AddrPort{silent.LocalAddr()}}

	// Not a member yet: its list is refused.
	before := n.Status().Counters.Refused
	send(list)
	eventually(t, time.Second, func() error {
		if n.Status().Counters.Refused == before {
			return fmt.Errorf("list from a stranger not refused")
		}
		return nil
	})

	// A member: its list makes node 8 a candidate, which node 1 contacts.
	send(mcast.Message{Kind: mcast.Heartbeat, Addr: addr(9), N: 1})
	eventually(t, time.Second, func() error {
		if _, ok := memberFound(n, addr(9)); !ok {
			return fmt.Errorf("node 9 not a member")
		}
		return nil
	})
	send(list)
	deadline := time.After(5 * time.Second)
	for contacted := false; !contacted; {
		select {
		case p := <-silent.Packets():
			m, err := mcast.Decode(p.Data)
			contacted = err == nil && m.Kind == mcast.Heartbeat && m.Addr == addr(1)
		case <-deadline:
			t.Fatal("node 1 never contacted the node it was told of")
		}
	}
	_, ok := memberFound(n, addr(8))
	assert.False(t, ok, "a listed node that never answered is a member")
}

// TestGossip_MasterRelaysInvalidation: a node known to the masters only
// (it heartbeats to them, and answers nobody else) still hears of a write
// made through a node that does not know it: the first master relays the
// invalidation, with the version it holds.
func TestGossip_MasterRelaysInvalidation(t *testing.T) {
	c := newTestCluster(t)
	c.joinBy(1, true, 2)
	c.joinBy(2, true, 1)
	c.joinBy(3, true, 1)
	c.startN(3)
	masters := c.waitAgreed()
	var writer *testNode
	for i := 1; i <= 3; i++ {
		if !slices.Contains(masters, addr(i)) {
			writer = c.node(addr(i))
		}
	}
	require.NotNil(t, writer)

	raw := c.net.JoinNoGroup(addr(9))
	t.Cleanup(func() { _ = raw.Close() })
	hb, err := mcast.Message{Kind: mcast.Heartbeat, Addr: addr(9)}.Encode()
	require.NoError(t, err)
	var to []netip.AddrPort
	for _, m := range masters {
		to = append(to, c.node(m).tr.LocalAddr())
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() { // node 9's heartbeats, to the masters only
		defer close(done)
		tick := time.NewTicker(c.cfg.HeartbeatInterval)
		defer tick.Stop()
		for {
			for _, a := range to {
				_ = raw.Unicast(a, hb)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	eventually(t, 5*time.Second, func() error {
		for _, m := range masters {
			if _, ok := memberFound(c.node(m), addr(9)); !ok {
				return fmt.Errorf("master %s does not know node 9", m)
			}
		}
		return nil
	})
	_, known := memberFound(writer, addr(9))
	require.False(t, known, "the writer must not know node 9 for this test")

	res, err := writer.Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case p := <-raw.Packets():
			m, err := mcast.Decode(p.Data)
			if err != nil || m.Kind != mcast.Invalidate {
				continue
			}
			assert.Equal(t, masters[0], m.Addr, "the first master relays")
			assert.Equal(t, "k", m.Key)
			assert.Equal(t, res.Entry.Version.Clock, m.Version.Clock)
			return
		case <-deadline:
			t.Fatal("node 9 never heard of the write")
		}
	}
}

// TestGossip_LoneSeededNodeWaits: a node whose seeds do not answer (they
// may still be starting) waits a failure timeout past the bootstrap
// window before it elects itself; then it serves alone.
func TestGossip_LoneSeededNodeWaits(t *testing.T) {
	c := newTestCluster(t)
	c.joinBy(1, true, 2) // node 2 never starts
	start := time.Now()
	n := c.start(1)
	eventually(t, 5*time.Second, func() error {
		if !n.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	assert.GreaterOrEqual(t, time.Since(start), 2*c.cfg.HeartbeatInterval+c.cfg.FailureTimeout,
		"elected itself before its seeds had a failure timeout to answer")
	assert.Equal(t, []netip.Addr{addr(1)}, n.Masters().Masters)
}

// TestGossip_GroupHeardByNoOne: a node that keeps the group on but hears
// no member there (every other node is off the group) resolves a miss
// through the masters at once, not after a whohas nobody hears has had a
// quarter of the multicast timeout.
func TestGossip_GroupHeardByNoOne(t *testing.T) {
	c := newTestCluster(t)
	c.joinBy(1, true, 2)
	c.joinBy(2, true, 1)
	c.joinBy(3, true, 1)
	c.joinBy(4, false, 1) // on the group, alone there
	c.startN(4)
	masters := c.waitAgreed()
	require.NotContains(t, masters, addr(4))
	_, err := c.node(addr(3)).Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)

	start := time.Now()
	e, src, err := c.node(addr(4)).Get(ctx(t), "k")
	took := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, "v", string(e.Value))
	assert.Equal(t, cluster.SourcePeer, src)
	assert.Less(t, took, c.cfg.MulticastTimeout/4, "the miss waited for answers to a whohas nobody hears")
}

// TestGossip_UnicastJoinsBounded: a flood of heartbeats by unicast from
// new addresses adds at most maxUnicastJoins (64) members an interval.
func TestGossip_UnicastJoinsBounded(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.HeartbeatInterval = time.Hour // no tick during the test
	c.cfg.FailureTimeout = 3 * time.Hour
	c.joinBy(1, true, 2)
	n := c.start(1)
	refused := n.Status().Counters.Refused
	for i := range 100 {
		raw := c.net.JoinNoGroup(netip.AddrFrom4([4]byte{127, 0, 3, byte(i + 1)}))
		t.Cleanup(func() { _ = raw.Close() })
		b, err := mcast.Message{Kind: mcast.Heartbeat, Addr: raw.LocalAddr().Addr()}.Encode()
		require.NoError(t, err)
		require.NoError(t, raw.Unicast(n.tr.LocalAddr(), b))
	}
	// Every heartbeat has been handled once 36 were refused.
	eventually(t, 5*time.Second, func() error {
		if r := n.Status().Counters.Refused - refused; r < 36 {
			return fmt.Errorf("%d refused", r)
		}
		return nil
	})
	assert.Len(t, n.Status().Members, 1+64)
}

// TestGossip_BothMastersLost: without the group, both masters crash at
// once; the others, whose views are partial, still converge on one new
// pair that holds every key.
func TestGossip_BothMastersLost(t *testing.T) {
	c := newTestCluster(t)
	const size = 20
	c.joinBy(1, true, 2)
	for i := 2; i <= size; i++ {
		c.joinBy(i, true, 1)
	}
	nodes := c.startN(size)
	masters := c.waitAgreed()
	var writer *testNode
	for _, n := range nodes {
		if !slices.Contains(masters, n.Addr()) {
			writer = n
			break
		}
	}
	for i := range 20 {
		_, err := writer.Put(ctx(t), fmt.Sprintf("k%d", i), []byte("v"))
		require.NoError(t, err)
	}
	for _, m := range masters {
		c.crash(int(m.As4()[3]))
	}
	start := time.Now()
	eventually(t, 10*time.Second, func() error {
		for _, n := range c.live() {
			if p := n.Masters(); len(p.Masters) != 2 || p.Has(masters[0]) || p.Has(masters[1]) {
				return fmt.Errorf("%s holds %v", n.Addr(), p)
			}
		}
		return nil
	})
	after := c.waitAgreed()
	t.Logf("both masters lost: %v agreed %s later", after, time.Since(start).Round(time.Millisecond))
	for i := range 20 {
		e, _, err := c.node(after[0]).Get(ctx(t), fmt.Sprintf("k%d", i))
		require.NoError(t, err)
		assert.Equal(t, "v", string(e.Value))
	}
}
