package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// nonMasters returns the live nodes that are not masters.
func (c *testCluster) nonMasters() []*testNode {
	masters := c.waitAgreed()
	var out []*testNode
	for i := 1; i <= 255; i++ {
		if n := c.node(addr(i)); n != nil && !contains(masters, n.Addr()) {
			out = append(out, n)
		}
	}
	return out
}

func contains(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func TestNode_Delete_GoneEverywhereCachedCopiesIncluded(t *testing.T) {
	c := newTestCluster(t)
	c.startN(6)
	others := c.nonMasters()
	_, err := others[0].Put(ctx(t), "doomed", []byte("v"))
	require.NoError(t, err)
	for _, n := range others[1:] { // cache a copy on every non-master
		_, src, err := n.Get(ctx(t), "doomed")
		require.NoError(t, err)
		require.Equal(t, cluster.SourcePeer, src)
	}

	res, err := others[1].Write(ctx(t), "doomed", cluster.Write{Delete: true})
	require.NoError(t, err)
	assert.Len(t, res.Masters, 2)
	eventually(t, 2*time.Second, func() error {
		for _, n := range c.live() {
			if _, ok := n.GetLocal("doomed"); ok {
				return fmt.Errorf("%s still holds the deleted key", n.Addr())
			}
		}
		return nil
	})
	for _, n := range c.live() {
		_, _, err := n.Get(ctx(t), "doomed")
		assert.ErrorIs(t, err, cluster.ErrNotFound, "node %s", n.Addr())
	}
	// Deleting again is fine.
	_, err = others[2].Write(ctx(t), "doomed", cluster.Write{Delete: true})
	require.NoError(t, err)
}

func TestNode_Update_ReplacesCachedCopies(t *testing.T) {
	c := newTestCluster(t)
	c.startN(6)
	others := c.nonMasters()
	_, err := others[0].Put(ctx(t), "k", []byte("v1"))
	require.NoError(t, err)
	for _, n := range others[1:4] {
		_, _, err := n.Get(ctx(t), "k")
		require.NoError(t, err)
	}
	_, err = others[0].Put(ctx(t), "k", []byte("v2"))
	require.NoError(t, err)
	eventually(t, 2*time.Second, func() error {
		for _, n := range others[1:4] {
			e, _, err := n.Get(ctx(t), "k")
			if err != nil {
				return err
			}
			if string(e.Value) != "v2" {
				return fmt.Errorf("%s serves %q", n.Addr(), e.Value)
			}
		}
		return nil
	})
}

func TestNode_ClientTTL_ExpiresEverywhere(t *testing.T) {
	c := newTestCluster(t)
	c.startN(4)
	others := c.nonMasters()
	_, err := others[0].Write(ctx(t), "brief", cluster.Write{Value: []byte("v"), TTL: 300 * time.Millisecond})
	require.NoError(t, err)
	_, _, err = others[1].Get(ctx(t), "brief")
	require.NoError(t, err, "readable before it expires")
	eventually(t, 3*time.Second, func() error {
		for _, n := range c.live() {
			if _, ok := n.GetLocal("brief"); ok {
				return fmt.Errorf("%s still serves an expired key", n.Addr())
			}
			if _, _, err := n.Get(ctx(t), "brief"); !errors.Is(err, cluster.ErrNotFound) {
				return fmt.Errorf("%s: get after expiry: %v", n.Addr(), err)
			}
		}
		return nil
	})
}

func TestNode_CacheBound_EvictsButMastersKeepEverything(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CacheMaxBytes = 8 * (1024 + 256) // room for about 8 values of 1 KiB and their bookkeeping
	c.startN(4)
	others := c.nonMasters()
	value := []byte(strings.Repeat("x", 1024))
	for i := 0; i < 20; i++ {
		_, err := others[0].Put(ctx(t), fmt.Sprintf("key-%02d", i), value)
		require.NoError(t, err)
	}
	reader := others[1]
	for i := 0; i < 20; i++ {
		_, _, err := reader.Get(ctx(t), fmt.Sprintf("key-%02d", i))
		require.NoError(t, err)
	}
	st := reader.Status()
	assert.LessOrEqual(t, st.CacheMB*(1<<20), float64(c.cfg.CacheMaxBytes))
	assert.Less(t, st.Cached, 20)
	_, ok := reader.GetLocal("key-00")
	assert.False(t, ok, "the least recently used copy was evicted")
	_, ok = reader.GetLocal("key-19")
	assert.True(t, ok, "the most recent copy is kept")
	for _, m := range c.waitAgreed() {
		assert.Equal(t, 20, c.node(m).Status().Keys, "master %s keeps every key", m)
	}
}

func TestNode_Conditional(t *testing.T) {
	c := newTestCluster(t)
	c.startN(4)
	n := c.nonMasters()[0]
	_, err := n.Write(ctx(t), "lock", cluster.Write{Value: []byte("a"), Cond: cluster.Condition{IfAbsent: true}})
	require.NoError(t, err)
	_, err = n.Write(ctx(t), "lock", cluster.Write{Value: []byte("b"), Cond: cluster.Condition{IfAbsent: true}})
	assert.ErrorIs(t, err, cluster.ErrPrecondition, "If-None-Match: * on an existing key")

	e, _, err := n.Get(ctx(t), "lock")
	require.NoError(t, err)
	stale := store.Version{Clock: 1, Node: 1}
	_, err = n.Write(ctx(t), "lock", cluster.Write{Value: []byte("c"), Cond: cluster.Condition{IfMatch: &stale}})
	assert.ErrorIs(t, err, cluster.ErrPrecondition)
	res, err := n.Write(ctx(t), "lock", cluster.Write{Value: []byte("d"), Cond: cluster.Condition{IfMatch: &e.Version}})
	require.NoError(t, err)
	assert.True(t, res.Entry.Version.Newer(e.Version))
}

// TestNode_Conditional_NoLostUpdates: writers increment a counter with
// If-Match from several nodes at once; every successful write counts.
func TestNode_Conditional_NoLostUpdates(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(4)
	_, err := nodes[0].Put(ctx(t), "counter", []byte("0"))
	require.NoError(t, err)
	var mu sync.Mutex
	wins := 0
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				masters := c.waitAgreed()
				cur, _ := c.node(masters[0]).GetLocal("counter")
				var v int
				fmt.Sscan(string(cur.Value), &v)
				_, err := n.Write(ctx(t), "counter", cluster.Write{Value: []byte(fmt.Sprint(v + 1)), Cond: cluster.Condition{IfMatch: &cur.Version}})
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, cluster.ErrPrecondition) {
					t.Errorf("write: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	masters := c.waitAgreed()
	for _, m := range masters {
		e, _ := c.node(m).GetLocal("counter")
		assert.Equal(t, fmt.Sprint(wins), string(e.Value), "master %s", m)
	}
}

// TestNode_Delete_SurvivesANodeDownDuringIt: a master that was down while
// a key was deleted comes back with the key, and must not bring it back.
func TestNode_Delete_SurvivesANodeDownDuringIt(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	_, err := nodes[4].Put(ctx(t), "gone", []byte("v"))
	require.NoError(t, err)
	_, err = nodes[4].Put(ctx(t), "kept", []byte("v"))
	require.NoError(t, err)
	masters := c.waitAgreed()
	down := int(masters[0].As4()[3])
	old := c.crash(down)
	c.waitAgreed()
	_, err = nodes[4].Write(ctx(t), "gone", cluster.Write{Delete: true})
	require.NoError(t, err)

	back := c.startWith(down, old)
	c.waitAgreed()
	eventually(t, 3*time.Second, func() error {
		if _, ok := back.GetLocal("gone"); ok {
			return errors.New("the node that was down still serves the deleted key")
		}
		return nil
	})
	for _, n := range c.live() {
		_, _, err := n.Get(ctx(t), "gone")
		assert.ErrorIs(t, err, cluster.ErrNotFound, "node %s", n.Addr())
		e, _, err := n.Get(ctx(t), "kept")
		require.NoError(t, err, "node %s", n.Addr())
		assert.Equal(t, "v", string(e.Value))
	}
}

// TestNode_RestartAll_KeepsAcknowledgedWrites: every node stops at once
// and comes back over its store; every acknowledged write is still there.
func TestNode_RestartAll_KeepsAcknowledgedWrites(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	want := map[string]string{}
	for i := 0; i < 40; i++ {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		_, err := nodes[i%5].Put(ctx(t), k, []byte(v))
		require.NoError(t, err)
		want[k] = v
	}
	_, err := nodes[1].Put(ctx(t), "k00", []byte("overwritten"))
	require.NoError(t, err)
	want["k00"] = "overwritten"

	stores := map[int]store.Store{}
	for i := 1; i <= 5; i++ {
		stores[i] = c.crash(i)
	}
	for i := 1; i <= 5; i++ {
		c.startWith(i, stores[i])
	}
	c.waitAgreed()
	for _, n := range c.live() {
		for k, v := range want {
			e, _, err := n.Get(ctx(t), k)
			require.NoError(t, err, "node %s key %s", n.Addr(), k)
			assert.Equal(t, v, string(e.Value), "node %s key %s", n.Addr(), k)
		}
	}
}

// TestNode_BothMastersDown_DataReturnsWithThem: both masters crash at
// once; the new masters, chosen among nodes that held only caches, lack
// most keys. When the old masters restart over their stores, they write
// what the new masters lack back to them: nothing acknowledged is lost.
func TestNode_BothMastersDown_DataReturnsWithThem(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(5)
	want := map[string]string{}
	for i := 0; i < 30; i++ {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		_, err := nodes[i%5].Put(ctx(t), k, []byte(v))
		require.NoError(t, err)
		want[k] = v
	}
	old := c.waitAgreed()
	stores := map[int]store.Store{}
	for _, m := range old {
		i := int(m.As4()[3])
		stores[i] = c.crash(i)
	}
	fresh := c.waitAgreed()
	require.NotEqual(t, old, fresh)
	_, err := c.node(fresh[0]).Put(ctx(t), "during-outage", []byte("x"))
	require.NoError(t, err)
	want["during-outage"] = "x"

	for i, st := range stores {
		c.startWith(i, st)
	}
	c.waitAgreed()
	eventually(t, 5*time.Second, func() error {
		for _, n := range c.live() {
			for k, v := range want {
				e, _, err := n.Get(ctx(t), k)
				if err != nil {
					return fmt.Errorf("node %s key %s: %w", n.Addr(), k, err)
				}
				if string(e.Value) != v {
					return fmt.Errorf("node %s key %s: %q", n.Addr(), k, e.Value)
				}
			}
		}
		return nil
	})
}

// swallowingPeers is memPeers whose forwarded writes to one address are
// answered as taken and not stored, while it is set: a new master that
// says it holds a write-back and does not.
type swallowingPeers struct {
	*memPeers
	mu        sync.Mutex // guards the fields below
	to        netip.Addr // writes to it are swallowed; the zero Addr for none
	swallowed int
}

func (p *swallowingPeers) swallow(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to = a
}

func (p *swallowingPeers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.swallowed
}

func (p *swallowingPeers) Forward(ctx context.Context, to netip.AddrPort, key string, e store.Entry, epoch uint64) (store.Version, error) {
	p.mu.Lock()
	if to.Addr() == p.to {
		p.swallowed++
		p.mu.Unlock()
		return e.Version, nil
	}
	p.mu.Unlock()
	return p.memPeers.Forward(ctx, to, key, e, epoch)
}

// TestNode_DemotedMaster_KeepsDataUntilEveryMasterHoldsIt: both masters
// crash; the new ones hold nothing. An old master comes back and writes
// back what they lack, but one new master only says it takes the writes.
// The old master keeps those keys durable through repeated attempts
// (reads skip them) and drops them only once the writes stick and every
// master holds every key.
func TestNode_DemotedMaster_KeepsDataUntilEveryMasterHoldsIt(t *testing.T) {
	c := newTestCluster(t)
	c.cfg.CheckInterval = time.Hour // no digest repair between the new masters
	sw := &swallowingPeers{memPeers: c.peers}
	c.via = sw
	nodes := c.startN(4)
	var keys []string
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		_, err := nodes[i%4].Put(ctx(t), k, []byte("v"+k))
		require.NoError(t, err)
		keys = append(keys, k)
	}
	old := c.waitAgreed()
	stores := map[int]store.Store{}
	for _, m := range old {
		i := int(m.As4()[3])
		stores[i] = c.crash(i)
	}
	fresh := c.waitAgreed()
	// The new masters hold what they had cached, not the rest.
	var lacked []string
	for _, k := range keys {
		if _, ok := c.node(fresh[1]).GetLocal(k); !ok {
			lacked = append(lacked, k)
		}
	}
	require.NotEmpty(t, lacked)
	sw.swallow(fresh[1])
	back := c.startWith(int(old[0].As4()[3]), stores[int(old[0].As4()[3])])
	c.waitAgreed()
	require.False(t, back.Masters().Has(back.Addr()))

	// Two attempts at least: every key it lacked swallowed twice.
	eventually(t, 5*time.Second, func() error {
		if n := sw.count(); n < 2*len(lacked) {
			return fmt.Errorf("%d write-backs swallowed", n)
		}
		return nil
	})
	for _, k := range keys {
		_, ok := c.node(fresh[0]).GetLocal(k)
		require.True(t, ok, "the master that takes writes holds %s", k)
	}
	st := back.Status()
	assert.Equal(t, len(lacked), st.Keys, "the old master still holds durably what a master lacks")
	assert.True(t, st.Reconciling)

	sw.swallow(netip.Addr{})
	eventually(t, 5*time.Second, func() error {
		if st := back.Status(); st.Keys != 0 || st.Reconciling {
			return fmt.Errorf("old master holds %d keys durably, reconciling %t", st.Keys, st.Reconciling)
		}
		return nil
	})
	for _, k := range keys {
		for _, m := range fresh {
			e, ok := c.node(m).GetLocal(k)
			require.True(t, ok, "master %s holds %s", m, k)
			assert.Equal(t, "v"+k, string(e.Value))
		}
	}
}
