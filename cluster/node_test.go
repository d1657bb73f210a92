package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

func TestNode_Alone_IsItsOwnMaster(t *testing.T) {
	c := newTestCluster(t)
	n := c.start(7)
	assert.Equal(t, []netip.Addr{addr(7)}, c.waitAgreed())
	res, err := n.Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{addr(7)}, res.Masters)
}

func TestNode_Election_LowestAddressesOnEmptyCluster(t *testing.T) {
	c := newTestCluster(t)
	c.startN(5)
	assert.Equal(t, []netip.Addr{addr(1), addr(2)}, c.waitAgreed())
}

func TestNode_Put_EveryMasterHoldsIt(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	masters := c.waitAgreed()
	res, err := nodes[4].Put(ctx(t), "greeting", []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, masters, res.Masters)
	for _, m := range masters {
		e, ok := c.node(m).GetLocal("greeting")
		require.True(t, ok, "master %s lacks the key", m)
		assert.Equal(t, "hello", string(e.Value))
		assert.Equal(t, res.Entry.Version, e.Version)
	}
}

func TestNode_Get_RemoteMissIsFetchedAndKept(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	_, err := nodes[3].Put(ctx(t), "k", []byte("v1"))
	require.NoError(t, err)

	reader := nodes[4]
	_, ok := reader.GetLocal("k")
	require.False(t, ok)
	e, src, err := reader.Get(ctx(t), "k")
	require.NoError(t, err)
	assert.Equal(t, "v1", string(e.Value))
	assert.Equal(t, cluster.SourcePeer, src)

	_, ok = reader.GetLocal("k")
	assert.True(t, ok, "a fetched key is kept")
	_, src, err = reader.Get(ctx(t), "k")
	require.NoError(t, err)
	assert.Equal(t, cluster.SourceLocal, src)
}

// TestNode_Get_MissingKeyNeedsNoTimeout: the masters answer "nokey", so a
// key nobody holds is a 404 long before the 5 s multicast timeout; the
// context here allows 1 s.
func TestNode_Get_MissingKeyNeedsNoTimeout(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	for _, n := range nodes {
		ctx, cancel := contextWithTimeout(1e9)
		_, _, err := n.Get(ctx, "nobody-has-this")
		cancel()
		assert.ErrorIs(t, err, cluster.ErrNotFound, "node %s", n.Addr())
	}
}

// TestNode_Get_LocalOnlyKeyIsFoundDespiteNoKey: a key stored with POST
// /local on a node that is not a master is held by no master; the node
// says so in its heartbeat, sent at once, and from then on the others'
// misses ask the group, where it answers.
func TestNode_Get_LocalOnlyKeyIsFoundDespiteNoKey(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	masters := c.waitAgreed()
	var holder, reader *testNode
	for _, n := range nodes {
		if slices.Contains(masters, n.Addr()) {
			continue
		}
		if holder == nil {
			holder = n
		} else {
			reader = n
		}
	}
	_, err := holder.StoreLocal(ctx(t), netip.Addr{}, "only-here", store.Entry{Value: []byte("x")})
	require.NoError(t, err)
	for _, m := range masters {
		_, ok := c.node(m).GetLocal("only-here")
		assert.False(t, ok, "post local must not reach master %s", m)
	}
	// The reader finds it once it has heard the holder's heartbeat.
	var e store.Entry
	var src cluster.Source
	eventually(t, 2*time.Second, func() error {
		e, src, err = reader.Get(ctx(t), "only-here")
		return err
	})
	assert.Equal(t, "x", string(e.Value))
	assert.Equal(t, cluster.SourcePeer, src)
	assert.Positive(t, reader.Status().Counters.Queries, "found by a whohas")
}

// whohasSeen drains obs and counts the whohas datagrams for key on it.
func whohasSeen(obs mcast.Transport, key string) int {
	n := 0
	for {
		select {
		case p := <-obs.Packets():
			if m, err := mcast.Decode(p.Data); err == nil && m.Kind == mcast.WhoHas && m.Key == key {
				n++
			}
		default:
			return n
		}
	}
}

