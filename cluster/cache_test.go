package cluster

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

func entry(v string, clock uint64) store.Entry {
	return store.Entry{Value: []byte(v), Version: store.Version{Clock: clock, Node: 1}}
}

func TestCache_EvictsLeastRecentlyUsedWithinByteBound(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	one := cost("k0", entry(strings.Repeat("x", 100), 1))
	c := newCache(3*one, time.Hour, clk.now)
	for i := 0; i < 3; i++ {
		c.put(fmt.Sprintf("k%d", i), entry(strings.Repeat("x", 100), 1))
	}
	_, ok := c.get("k0") // k0 is now the most recently used
	require.True(t, ok)
	c.put("k3", entry(strings.Repeat("x", 100), 1))

	_, ok = c.peek("k1")
	assert.False(t, ok, "k1 was the least recently used: evicted")
	for _, k := range []string{"k0", "k2", "k3"} {
		_, ok := c.peek(k)
		assert.True(t, ok, k)
	}
	st := c.stats()
	assert.LessOrEqual(t, st.Bytes, 3*one)
	assert.Equal(t, uint64(1), st.Evicted)
}

func TestCache_Expiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := newCache(1<<20, time.Minute, clk.now)
	c.put("a", entry("1", 1))
	short := entry("2", 1)
	short.Expires = clk.t.Add(10 * time.Second).UnixMilli()
	c.put("b", short)

	clk.advance(11 * time.Second)
	_, ok := c.get("b")
	assert.False(t, ok, "the key's own expiry comes before the cache TTL")
	_, ok = c.get("a")
	assert.True(t, ok)

	clk.advance(time.Minute)
	assert.Equal(t, 1, c.purgeExpired())
	assert.Equal(t, 0, c.stats().Entries)
	assert.Equal(t, int64(0), c.stats().Bytes)
}

func TestCache_VersionsDecide(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := newCache(1<<20, time.Minute, clk.now)
	c.put("k", entry("new", 5))
	c.put("k", entry("old", 3))
	e, _ := c.get("k")
	assert.Equal(t, "new", string(e.Value), "an older copy does not replace a newer one")

	assert.False(t, c.invalidate("k", store.Version{Clock: 4, Node: 1}), "an older invalidation is ignored")
	assert.True(t, c.invalidate("k", store.Version{Clock: 6, Node: 1}))
	_, ok := c.get("k")
	assert.False(t, ok)

	c.put("k", entry("v", 7))
	tomb := store.Entry{Version: store.Version{Clock: 8, Node: 1}, Deleted: true}
	c.put("k", tomb)
	_, ok = c.get("k")
	assert.False(t, ok, "a tombstone drops the cached copy")
	assert.Equal(t, int64(0), c.stats().Bytes)
}

func TestCache_TooLargeIsNotKept(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := newCache(100, time.Minute, clk.now)
	c.put("big", entry(strings.Repeat("x", 200), 1))
	_, ok := c.get("big")
	assert.False(t, ok)
	assert.Equal(t, int64(0), c.stats().Bytes)
}

// liveHeap collects garbage and returns the bytes the live heap holds.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// fillCache puts n small entries into c as a node would: a fresh key
// ("k000123") and a fresh value of 8 to 16 bytes each.
func fillCache(c *cache, n int) {
	for i := range n {
		v := make([]byte, 8+i%9)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		c.put(fmt.Sprintf("k%06d", i), store.Entry{Value: v, Version: store.Version{Clock: 1, Node: 1}})
	}
}

// The byte bound is on the heap the cache really holds: 500k small
// entries, where the fixed cost of an entry dominates, grow the live heap
// by no more than 1.5 times what the cache counts, whether it evicts to
// stay within its bound or holds them all.
func TestCache_CountedBytesMatchTheHeap(t *testing.T) {
	const n = 500_000
	for _, tc := range []struct {
		name     string
		maxBytes int64
		evicts   bool
	}{
		{"Evicting", 16 << 20, true},
		{"AllFit", 1 << 30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1000, 0)}
			before := liveHeap()
			c := newCache(tc.maxBytes, time.Hour, clk.now)
			fillCache(c, n)
			growth := liveHeap() - before
			st := c.stats()
			runtime.KeepAlive(c)
			t.Logf("max %d MiB: %d entries, counted %.1f MiB (%d B/entry), heap grew %.1f MiB (%d B/entry)",
				tc.maxBytes>>20, st.Entries, float64(st.Bytes)/(1<<20), st.Bytes/int64(st.Entries),
				float64(growth)/(1<<20), growth/int64(st.Entries))

			if tc.evicts {
				assert.LessOrEqual(t, growth, tc.maxBytes*3/2, "heap growth within 1.5x the bound")
				assert.GreaterOrEqual(t, st.Bytes, tc.maxBytes*9/10, "the cache is full")
				assert.LessOrEqual(t, st.Bytes, tc.maxBytes)
				assert.Greater(t, st.Entries, int(tc.maxBytes/512), "a small entry costs well under 512 bytes")
				assert.Equal(t, uint64(n-st.Entries), st.Evicted)
				return
			}
			assert.Equal(t, n, st.Entries)
			assert.LessOrEqual(t, growth, st.Bytes*3/2, "heap growth within 1.5x the counted bytes")
			assert.LessOrEqual(t, st.Bytes, 2*growth, "the count is not far above the heap")
		})
	}
}

