package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

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
	require.ErrorIs(t, n.demote(), errPairNotSynced)
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

// fakeMasters is the Peers of a demoted node in a stepped test: each
// master is a store that answers dumps, and takes forwarded writes as its
// mode says. It holds no entry that expires. Any other request panics.
type fakeMasters struct {
	Peers
	mu       sync.Mutex // guards the fields below
	stores   map[netip.Addr]*store.Memory
	mode     map[netip.Addr]writeMode
	forwards map[netip.Addr][]string // keys forwarded to each master, in order
	dumps    int
}

// writeMode is how a fake master takes a forwarded write.
type writeMode int

const (
	applies writeMode = iota // stores it
	refuses                  // answers an error
	ignores                  // answers that it holds it, and stores nothing
)

func newFakeMasters(as ...string) *fakeMasters {
	f := &fakeMasters{stores: map[netip.Addr]*store.Memory{}, mode: map[netip.Addr]writeMode{},
		forwards: map[netip.Addr][]string{}}
	for _, a := range as {
		f.stores[netip.MustParseAddr(a)] = store.NewMemory()
	}
	return f
}

// put stores e under key on master a.
func (f *fakeMasters) put(t *testing.T, a, key string, e store.Entry) {
	t.Helper()
	_, _, err := f.stores[netip.MustParseAddr(a)].Put(key, e)
	require.NoError(t, err)
}

// held returns what master a holds under key.
func (f *fakeMasters) held(a, key string) (store.Entry, bool) {
	return f.stores[netip.MustParseAddr(a)].Get(key)
}

func (f *fakeMasters) setMode(a string, m writeMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode[netip.MustParseAddr(a)] = m
}

// forwarded returns the keys forwarded to master a, sorted.
func (f *fakeMasters) forwarded(a string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(f.forwards[netip.MustParseAddr(a)]))
}

func (f *fakeMasters) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.dumps
	for _, ks := range f.forwards {
		n += len(ks)
	}
	return n
}

func (f *fakeMasters) Forward(_ context.Context, to netip.AddrPort, key string, e store.Entry, _ uint64) (store.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[to.Addr()]
	if !ok {
		return store.Version{}, fmt.Errorf("write to %s: connection refused", to.Addr())
	}
	f.forwards[to.Addr()] = append(f.forwards[to.Addr()], key)
	switch f.mode[to.Addr()] {
	case refuses:
		return store.Version{}, fmt.Errorf("%w: %s: disk full", ErrMasterRefused, to.Addr())
	case ignores:
		return e.Version, nil
	}
	held, _, err := st.Put(key, e)
	return held.Version, err
}

func (f *fakeMasters) Dump(_ context.Context, to netip.AddrPort, values bool) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[to.Addr()]
	if !ok {
		return nil, fmt.Errorf("dump of %s: connection refused", to.Addr())
	}
	f.dumps++
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	fmt.Fprintf(bw, "%s\n", dumpMagic)
	st.Range(func(k string, e store.Entry) bool { return writeDumpEntry(bw, k, e, values) == nil })
	fmt.Fprintf(bw, "%s\n", dumpEnd)
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

// ver is a version of clock c, written by node 1 (an old master).
func ver(c uint64) store.Version { return store.Version{Clock: c << 16, Node: 1} }

func val(s string, c uint64) store.Entry {
	return store.Entry{Value: []byte(s), Version: ver(c)}
}

func tomb(c uint64) store.Entry { return store.Entry{Deleted: true, Version: ver(c)} }

// replacedMaster is a stepped node at 127.0.2.1, a master of
// {127.0.2.1, 127.0.2.2} at epoch 5 among members .2 and .3, holding
// held durably and making its requests to peers. The test then makes it
// hear the pair that replaces it.
func replacedMaster(t *testing.T, peers Peers, held map[string]store.Entry) *stepper {
	t.Helper()
	st := store.NewMemory()
	for k, e := range held {
		_, _, err := st.Put(k, e)
		require.NoError(t, err)
	}
	s := newStepperOver(t, "127.0.2.1", peers, st)
	old := election.Pair{Epoch: 5, Masters: addrs("127.0.2.1", "127.0.2.2")}
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, old))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 0, false, old))
	require.True(t, s.n.isMaster())
	return s
}