// lastNonMaster returns the last of nodes that is not one of masters.
func lastNonMaster(nodes []*testNode, masters []netip.Addr) *testNode {
	var reader *testNode
	for _, n := range nodes {
		if !slices.Contains(masters, n.Addr()) {
			reader = n
		}
	}
	return reader
}

// waitMissesByGroup polls until a miss on reader goes to the group: a key
// nobody holds is a 404 after a whohas. before, if set, runs before each
// try. It returns the key of the last miss.
func waitMissesByGroup(t *testing.T, reader *testNode, before func()) string {
	t.Helper()
	var key string
	tries := 0
	eventually(t, 2*time.Second, func() error {
		if before != nil {
			before()
		}
		tries++
		key = fmt.Sprintf("absent-%d", tries)
		queries := reader.Status().Counters.Queries
		if _, _, err := reader.Get(ctx(t), key); !errors.Is(err, cluster.ErrNotFound) {
			return fmt.Errorf("want not found, got %v", err)
		}
		if reader.Status().Counters.Queries == queries {
			return errors.New("the miss went to the masters alone")
		}
		return nil
	})
	return key
}

// TestNode_Get_MissAsksTheMastersAlone: while no member holds keys the
// masters lack, a miss is one request to the masters and no datagram to
// the group; a key nobody holds is a 404 on the word of the master asked.
func TestNode_Get_MissAsksTheMastersAlone(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	masters := c.waitAgreed()
	_, err := nodes[0].Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	obs := c.net.Join(netip.MustParseAddr("127.0.2.250"))
	t.Cleanup(func() { _ = obs.Close() })
	for _, n := range nodes {
		if slices.Contains(masters, n.Addr()) {
			continue
		}
		before := n.Status().Counters
		e, _, err := n.Get(ctx(t), "k")
		require.NoError(t, err, "node %s", n.Addr())
		assert.Equal(t, "v", string(e.Value))
		_, _, err = n.Get(ctx(t), "nobody-has-this")
		assert.ErrorIs(t, err, cluster.ErrNotFound, "node %s", n.Addr())
		after := n.Status().Counters
		assert.Equal(t, before.Direct+2, after.Direct, "node %s asked the masters", n.Addr())
		assert.Equal(t, before.Queries, after.Queries, "node %s sent no whohas", n.Addr())
	}
	assert.Zero(t, whohasSeen(obs, "k")+whohasSeen(obs, "nobody-has-this"), "no whohas on the group")
}

// TestNode_Get_OlderMemberMeansWhohas: a member whose heartbeats lack
// FlagTellsLocal (a release before it) may hold keys stored with POST
// /local that it never announces, so misses ask the group again.
func TestNode_Get_OlderMemberMeansWhohas(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(3)
	masters := c.waitAgreed()
	_, err := nodes[0].Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	reader := lastNonMaster(nodes, masters)
	old := c.net.Join(netip.MustParseAddr("127.0.2.250"))
	t.Cleanup(func() { _ = old.Close() })
	hb, err := mcast.Message{Kind: mcast.Heartbeat, Addr: old.LocalAddr().Addr(), Epoch: 1}.Encode()
	require.NoError(t, err)
	key := waitMissesByGroup(t, reader, func() { require.NoError(t, old.Multicast(hb)) })
	assert.Positive(t, whohasSeen(old, key), "the older member heard the whohas")
}

func TestNode_Get_ConcurrentMissesShareOneQuery(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(3)
	_, err := nodes[0].Put(ctx(t), "hot", []byte("v"))
	require.NoError(t, err)
	before := nodes[2].Status().Counters

	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := nodes[2].Get(ctx(t), "hot")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	after := nodes[2].Status().Counters
	asked := (after.Direct - before.Direct) + (after.Queries - before.Queries)
	assert.Equal(t, uint64(1), asked, "20 concurrent misses of one key ask the cluster once")
}