func TestAllocSize(t *testing.T) {
	var sizes []int
	for n := 0; n <= 1024; n++ {
		sizes = append(sizes, n)
	}
	for _, c := range append(sizeClasses[:], 40<<10, 64<<10, 100<<10) {
		sizes = append(sizes, c-1, c, c+1)
	}
	for _, n := range sizes {
		// append sizes a new array to the block the runtime allocates.
		want := int64(cap(append([]byte(nil), make([]byte, n)...)))
		if got := allocSize(n); got != want {
			t.Fatalf("allocSize(%d) = %d, the runtime allocates %d", n, got, want)
		}
	}
}

// listElemBytes is the size class of simplelru's list element,
// internal.Entry[string, cached] in golang-lru v2.0.7, laid out here the
// same way: a field added to cached or store.Entry shows up here.
func TestCache_ListElemBytes(t *testing.T) {
	type lruEntry struct {
		next, prev, list unsafe.Pointer
		key              string
		value            cached
		expiresAt        time.Time
		expireBucket     uint8
	}
	assert.Equal(t, int64(listElemBytes), allocSize(int(unsafe.Sizeof(lruEntry{}))))
}

func TestCache_CopiesAValueFromALargerBuffer(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := newCache(1<<20, time.Minute, clk.now)
	body, err := io.ReadAll(strings.NewReader("0123456789")) // as the node reads a body
	require.NoError(t, err)
	require.Greater(t, cap(body), 16)
	c.put("k", store.Entry{Value: body, Version: store.Version{Clock: 1, Node: 1}})

	e, ok := c.peek("k")
	require.True(t, ok)
	assert.Equal(t, "0123456789", string(e.Value))
	assert.Equal(t, 16, cap(e.Value), "a copy in a 16-byte block, not the read buffer")
	assert.Equal(t, int64(entryOverhead+8+16), c.stats().Bytes, "the entry, an 8-byte block for the key, 16 for the value")

	exact := []byte("0123456789abcdef")
	c.put("k2", store.Entry{Value: exact, Version: store.Version{Clock: 1, Node: 1}})
	e, _ = c.peek("k2")
	assert.Same(t, &exact[0], &e.Value[0], "a value that fills its block is kept as it is")
}

// TestCache_HoldsOnly: the cache knows whether it holds a copy the masters
// do not (marked only), however that entry goes.
func TestCache_HoldsOnly(t *testing.T) {
	one := cost("k0", entry("x", 1))
	for _, tc := range []struct {
		name string
		gone func(c *cache, clk *fakeClock)
	}{
		{"replaced by a copy the masters hold", func(c *cache, _ *fakeClock) { c.put("only", entry("y", 2)) }},
		{"invalidated", func(c *cache, _ *fakeClock) { c.invalidate("only", store.Version{Clock: 2, Node: 1}) }},
		{"removed", func(c *cache, _ *fakeClock) { c.remove("only") }},
		{"removed at its version", func(c *cache, _ *fakeClock) { c.removeIf("only", entry("x", 1).Version) }},
		{"evicted for room", func(c *cache, _ *fakeClock) {
			c.put("a", entry("x", 1))
			c.put("b", entry("x", 1))
		}},
		{"expired and purged", func(c *cache, clk *fakeClock) {
			clk.advance(2 * time.Hour)
			c.purgeExpired()
		}},
		{"deleted", func(c *cache, _ *fakeClock) {
			c.add("only", store.Entry{Deleted: true, Version: store.Version{Clock: 2, Node: 1}}, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1000, 0)}
			c := newCache(2*one, time.Hour, clk.now)
			c.put("other", entry("x", 1))
			assert.False(t, c.holdsOnly(), "a copy the masters hold")
			c.add("only", entry("x", 1), true)
			c.add("only", entry("x", 1), true) // the same version again: no change
			assert.True(t, c.holdsOnly())
			tc.gone(c, clk)
			assert.False(t, c.holdsOnly())
		})
	}
}