// durableKeys returns the keys n holds durably, tombstones included, sorted.
func durableKeys(n *Node) []string {
	var ks []string
	n.durable.Range(func(k string, _ store.Entry) bool { ks = append(ks, k); return true })
	slices.Sort(ks)
	return ks
}

// TestDemote_NewPairNotSynced_KeepsEverything: a replaced master keeps
// every entry durable while the new pair is not one it may hand them to:
// one of its masters has not said it is synced, or the pair is one forged
// heartbeat naming its sender sole master of a cluster of four. It asks
// the masters nothing and reads keep skipping its durable store.
func TestDemote_NewPairNotSynced_KeepsEverything(t *testing.T) {
	held := map[string]store.Entry{"a": val("a1", 3), "b": val("b1", 4), "gone": tomb(5)}
	for _, tc := range []struct {
		name string
		// refused: the pair drops this healthy master without every
		// master it names holding it, so it is not even adopted.
		refused bool
		hear    func(s *stepper)
	}{
		{"a new master still syncing", false, func(s *stepper) {
			next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
			s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
			s.hear("127.0.2.3", heartbeat("127.0.2.3", 2, false, next))
		}},
		{"a new master synced at an older pair", true, func(s *stepper) {
			next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
			s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
			s.hear("127.0.2.3", heartbeat("127.0.2.3", 2, true, election.Pair{Epoch: 4, Masters: addrs("127.0.2.3")}))
		}},
		{"a forged sole master", true, func(s *stepper) {
			s.hear("127.0.2.9", heartbeat("127.0.2.9", 0, true, election.Pair{Epoch: 6, Masters: addrs("127.0.2.9")}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeMasters("127.0.2.2", "127.0.2.3", "127.0.2.9")
			s := replacedMaster(t, f, held)
			tc.hear(s)
			if tc.refused {
				require.True(t, s.n.isMaster(), "the pair is refused: still a master")
				assert.Equal(t, []string{"a", "b", "gone"}, durableKeys(s.n), "every entry stays durable")
				assert.Zero(t, f.requests(), "nothing is read from or written to the pair's masters")
				return
			}
			require.False(t, s.n.isMaster(), "replaced")

			err := s.n.demote()
			require.ErrorIs(t, err, errPairNotSynced)
			assert.Equal(t, []string{"a", "b", "gone"}, durableKeys(s.n), "every entry stays durable")
			assert.Zero(t, f.requests(), "nothing is read from or written to the new masters yet")
			_, ok := s.n.GetLocal("a")
			assert.False(t, ok, "reads skip what is not checked")
			assert.True(t, s.n.Status().Reconciling)
		})
	}
}

// TestDemote_WriteBackNotApplied_StaysDurableUntilVerified: a new master
// that refuses the write-back, then answers it without storing it, leaves
// the entry durable on the old master (reads keep skipping it) while the
// entries both masters hold are handed over; a later attempt that the
// masters' versions verify drops it.
func TestDemote_WriteBackNotApplied_StaysDurableUntilVerified(t *testing.T) {
	f := newFakeMasters("127.0.2.2", "127.0.2.3")
	f.put(t, "127.0.2.2", "both", val("b", 3))
	f.put(t, "127.0.2.3", "both", val("b", 3))
	s := replacedMaster(t, f, map[string]store.Entry{"both": val("b", 3), "only-here": val("x", 4)})
	next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 10, true, next))
	require.False(t, s.n.isMaster())

	f.setMode("127.0.2.3", refuses)
	err := s.n.demote()
	var incomplete *demoteIncomplete
	require.ErrorAs(t, err, &incomplete, "a refused write-back")
	assert.Equal(t, 1, incomplete.unverified)
	assert.Equal(t, 1, incomplete.failed)
	assert.ErrorIs(t, err, ErrMasterRefused)
	assert.Equal(t, []string{"only-here"}, durableKeys(s.n), "only what both masters hold left the durable store")
	e, ok := s.n.GetLocal("both")
	assert.True(t, ok && string(e.Value) == "b", "what both masters hold is served from the cache")
	_, ok = s.n.GetLocal("only-here")
	assert.False(t, ok, "what is not verified is still skipped by reads")
	assert.True(t, s.n.Status().Reconciling)

	f.setMode("127.0.2.3", ignores)
	err = s.n.demote()
	require.ErrorAs(t, err, &incomplete, "a write-back answered but not stored")
	assert.Zero(t, incomplete.failed, "the master said it took it")
	assert.Equal(t, 1, incomplete.unverified)
	assert.Equal(t, []string{"only-here"}, durableKeys(s.n), "the entry stays durable")
	_, ok = f.held("127.0.2.3", "only-here")
	require.False(t, ok)

	f.setMode("127.0.2.3", applies)
	require.NoError(t, s.n.demote())
	assert.Empty(t, durableKeys(s.n), "verified on every master: dropped")
	for _, m := range []string{"127.0.2.2", "127.0.2.3"} {
		h, ok := f.held(m, "only-here")
		assert.True(t, ok && h.Version == ver(4), "master %s holds it", m)
	}
	e, ok = s.n.GetLocal("only-here")
	assert.True(t, ok && string(e.Value) == "x", "served from the cache")
	assert.False(t, s.n.Status().Reconciling)
	assert.Equal(t, []string{"only-here"}, f.forwarded("127.0.2.2"), "the master that took it at once is not asked again")
	assert.Equal(t, []string{"only-here", "only-here", "only-here"}, f.forwarded("127.0.2.3"), "the other at every attempt")
}