func TestNode_MasterCrash_NewMasterHoldsEveryKey(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	for i := 0; i < 50; i++ {
		_, err := nodes[i%5].Put(ctx(t), fmt.Sprintf("key-%02d", i), []byte{byte(i)})
		require.NoError(t, err)
	}
	before := c.waitAgreed()
	c.crash(int(before[0].As4()[3]))

	after := c.waitAgreed()
	assert.NotContains(t, after, before[0])
	assert.Contains(t, after, before[1], "the surviving master stays master")
	for _, m := range after {
		assert.Equal(t, 50, c.node(m).st.Len(), "master %s holds every key", m)
	}
}

// TestNode_Put_UnreachableMasterIsReplacedBeforeTheAck: a write that finds
// a master gone re-elects and still lands on two masters.
func TestNode_Put_UnreachableMasterIsReplacedBeforeTheAck(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.FailureTimeout = 10e9 // heartbeats alone would take 10 s to notice
	nodes := c.startN(4)
	before := c.waitAgreed()
	c.crash(int(before[1].As4()[3]))

	writer := nodes[3]
	res, err := writer.Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	require.Len(t, res.Masters, 2)
	assert.NotContains(t, res.Masters, before[1])
	for _, m := range res.Masters {
		_, ok := c.node(m).st.Get("k")
		assert.True(t, ok, "master %s holds the acknowledged write durably", m)
	}
	// The others adopt the writer's pair once they too stop hearing the
	// lost master (two heartbeat intervals); then each master serves it.
	assert.ElementsMatch(t, res.Masters, c.waitAgreed())
	for _, m := range res.Masters {
		_, ok := c.node(m).GetLocal("k")
		assert.True(t, ok, "master %s serves the acknowledged write", m)
	}
}

// TestNode_ConcurrentWriters_MastersConverge: writes of one key through
// different nodes at once leave both masters with the same value. A write
// that every master had a newer one of first is a conflict, not an ack.
func TestNode_ConcurrentWriters_MastersConverge(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	var wg sync.WaitGroup
	for i, n := range nodes {
		for j := 0; j < 20; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := n.Put(ctx(t), "contended", []byte(fmt.Sprintf("%d-%d", i, j)))
				if !errors.Is(err, cluster.ErrConflict) {
					assert.NoError(t, err)
				}
			}()
		}
	}
	wg.Wait()
	masters := c.waitAgreed()
	a, _ := c.node(masters[0]).GetLocal("contended")
	b, _ := c.node(masters[1]).GetLocal("contended")
	assert.Equal(t, a, b)
}

func TestNode_GarbageDatagrams_AreDroppedNotFatal(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(3)
	evil := c.net.Join(netip.MustParseAddr("127.0.2.200"))
	t.Cleanup(func() { _ = evil.Close() })
	for _, d := range []string{"", "keycount x y", "whohas", "gotkey k", "hb 1 nonsense", "\x00\xff", "masterlost a b",
		"whohas k 127.0.2.200 0", "bye 1 127.0.2.1"} {
		require.NoError(t, evil.Multicast([]byte(d)))
	}
	// A whohas asking for the answer to go to a third party is not answered.
	_, err := nodes[0].Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	before := nodes[0].Status().Counters.Refused
	require.NoError(t, evil.Multicast([]byte("whohas k 127.0.2.99 4983")))
	eventually(t, 2e9, func() error {
		if nodes[0].Status().Counters.Refused == before {
			return errors.New("whohas for a third party not refused")
		}
		return nil
	})
	eventually(t, 2e9, func() error {
		if nodes[0].Status().Counters.BadDatagrams == 0 {
			return errors.New("no bad datagram counted")
		}
		return nil
	})
	// "bye" naming another node but sent by the evil one did not remove it.
	c.waitAgreed()
	_, _, err = nodes[2].Get(ctx(t), "k")
	require.NoError(t, err)
}

