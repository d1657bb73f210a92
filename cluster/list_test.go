package cluster

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// newListNode returns a node over st that is not started, with its clock
// and its cache's on clk.
func newListNode(t *testing.T, st store.Store, clk *fakeClock) *Node {
	t.Helper()
	self := netip.MustParseAddr("127.0.2.1")
	tr := mcast.NewMemNetwork().Join(self)
	t.Cleanup(func() { _ = tr.Close() })
	n, err := New(Config{Addr: self, Peers: noPeers{}}, tr, st)
	require.NoError(t, err)
	n.now = clk.now
	n.cache = newCache(64<<20, time.Hour, clk.now)
	return n
}

// listAll returns what ListKeys lists, checking that every chunk but the
// last is full and none is empty.
func listAll(t *testing.T, n *Node) []string {
	t.Helper()
	var got []string
	var sizes []int
	require.NoError(t, n.ListKeys(func(keys []string) error {
		sizes = append(sizes, len(keys))
		got = append(got, keys...)
		return nil
	}))
	for i, s := range sizes {
		require.Positive(t, s, "chunk %d is empty", i)
		if i < len(sizes)-1 {
			require.Equal(t, listChunk, s, "chunk %d of %d is not full", i, len(sizes))
		}
	}
	return got
}

// TestNode_ListKeys_DurableAndCached lists the live keys held durably and
// the live cached ones, merged in key order, a key held both ways once.
func TestNode_ListKeys_DurableAndCached(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	st := store.NewMemory()
	n := newListNode(t, st, clk)
	nowMs := clk.t.UnixMilli()
	live := store.Entry{Value: []byte("v"), Version: store.Version{Clock: 1, Node: 1}}
	durable := func(k string, e store.Entry) {
		_, _, err := st.Put(k, e)
		require.NoError(t, err)
	}

	var want []string
	for i := range 3 * listChunk {
		k := fmt.Sprintf("k%05d", i)
		switch i % 3 {
		case 0:
			durable(k, live)
		case 1:
			n.cache.put(k, live)
		case 2:
			durable(k, live)
			n.cache.put(k, live)
		}
		want = append(want, k)
		if i%10 == 0 {
			gone, old, stale := k+"-gone", k+"-old", k+"-stale"
			durable(gone, store.Entry{Version: live.Version, Deleted: true})
			durable(old, store.Entry{Value: []byte("v"), Version: live.Version, Expires: nowMs + 500})
			n.cache.put(stale, store.Entry{Value: []byte("v"), Version: live.Version, Expires: nowMs + 500})
		}
	}
	for _, k := range []string{"a-first", "z-last"} { // cached only, before and after every durable key
		n.cache.put(k, live)
		want = append(want, k)
	}
	slices.Sort(want)
	clk.advance(time.Second) // the -old and -stale entries expire

	assert.Equal(t, want, listAll(t, n))
}

// TestNode_ListKeys_StopsOnError: fn's error ends the walk and is
// returned.
func TestNode_ListKeys_StopsOnError(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	st := store.NewMemory()
	n := newListNode(t, st, clk)
	for i := range 4 * listChunk {
		e := store.Entry{Value: []byte("v"), Version: store.Version{Clock: 1, Node: 1}}
		if i%2 == 0 {
			_, _, err := st.Put(fmt.Sprintf("k%05d", i), e)
			require.NoError(t, err)
		} else {
			n.cache.put(fmt.Sprintf("k%05d", i), e)
		}
	}
	errGone := errors.New("client gone")
	calls := 0
	err := n.ListKeys(func([]string) error {
		calls++
		if calls == 2 {
			return errGone
		}
		return nil
	})
	require.ErrorIs(t, err, errGone)
	assert.Equal(t, 2, calls)
}

// TestNode_ListKeys_CopiesNoValues: listing the keys of a node holding
// large values durably allocates for the keys, not the values. Node.Keys
// read them through Range, copying every value: 8 concurrent GET /list of
// a node holding 60 MB took its RSS from 57 MB to 542 MB.
func TestNode_ListKeys_CopiesNoValues(t *testing.T) {
	const count, size = 3000, 10 << 10 // 30 MB of values
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "store.db"), store.BoltOptions{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	n := newListNode(t, st, &fakeClock{t: time.Now()})
	value := make([]byte, size)
	var want []string
	var batch []store.KeyEntry
	for i := range count {
		k := fmt.Sprintf("k%05d", i)
		want = append(want, k)
		batch = append(batch, store.KeyEntry{Key: k, Entry: store.Entry{Value: value, Version: store.Version{Clock: 1, Node: 1}}})
		if len(batch) == 500 || i == count-1 {
			_, err := st.PutMany(batch)
			require.NoError(t, err)
			batch = batch[:0]
		}
	}

	got := make([]string, 0, count)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	require.NoError(t, n.ListKeys(func(keys []string) error {
		got = append(got, keys...)
		return nil
	}))
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("listing %d keys of %d bytes of values allocated %d bytes in %d allocations",
		count, count*size, allocated, after.Mallocs-before.Mallocs)
	require.Equal(t, want, got)
	require.Less(t, allocated, uint64(count*size/10), "listing keys allocates as if it copied the values")
}

// TestNode_ListKeysAfter lists the keys after a given key, durable and
// cached merged, the key itself excluded whether it is held or not.
func TestNode_ListKeysAfter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	st := store.NewMemory()
	n := newListNode(t, st, clk)
	live := store.Entry{Value: []byte("v"), Version: store.Version{Clock: 1, Node: 1}}
	for _, k := range []string{"a", "c", "e"} {
		_, _, err := st.Put(k, live)
		require.NoError(t, err)
	}
	for _, k := range []string{"b", "d", "f"} {
		n.cache.put(k, live)
	}
	after := func(a string) []string {
		var got []string
		require.NoError(t, n.ListKeysAfter(a, func(keys []string) error {
			got = append(got, keys...)
			return nil
		}))
		return got
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e", "f"}, after(""))
	assert.Equal(t, []string{"d", "e", "f"}, after("c"), "after a durable key")
	assert.Equal(t, []string{"e", "f"}, after("d"), "after a cached key")
	assert.Equal(t, []string{"c", "d", "e", "f"}, after("bb"), "after a key not held")
	assert.Empty(t, after("f"))
}