// TestDemote_Normal_HandsOverAndCaches: with both new masters synced, the
// old master writes each entry to the masters that lack it, and only
// those, then keeps what it held as cache entries (tombstones dropped)
// and holds nothing durably.
func TestDemote_Normal_HandsOverAndCaches(t *testing.T) {
	f := newFakeMasters("127.0.2.2", "127.0.2.3")
	for _, m := range []string{"127.0.2.2", "127.0.2.3"} {
		f.put(t, m, "a", val("a", 3))
		f.put(t, m, "gone", tomb(4))
	}
	f.put(t, "127.0.2.2", "b", val("b", 5)) // the new master has not copied it yet
	s := replacedMaster(t, f, map[string]store.Entry{
		"a": val("a", 3), "gone": tomb(4), "b": val("b", 5), "c": val("c", 6),
	})
	next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 10, true, next))
	require.False(t, s.n.isMaster())

	require.NoError(t, s.n.demote())
	assert.Empty(t, durableKeys(s.n))
	assert.False(t, s.n.Status().Reconciling)
	assert.Equal(t, []string{"c"}, f.forwarded("127.0.2.2"))
	assert.Equal(t, []string{"b", "c"}, f.forwarded("127.0.2.3"))
	for _, k := range []string{"a", "b", "c"} {
		for _, m := range []string{"127.0.2.2", "127.0.2.3"} {
			_, ok := f.held(m, k)
			assert.True(t, ok, "master %s holds %s", m, k)
		}
		e, ok := s.n.GetLocal(k)
		assert.True(t, ok && string(e.Value) == k, "%s served from the cache", k)
	}
	_, ok := s.n.GetLocal("gone")
	assert.False(t, ok)
	_, cached := s.n.cache.peek("gone")
	assert.False(t, cached, "a tombstone is not cached")
}