func TestNode_Digest_MastersAgree(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	for i := 0; i < 20; i++ {
		_, err := nodes[i%4].Put(ctx(t), fmt.Sprintf("k%d", i), []byte{byte(i)})
		require.NoError(t, err)
	}
	_, err := nodes[0].Write(ctx(t), "k3", cluster.Write{Delete: true})
	require.NoError(t, err)
	masters := c.waitAgreed()
	a, b := c.node(masters[0]).Digest(), c.node(masters[1]).Digest()
	assert.Equal(t, 20, a.Entries, "19 values and a tombstone")
	assert.Equal(t, a, b)
	_, err = c.node(masters[0]).Replicate("only-here", store.Entry{Value: []byte("x"), Version: store.Version{Clock: 1, Node: 1}}, 0)
	require.NoError(t, err)
	assert.NotEqual(t, c.node(masters[0]).Digest(), c.node(masters[1]).Digest())
}

// TestNode_Leave_MasterHandsOverBeforeItGoes: a master that leaves first
// gives its seat to another node and waits until that node holds every
// key, so a planned stop never leaves a single copy.
func TestNode_Leave_MasterHandsOverBeforeItGoes(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	for i := 0; i < 30; i++ {
		_, err := nodes[i%4].Put(ctx(t), fmt.Sprintf("k%02d", i), []byte("v"))
		require.NoError(t, err)
	}
	before := c.waitAgreed()
	leaving := c.node(before[0])
	leaving.Leave(ctx(t))

	after := leaving.Masters().Masters
	require.Len(t, after, 2)
	assert.NotContains(t, after, before[0])
	for _, m := range after {
		st := c.node(m).Status()
		assert.True(t, st.Synced, "master %s synced when Leave returns", m)
		assert.Equal(t, 30, st.Keys, "master %s holds every key when Leave returns", m)
	}
	c.crash(int(before[0].As4()[3]))
	assert.Equal(t, after, c.waitAgreed(), "the others agree on the new pair")
}

// TestNode_MastersThatDiffer_Converge: a write that reached only one
// master (its client gave up half way) ends up on both.
func TestNode_MastersThatDiffer_Converge(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CheckInterval = 50 * time.Millisecond
	c.startN(3)
	masters := c.waitAgreed()
	one := c.node(masters[1])
	_, err := one.Replicate("half-written", store.Entry{Value: []byte("v"), Version: store.Version{Clock: 99 << 16, Node: 1}}, 0)
	require.NoError(t, err)
	_, err = one.Replicate("half-deleted", store.Entry{Deleted: true, Version: store.Version{Clock: 98 << 16, Node: 1}}, 0)
	require.NoError(t, err)
	eventually(t, 3*time.Second, func() error {
		a, b := c.node(masters[0]).Digest(), one.Digest()
		if a != b {
			return fmt.Errorf("digests differ: %v, %v", a, b)
		}
		return nil
	})
	e, ok := c.node(masters[0]).GetLocal("half-written")
	require.True(t, ok)
	assert.Equal(t, "v", string(e.Value))
}

// TestNode_WhoHas_BoundedAnswers: a key cached on every node of 21 draws
// about three answers to a whohas (the two masters, and on average one
// other holder), not one per holder.
func TestNode_WhoHas_BoundedAnswers(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(21)
	_, err := nodes[0].Put(ctx(t), "everywhere", []byte("v"))
	require.NoError(t, err)
	for _, n := range nodes[1:] {
		_, _, err := n.Get(ctx(t), "everywhere")
		require.NoError(t, err)
	}
	asker := c.net.Join(netip.MustParseAddr("127.0.2.250"))
	t.Cleanup(func() { _ = asker.Close() })
	const queries = 50
	q := mcast.Message{Kind: mcast.WhoHas, Key: "everywhere", Addr: netip.MustParseAddr("127.0.2.250"), Port: asker.LocalAddr().Port()}
	b, err := q.Encode()
	require.NoError(t, err)
	answers := 0
	for i := 0; i < queries; i++ {
		require.NoError(t, asker.Multicast(b))
	}
	deadline := time.After(time.Second)
	for done := false; !done; {
		select {
		case p := <-asker.Packets():
			if m, err := mcast.Decode(p.Data); err == nil && m.Kind == mcast.GotKey && !p.Group {
				answers++
			}
		case <-deadline:
			done = true
		}
	}
	mean := float64(answers) / queries
	t.Logf("%d holders: %.2f answers per whohas", len(nodes), mean)
	assert.GreaterOrEqual(t, mean, 2.0, "the masters always answer")
	assert.LessOrEqual(t, mean, 3.5, "about three answers, not one per holder")
}

