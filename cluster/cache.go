package cluster

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/diststore/diststore/store"
)

// What an entry costs the heap beyond its key's and value's bytes, for
// golang-lru v2.0.7's simplelru on 64-bit Go 1.26. Measured with 500k
// small entries, the live heap stays within 10% of what the cache counts
// (TestCache_CountedBytesMatchTheHeap).
const (
	// listElemBytes is the list element simplelru allocates per entry,
	// internal.Entry[string, cached]: next, prev and list pointers (24),
	// the key's string header (16), the cached value (88: store.Entry's
	// value slice header 24, Version 16, Deleted 8 with padding, Expires
	// 8; expires, a time.Time, 24; only 8 with padding), ExpiresAt, a
	// time.Time (24), and ExpireBucket (8 with padding): 160 bytes, itself
	// a size class. TestCache_ListElemBytes checks it against the types.
	listElemBytes = 160
	// mapSlotBytes is an entry's share of simplelru's map[string]*Entry,
	// a Swiss table: a group of 8 slots is 8 control bytes and 8 slots of
	// key (16) and pointer (8), 200 bytes; a full table's 128 groups take
	// 25600 bytes, allocated in the 27264-byte size class: 26.6 bytes a
	// slot. A table is at most 7/8 full before it doubles its slots (or
	// splits in two), so a live entry costs 30 to 61 bytes of map, and up
	// to about 70 when evictions' tombstones make tables split early.
	// This counts the middle of that range; the map never shrinks, which
	// is why it is not counted at its best.
	mapSlotBytes = 48
	// entryOverhead is what an entry costs beyond its key and value.
	entryOverhead = listElemBytes + mapSlotBytes
)

// sizeClasses are the Go runtime's allocation size classes up to 32 KiB
// (internal/runtime/gc/sizeclasses.go); larger objects take whole 8 KiB
// pages. TestAllocSize checks them against the runtime.
var sizeClasses = [...]int{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024,
	1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096,
	4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288,
	13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
}

// allocSize is the size of the heap block Go allocates for n bytes of
// pointer-free data (a string's or a []byte's backing array): a 10-byte
// key takes a 16-byte block. Objects under 16 bytes may share a 16-byte
// block through the runtime's tiny allocator, so for them this is an upper
// bound.
func allocSize(n int) int64 {
	const pageSize = 8 << 10
	if n <= 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		return int64((n + pageSize - 1) / pageSize * pageSize)
	}
	i, _ := slices.BinarySearch(sizeClasses[:], n)
	return int64(sizeClasses[i])
}

// cache holds the copies a non-master keeps: bounded in bytes with
// least-recently-used eviction, each entry expiring ttl after it was
// stored (sooner if the key's own expiry comes first). Expired entries are
// dropped when touched and by purgeExpired.
type cache struct {
	ttl      time.Duration
	maxBytes int64
	now      func() time.Time

	mu    sync.Mutex // guards the fields below
	lru   *simplelru.LRU[string, cached]
	bytes int64
	// evicted and expired count entries dropped for room and for age.
	evicted, expired uint64
	// onlys counts the entries marked only, expired or not.
	onlys int
}

type cached struct {
	e       store.Entry
	expires time.Time
	// only: stored with POST /local on this node, which the masters do not
	// hold: this node answers every whohas for it.
	only bool
}

// cost is what key's entry holding e takes on the heap, counted against
// the cache's bound: the entry's fixed cost, the key's bytes and the
// value's whole backing array, as allocated. add copies the key, and the
// value when a copy is smaller, so that neither pins a larger buffer cost
// does not see.
func cost(key string, e store.Entry) int64 {
	return entryOverhead + allocSize(len(key)) + allocSize(cap(e.Value))
}

func newCache(maxBytes int64, ttl time.Duration, now func() time.Time) *cache {
	c := &cache{ttl: ttl, maxBytes: maxBytes, now: now}
	// The bound is in bytes, kept by put; the count is unbounded.
	c.lru, _ = simplelru.NewLRU[string, cached](math.MaxInt32, func(k string, v cached) {
		c.bytes -= cost(k, v.e)
		if v.only {
			c.onlys--
		}
	})
	return c
}

// get returns key's entry and marks it recently used.
func (c *cache) get(key string) (store.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(key)
	if !ok {
		return store.Entry{}, false
	}
	if !c.now().Before(v.expires) {
		c.lru.Remove(key)
		c.expired++
		return store.Entry{}, false
	}
	return v.e, true
}

