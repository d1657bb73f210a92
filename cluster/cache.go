package cluster

import (
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/diststore/diststore/store"
)

// entryOverhead is what a cached entry costs beyond its key and value, in
// bytes, counted against the cache's bound.
const entryOverhead = 64

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
}

type cached struct {
	e       store.Entry
	expires time.Time
	// only: stored with POST /local on this node, which the masters do not
	// hold: this node answers every whohas for it.
	only bool
}

func cost(key string, e store.Entry) int64 { return int64(len(key) + len(e.Value) + entryOverhead) }

func newCache(maxBytes int64, ttl time.Duration, now func() time.Time) *cache {
	c := &cache{ttl: ttl, maxBytes: maxBytes, now: now}
	// The bound is in bytes, kept by put; the count is unbounded.
	c.lru, _ = simplelru.NewLRU[string, cached](math.MaxInt32, func(k string, v cached) {
		c.bytes -= cost(k, v.e)
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
	c.lru.Add(key, cached{e: e, expires: exp, only: only})
	c.bytes += cost(key, e)
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.evicted++
	}
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

// keys returns the keys cached and not expired.
func (c *cache) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]string, 0, c.lru.Len())
	for _, k := range c.lru.Keys() {
		if v, ok := c.lru.Peek(k); ok && now.Before(v.expires) {
			out = append(out, k)
		}
	}
	return out
}