// TestNode_CacheMinReads_KeepsOnlyHotKeys: with CacheMinReads 3 a node
// keeps a copy of a key only on its third read.
func TestNode_CacheMinReads_KeepsOnlyHotKeys(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CacheMinReads = 3
	c.startN(4)
	others := c.nonMasters()
	_, err := others[0].Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	reader := others[1]
	for i := 1; i <= 3; i++ {
		e, src, err := reader.Get(ctx(t), "k")
		require.NoError(t, err)
		assert.Equal(t, "v", string(e.Value))
		assert.Equal(t, cluster.SourcePeer, src, "read %d", i)
		_, kept := reader.GetLocal("k")
		assert.Equal(t, i == 3, kept, "a copy after read %d", i)
	}
	_, src, err := reader.Get(ctx(t), "k")
	require.NoError(t, err)
	assert.Equal(t, cluster.SourceLocal, src)
}

// TestNode_LossyMulticast_ReadsStillSucceed: with a fifth of datagrams
// lost, misses ask again and then ask the masters over HTTP, so every read
// of an acknowledged key finds it.
func TestNode_LossyMulticast_ReadsStillSucceed(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.MulticastTimeout = time.Second
	nodes := c.startN(5)
	for i := 0; i < 100; i++ {
		_, err := nodes[i%5].Put(ctx(t), fmt.Sprintf("k%03d", i), []byte("v"))
		require.NoError(t, err)
	}
	others := c.nonMasters()
	c.net.Seed(3)
	c.net.SetLoss(0.2)
	t.Cleanup(func() { c.net.SetLoss(0) })
	failed := 0
	for i := 0; i < 100; i++ {
		n := others[i%len(others)]
		if _, _, err := n.Get(ctx(t), fmt.Sprintf("k%03d", i)); err != nil {
			failed++
		}
	}
	assert.Zero(t, failed, "reads that failed with 20% of datagrams lost")
}

// TestNode_Write_NewerWriteThereFirstIsAConflict: a write the masters did
// not apply, because a newer write of the key was there first, is not
// acknowledged: ErrConflict with the version they hold, and the newer
// value stays.
func TestNode_Write_NewerWriteThereFirstIsAConflict(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(3)
	masters := c.waitAgreed()
	newer := store.Version{Clock: uint64(time.Now().Add(20*time.Second).UnixMilli()) << 16, Node: 77}
	for _, m := range masters {
		_, err := c.node(m).Replicate("k", store.Entry{Value: []byte("newer"), Version: newer}, 0)
		require.NoError(t, err)
	}
	var writer *testNode
	for _, n := range nodes {
		if !slices.Contains(masters, n.Addr()) {
			writer = n
		}
	}
	_, err := writer.Put(ctx(t), "k", []byte("older"))
	require.ErrorIs(t, err, cluster.ErrConflict)
	var ce *cluster.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, newer, ce.Held)
	for _, m := range masters {
		e, ok := c.node(m).GetLocal("k")
		require.True(t, ok)
		assert.Equal(t, "newer", string(e.Value), "master %s", m)
	}
	e, _, err := writer.Get(ctx(t), "k")
	require.NoError(t, err)
	assert.Equal(t, "newer", string(e.Value), "the writer does not keep serving its losing copy")
}

