package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
