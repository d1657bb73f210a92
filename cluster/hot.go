package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// hotKeys counts a non-master's reads of keys it does not hold, so that it
// keeps copies only of keys read often enough (Config.CacheMinReads within
// Config.CacheTTL). It remembers a bounded number of keys, the most
// recently read.
type hotKeys struct {
	min    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex // guards reads
	reads *simplelru.LRU[string, readCount]
}

type readCount struct {
	n     int
	since time.Time
}

// hotKeysRemembered bounds the keys hotKeys counts.
const hotKeysRemembered = 1 << 16

func newHotKeys(min int, window time.Duration, now func() time.Time) *hotKeys {
	h := &hotKeys{min: min, window: window, now: now}
	h.reads, _ = simplelru.NewLRU[string, readCount](hotKeysRemembered, nil)
	return h
}

// read counts one read of key and reports whether the key is now read
// often enough to keep a copy of.
func (h *hotKeys) read(key string) bool {
	if h.min <= 1 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	c, ok := h.reads.Get(key)
	if !ok || now.Sub(c.since) > h.window {
		c = readCount{since: now}
	}
	c.n++
	if c.n >= h.min {
		h.reads.Remove(key)
		return true
	}
	h.reads.Add(key, c)
	return false
}