// TestNode_Delete_SaysWhetherTheKeyExisted: the deciding master tells a
// delete whether the key was there, from any node, and a delete of a
// missing key still reaches both masters.
func TestNode_Delete_SaysWhetherTheKeyExisted(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	masters := c.waitAgreed()
	var other *testNode // a node that is not a master
	for _, n := range nodes {
		if !n.Status().IsMaster {
			other = n
			break
		}
	}
	require.NotNil(t, other)
	for _, by := range []*testNode{other, c.node(masters[0]), c.node(masters[1])} {
		_, err := by.Put(ctx(t), "k", []byte("v"))
		require.NoError(t, err)
		res, err := by.Write(ctx(t), "k", cluster.Write{Delete: true})
		require.NoError(t, err)
		assert.Equal(t, cluster.KeyExisted, res.Existed, "a live key")
		res, err = by.Write(ctx(t), "k", cluster.Write{Delete: true})
		require.NoError(t, err)
		assert.Equal(t, cluster.KeyAbsent, res.Existed, "a deleted key")
		assert.Len(t, res.Masters, 2, "a delete of a missing key still goes to both masters")
		res, err = by.Write(ctx(t), "never-stored", cluster.Write{Delete: true})
		require.NoError(t, err)
		assert.Equal(t, cluster.KeyAbsent, res.Existed, "a key never stored")
		res, err = by.Put(ctx(t), "k", []byte("v"))
		require.NoError(t, err)
		assert.Equal(t, cluster.ExistenceUnknown, res.Existed, "a write says nothing")
	}
	// A conditional delete tells too.
	res, err := other.Put(ctx(t), "c", []byte("v"))
	require.NoError(t, err)
	v := res.Entry.Version
	res, err = other.Write(ctx(t), "c", cluster.Write{Delete: true, Cond: cluster.Condition{IfMatch: &v}})
	require.NoError(t, err)
	assert.Equal(t, cluster.KeyExisted, res.Existed)
	for _, a := range masters {
		e, ok := c.node(a).GetLocal("c")
		assert.False(t, ok, "master %s still holds %v", a, e)
	}
}

// hangingPeers is memPeers whose fetches from one address wait until
// their context ends: a master whose host stopped answering.
type hangingPeers struct {
	*memPeers
	to    netip.Addr
	hangs atomic.Int64
}

func (p *hangingPeers) Fetch(ctx context.Context, to netip.AddrPort, key string) (store.Entry, error) {
	if to.Addr() == p.to {
		p.hangs.Add(1)
		<-ctx.Done()
		return store.Entry{}, ctx.Err()
	}
	return p.memPeers.Fetch(ctx, to, key)
}

// TestNode_Get_MasterThatHangsCostsAHedge: a master that takes a request
// and never answers delays a miss by a sixteenth of the multicast timeout
// (then the other master is asked), not by the fetch timeout; a key
// nobody holds is not a 404 on one master's word while the other hangs.
func TestNode_Get_MasterThatHangsCostsAHedge(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.MulticastTimeout = 800 * time.Millisecond // a hedge after 50 ms
	c.cfg.FetchTimeout = 20 * time.Second
	hp := &hangingPeers{memPeers: c.peers}
	c.via = hp
	nodes := c.startN(3)
	masters := c.waitAgreed()
	_, err := nodes[0].Put(ctx(t), "k", []byte("v"))
	require.NoError(t, err)
	reader := lastNonMaster(nodes, masters)
	hp.to = masters[0] // set before the reads; only reads fetch
	// Each read asks either master first at random: in 24 reads the one
	// that hangs is asked first at least once, but in one run of 2^24.
	for i := range 24 {
		key := fmt.Sprintf("k-%d", i)
		_, err := nodes[0].Put(ctx(t), key, []byte("v"))
		require.NoError(t, err)
		start := time.Now()
		e, _, err := reader.Get(ctx(t), key)
		require.NoError(t, err)
		assert.Equal(t, "v", string(e.Value))
		assert.Less(t, time.Since(start), 5*time.Second, "read %d waited for the fetch timeout", i)
	}
	assert.Positive(t, hp.hangs.Load(), "no read asked the master that hangs first")

	// A key nobody holds: one master says so, the other hangs until the
	// fetch timeout; the read must not be a 404 on one master's word, so
	// it goes on to the group (whose other master says nokey).
	short, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	_, _, err = reader.Get(short, "nobody-has-this")
	assert.ErrorIs(t, err, cluster.ErrNotFound)
}

// countingPeers is memPeers that counts fetches by key.
type countingPeers struct {
	*memPeers
	mu      sync.Mutex
	fetches map[string]int
}