// peek is get without touching recency.
func (c *cache) peek(key string) (store.Entry, bool) {
	e, _, ok := c.peekOnly(key)
	return e, ok
}

// peekOnly is peek that also says whether the copy is one the masters do
// not hold.
func (c *cache) peekOnly(key string) (store.Entry, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Peek(key)
	if !ok || !c.now().Before(v.expires) {
		return store.Entry{}, false, false
	}
	return v.e, v.only, true
}

// put keeps e unless a newer version is cached, then evicts the least
// recently used entries until the cache fits its bound. Tombstones and
// entries larger than the whole cache are not kept (and drop what was
// cached for the key).
func (c *cache) put(key string, e store.Entry) { c.add(key, e, false) }

// add is put, marking a copy the masters do not hold.
func (c *cache) add(key string, e store.Entry, only bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.lru.Peek(key); ok && !e.Version.Newer(cur.e.Version) {
		return
	}
	// The value may be a slice of a larger buffer (io.ReadAll gives a
	// 10-byte body a 512-byte array) that keeping it would pin: it is
	// copied when a copy is smaller, so that cost, which counts its
	// capacity, counts what the cache holds, and counts it before the
	// check below.
	if cap(e.Value) > int(allocSize(len(e.Value))) {
		e.Value = bytes.Clone(e.Value)
	}
	if e.Deleted || cost(key, e) > c.maxBytes || c.ttl <= 0 {
		c.lru.Remove(key)
		return
	}
	now := c.now()
	exp := now.Add(c.ttl)
	if e.Expires != 0 {
		if keyExp := time.UnixMilli(e.Expires); keyExp.Before(exp) {
			exp = keyExp
		}
	}
	if !now.Before(exp) {
		c.lru.Remove(key)
		return
	}
	c.lru.Remove(key) // so the byte count is right when replacing
	// The key may be a slice of a request's path: a copy of its own
	// holds only the bytes cost counts.
	key = strings.Clone(key)
	c.lru.Add(key, cached{e: e, expires: exp, only: only})
	c.bytes += cost(key, e)
	if only {
		c.onlys++
	}
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.evicted++
	}
}

// holdsOnly reports whether the cache holds an entry marked only: one
// stored with POST /local on this node, which the masters do not hold. An
// expired entry counts until it is dropped.
func (c *cache) holdsOnly() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.onlys > 0
}

// invalidate drops key's entry if it is older than v, and reports whether
// it did.
func (c *cache) invalidate(key string, v store.Version) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.lru.Peek(key)
	if !ok || !v.Newer(cur.e.Version) {
		return false
	}
	return c.lru.Remove(key)
}

// remove drops key's entry.
func (c *cache) remove(key string) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.mu.Unlock()
}

// purgeExpired drops every expired entry and returns how many.
func (c *cache) purgeExpired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.now(), 0
	for _, k := range c.lru.Keys() {
		if v, ok := c.lru.Peek(k); ok && !now.Before(v.expires) {
			c.lru.Remove(k)
			n++
		}
	}
	c.expired += uint64(n)
	return n
}

// snapshot returns what the cache holds that has not expired.
func (c *cache) snapshot() map[string]store.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]store.Entry, c.lru.Len())
	now := c.now()
	for _, k := range c.lru.Keys() {
		if v, ok := c.lru.Peek(k); ok && now.Before(v.expires) {
			out[k] = v.e
		}
	}
	return out
}

// removeIf drops key's entry if it still has version v.
func (c *cache) removeIf(key string, v store.Version) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.lru.Peek(key); ok && cur.e.Version == v {
		c.lru.Remove(key)
	}
}

// cacheStats is a snapshot of the cache's size and counters.
type cacheStats struct {
	Entries          int
	Bytes            int64
	Evicted, Expired uint64
}

func (c *cache) stats() cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Entries: c.lru.Len(), Bytes: c.bytes, Evicted: c.evicted, Expired: c.expired}
}

// sortedKeys returns the keys cached and not expired, sorted. Keys only:
// the strings share their bytes with the cache, so the slice costs a
// string header (16 bytes) per entry, a small part of the entryOverhead
// bytes every entry counts against maxBytes.
func (c *cache) sortedKeys() []string {
	c.mu.Lock()
	now := c.now()
	keys := c.lru.Keys()
	live := keys[:0]
	for _, k := range keys {
		if v, ok := c.lru.Peek(k); ok && now.Before(v.expires) {
			live = append(live, k)
		}
	}
	c.mu.Unlock()
	slices.Sort(live)
	return live
}
