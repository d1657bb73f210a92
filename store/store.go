package store

import (
	"slices"
	"sync"
)

// Entry is a value with its version. A deleted key is kept for a while as
// a tombstone, an Entry with Deleted set and no Value, so that an older
// write arriving late cannot bring it back.
type Entry struct {
	Value   []byte
	Version Version
	// Deleted marks a tombstone.
	Deleted bool
	// Expires is when the key expires everywhere, in Unix milliseconds;
	// 0 means never. Set by a client's ?ttl= on the write.
	Expires int64
}

// Live reports whether e is a value a reader may see at now (Unix ms):
// not a tombstone and not expired.
func (e Entry) Live(nowMs int64) bool {
	return !e.Deleted && (e.Expires == 0 || nowMs < e.Expires)
}

// Store keeps the newest entry of each key. Implementations are safe for
// concurrent use. Callers must not modify a Value after Put or after Get.
//
// Entries are ordered by Version only: Put applies an entry iff its
// version is strictly newer than the held one, whether either is a
// tombstone or not. So a tombstone at v beats every write older than v
// and loses to every write newer than v, and replicas that receive the
// same entries in any order hold the same entries.
type Store interface {
	// Get returns the entry held for key, tombstones and expired entries
	// included (callers check Entry.Live), and whether one is held.
	Get(key string) (Entry, bool)
	// Put stores e under key if e.Version is newer than the version held,
	// and reports whether it did. The entry held afterwards is returned
	// either way. An entry with the held version is not applied.
	Put(key string, e Entry) (held Entry, applied bool, err error)
	// Delete physically removes key if the version held equals ifVersion,
	// and reports whether it did. It purges tombstones and expired entries
	// and evicts cached ones without racing a newer write.
	Delete(key string, ifVersion Version) (bool, error)
	// RangeKeys calls fn with the keys after the key after ("" for all)
	// whose entries are live at nowMs (Entry.Live: neither tombstones nor
	// expired; nowMs 0 keeps expired entries), in key order, in chunks of
	// at most 512 keys (rangeChunk) and never an empty one, until fn
	// returns an error, which RangeKeys returns. No value is read or
	// copied. keys is valid only during the call. fn runs outside any
	// transaction or lock; writes may run concurrently, as for Range.
	RangeKeys(after string, nowMs int64, fn func(keys []string) error) error
	// Len returns the number of entries that are not tombstones, expired
	// entries not yet deleted included, in O(1).
	Len() int
	// Range calls fn for every entry, tombstones included, in key order,
	// until fn returns false. Writes may run concurrently: an entry
	// written during Range may or may not be visited, with either its old
	// or its new contents. fn must not call back into the store.
	Range(fn func(key string, e Entry) bool)
	// Close releases the store. It is safe to call more than once.
	Close() error
	// PutMany is Put of each entry, at once: in one transaction where the
	// store has them. It returns how many it applied.
	PutMany(batch []KeyEntry) (int, error)
}

var _ Store = (*Memory)(nil)

// Memory is a Store in memory.
type Memory struct {
	mu   sync.RWMutex // guards m and live
	m    map[string]Entry
	live int // entries in m that are not tombstones
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: make(map[string]Entry)} }

// Get implements Store.
func (s *Memory) Get(key string) (Entry, bool) {
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	return e, ok
}

// Put implements Store.
func (s *Memory) Put(key string, e Entry) (Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[key]
	if ok && !e.Version.Newer(cur.Version) {
		return cur, false, nil
	}
	if ok && !cur.Deleted {
		s.live--
	}
	if !e.Deleted {
		s.live++
	}
	s.m[key] = e
	return e, true, nil
}

// Delete implements Store.
func (s *Memory) Delete(key string, ifVersion Version) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[key]
	if !ok || cur.Version != ifVersion {
		return false, nil
	}
	if !cur.Deleted {
		s.live--
	}
	delete(s.m, key)
	return true, nil
}

// RangeKeys implements Store. It hands over chunks of a sorted snapshot of
// the keys: the strings share their bytes with the map and no value is
// copied, so the snapshot costs a string header per key of a store that
// is all in memory anyway.
func (s *Memory) RangeKeys(after string, nowMs int64, fn func([]string) error) error {
	keys := s.keys(after, func(e Entry) bool { return e.Live(nowMs) })
	for len(keys) > 0 {
		n := min(len(keys), rangeChunk)
		if err := fn(keys[:n:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// keys returns the sorted keys after the key after whose entries keep
// accepts.
func (s *Memory) keys(after string, keep func(Entry) bool) []string {
	s.mu.RLock()
	keys := make([]string, 0, len(s.m))
	for k, e := range s.m {
		if k > after && keep(e) {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

// Len implements Store.
func (s *Memory) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live
}

// Range implements Store. It iterates over a snapshot of the keys, so fn
// may run while other goroutines write.
func (s *Memory) Range(fn func(string, Entry) bool) {
	for _, k := range s.keys("", func(Entry) bool { return true }) {
		e, ok := s.Get(k)
		if !ok {
			continue
		}
		if !fn(k, e) {
			return
		}
	}
}

// Close implements Store.
func (s *Memory) Close() error { return nil }

// PutMany implements Store.
func (s *Memory) PutMany(batch []KeyEntry) (int, error) {
	applied := 0
	for _, ke := range batch {
		_, ok, err := s.Put(ke.Key, ke.Entry)
		if err != nil {
			return applied, err
		}
		if ok {
			applied++
		}
	}
	return applied, nil
}

// PutEach is Put of every entry of batch; it returns the entry held
// afterwards for each, as Bolt.PutEach does.
func (s *Memory) PutEach(batch []KeyEntry) ([]Entry, error) {
	held := make([]Entry, len(batch))
	for i, ke := range batch {
		h, _, err := s.Put(ke.Key, ke.Entry)
		if err != nil {
			return nil, err
		}
		held[i] = h
	}
	return held, nil
}