func (p *countingPeers) Fetch(ctx context.Context, to netip.AddrPort, key string) (store.Entry, error) {
	p.mu.Lock()
	p.fetches[key]++
	p.mu.Unlock()
	return p.memPeers.Fetch(ctx, to, key)
}

func (p *countingPeers) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches[key]
}

// TestNode_Get_OneMastersNoIsEnough: while no master says it may hold a
// key the other lacks, a key nobody holds is a 404 on the word of the
// one master asked: one request.
func TestNode_Get_OneMastersNoIsEnough(t *testing.T) {
	c := newTestCluster(t)
	cp := &countingPeers{memPeers: c.peers, fetches: map[string]int{}}
	c.via = cp
	nodes := c.startN(4)
	masters := c.waitAgreed()
	for i, n := range nodes {
		if slices.Contains(masters, n.Addr()) {
			continue
		}
		key := fmt.Sprintf("nobody-has-this-%d", i)
		_, _, err := n.Get(ctx(t), key)
		require.ErrorIs(t, err, cluster.ErrNotFound, "node %s", n.Addr())
		assert.Equal(t, 1, cp.count(key), "node %s: requests to the masters for a key nobody holds", n.Addr())
	}
}

// TestNode_Get_KeyStoredLocallyOnAMaster: POST /local on a master stores
// the key there only, until the other master copies it at its next
// digest check. Meanwhile that master says so in its heartbeats, and
// other nodes find the key whichever master they would ask first; once a
// digest check finds the masters agreeing, misses go to one master again.
func TestNode_Get_KeyStoredLocallyOnAMaster(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CheckInterval = time.Hour // no digest check until the test asks for one
	nodes := c.startN(4)
	masters := c.waitAgreed()
	reader := lastNonMaster(nodes, masters)
	holder := c.node(masters[0])
	_, err := holder.StoreLocal(ctx(t), netip.Addr{}, "on-one-master-0", store.Entry{Value: []byte("x")})
	require.NoError(t, err)
	_, ok := c.node(masters[1]).GetLocal("on-one-master-0")
	require.False(t, ok, "the other master must not hold it yet")
	// Once the reader has heard the master's heartbeat, its misses go to
	// the group.
	waitMissesByGroup(t, reader, nil)
	e, _, err := reader.Get(ctx(t), "on-one-master-0")
	require.NoError(t, err)
	assert.Equal(t, "x", string(e.Value))
	// Each read would ask either master first at random: every one of
	// these finds the key, where one master's no would lose about half.
	for i := 1; i <= 16; i++ {
		key := fmt.Sprintf("on-one-master-%d", i)
		_, err := holder.StoreLocal(ctx(t), netip.Addr{}, key, store.Entry{Value: []byte("x")})
		require.NoError(t, err)
		e, _, err := reader.Get(ctx(t), key)
		require.NoError(t, err, "read %d", i)
		assert.Equal(t, "x", string(e.Value))
	}
}

// TestNode_Get_MastersAgreeingEndsLocalKeys: once the masters' digest
// checks have copied a key stored with POST /local on one master to the
// other and found them agreeing, that master stops saying it may hold
// keys the other lacks, and misses go to the masters alone again.
func TestNode_Get_MastersAgreeingEndsLocalKeys(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CheckInterval = 50 * time.Millisecond
	nodes := c.startN(3)
	masters := c.waitAgreed()
	reader := lastNonMaster(nodes, masters)
	_, err := c.node(masters[0]).StoreLocal(ctx(t), netip.Addr{}, "on-one-master", store.Entry{Value: []byte("x")})
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() error {
		if _, ok := c.node(masters[1]).GetLocal("on-one-master"); !ok {
			return errors.New("the other master has not copied it yet")
		}
		before := reader.Status().Counters
		_, _, err := reader.Get(ctx(t), fmt.Sprintf("absent-%d", time.Now().UnixNano()))
		if !errors.Is(err, cluster.ErrNotFound) {
			return fmt.Errorf("want not found, got %v", err)
		}
		if after := reader.Status().Counters; after.Direct == before.Direct {
			return errors.New("the miss still went to the group")
		}
		return nil
	})
}
