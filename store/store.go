package store

import (
	"slices"
	"sync"
)

// Entry is a value with its version.
type Entry struct {
	Value   []byte
	Version Version
}

// Store keeps the newest entry of each key. Implementations are safe for
// concurrent use. Callers must not modify a Value after Put or after Get.
type Store interface {
	// Get returns the entry of key and whether it is present.
	Get(key string) (Entry, bool)
	// Put stores e under key if e is newer than what is held, and reports
	// whether it did. The entry held afterwards is returned either way.
	Put(key string, e Entry) (held Entry, applied bool, err error)
	// Keys returns every key held, sorted.
	Keys() []string
	// Len returns the number of keys held.
	Len() int
	// Range calls fn for every entry until fn returns false. fn must not
	// call back into the store.
	Range(fn func(key string, e Entry) bool)
	// Close releases the store.
	Close() error
}

var _ Store = (*Memory)(nil)

// Memory is a Store in memory.
type Memory struct {
	mu sync.RWMutex // guards m
	m  map[string]Entry
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
	if cur, ok := s.m[key]; ok && !e.Version.Newer(cur.Version) {
		return cur, false, nil
	}
	s.m[key] = e
	return e, true, nil
}

// Keys implements Store.
func (s *Memory) Keys() []string {
	s.mu.RLock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

// Len implements Store.
func (s *Memory) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Range implements Store. It iterates over a snapshot of the keys, so fn
// may run while other goroutines write.
func (s *Memory) Range(fn func(string, Entry) bool) {
	for _, k := range s.Keys() {
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