// TestDemote_MastersHoldNewer_Dropped: entries every master holds newer
// (overwritten, deleted), or holds newer on one master and older on the
// other (written back to that one), and entries that expired here and
// that no master lists, are all dropped from the durable store: none is
// kept durable for ever, and none is cached.
func TestDemote_MastersHoldNewer_Dropped(t *testing.T) {
	f := newFakeMasters("127.0.2.2", "127.0.2.3")
	for _, m := range []string{"127.0.2.2", "127.0.2.3"} {
		f.put(t, m, "over", val("new", 9))
		f.put(t, m, "deleted", tomb(9))
	}
	f.put(t, "127.0.2.2", "half", val("new", 9))
	f.put(t, "127.0.2.3", "half", val("older", 2))
	expired := val("e", 3)
	expired.Expires = stepStart.UnixMilli() - 1000
	s := replacedMaster(t, f, map[string]store.Entry{
		"over": val("old", 4), "deleted": val("old", 4), "half": val("mine", 4), "expired": expired,
	})
	next := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
	s.hear("127.0.2.2", heartbeat("127.0.2.2", 10, true, next))
	s.hear("127.0.2.3", heartbeat("127.0.2.3", 10, true, next))
	require.False(t, s.n.isMaster())

	require.NoError(t, s.n.demote())
	assert.Empty(t, durableKeys(s.n), "nothing stays durable")
	assert.False(t, s.n.Status().Reconciling)
	assert.Empty(t, f.forwarded("127.0.2.2"), "it holds all of them newer")
	assert.Equal(t, []string{"half"}, f.forwarded("127.0.2.3"), "only what it held older")
	h, _ := f.held("127.0.2.3", "half")
	assert.Equal(t, ver(4), h.Version, "the master that held it older holds this node's version")
	for _, k := range []string{"over", "deleted", "half", "expired"} {
		_, cached := s.n.cache.peek(k)
		assert.False(t, cached, "%s is not cached: a master holds it newer, or it expired", k)
	}
}

func TestDemoteBackoff(t *testing.T) {
	hb := 500 * time.Millisecond
	var got []time.Duration
	for failures := 1; failures <= 8; failures++ {
		got = append(got, demoteBackoff(hb, failures))
	}
	assert.Equal(t, []time.Duration{
		hb, 2 * hb, 4 * hb, 8 * hb, 16 * hb, demoteRetryMax * hb, demoteRetryMax * hb, demoteRetryMax * hb,
	}, got)
}

// TestDemoteRetry_BackingOff: a kick of the sync loop (every write a node
// that is not master takes sends one) leaves a demotion to its retry
// timer unless something it waits for changed: a new pair, or another
// master heard synced.
func TestDemoteRetry_BackingOff(t *testing.T) {
	self := netip.MustParseAddr("127.0.2.1")
	pair := election.Pair{Epoch: 6, Masters: addrs("127.0.2.2", "127.0.2.3")}
	viewOf := func(p election.Pair, synced ...string) *view {
		v := &view{pair: p, members: map[netip.Addr]memberView{}}
		for _, m := range p.Masters {
			v.members[m] = memberView{synced: slices.Contains(synced, m.String())}
		}
		return v
	}
	for _, tc := range []struct {
		name string
		dr   demoteRetry
		now  *view
		want bool
	}{
		{"no attempt failed yet", demoteRetry{pair: pair}, viewOf(pair), false},
		{"waiting, nothing changed", demoteRetry{pair: pair, waits: 3, synced: addrs("127.0.2.2")}, viewOf(pair, "127.0.2.2"), true},
		{"waiting, nobody synced, nothing changed", demoteRetry{pair: pair, waits: 1}, viewOf(pair), true},
		{"waiting, another master heard synced", demoteRetry{pair: pair, waits: 3, synced: addrs("127.0.2.2")}, viewOf(pair, "127.0.2.2", "127.0.2.3"), false},
		{"waiting, a new pair", demoteRetry{pair: pair, waits: 3}, viewOf(election.Pair{Epoch: 7, Masters: pair.Masters}), false},
		{"unverified entries, nothing changed", demoteRetry{pair: pair, failures: 2}, viewOf(pair, "127.0.2.2", "127.0.2.3"), true},
		{"unverified entries, a new pair", demoteRetry{pair: pair, failures: 2}, viewOf(election.Pair{Epoch: 7, Masters: addrs("127.0.2.2", "127.0.2.4")}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.dr.backingOff(tc.now, self))
		})
	}
}
